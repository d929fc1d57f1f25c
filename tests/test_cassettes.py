"""Cassettes: record a run against the stub server, replay it with the server gone and the network
blocked, and get the same rows back, timings included; secrets never reach the files."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalseed.cassettes import REDACTED, CassetteSession, Scrubber, canonical_key
from evalseed.errors import UsageError
from evalseed.testing.stub_server import Reply, answers_responder

from helpers import SMALL_SUITE, result_rows, write_suite

from strategies import json_values as shared_json_values

rows = result_rows


FLASH = "seed-1-6-flash-250715"
COMPARED = ("suite", "case_id", "model", "repeat", "status", "output_text", "score", "passed", "details",
            "prompt_tokens", "completion_tokens", "latency_ms", "ttft_ms", "output_tps")




def slow_answers(body: dict) -> Reply:
    text = json.dumps(body["messages"]).lower()
    word = "positive" if "love" in text else "negative"
    # A pause before the first chunk and between chunks, so TTFT and latency differ measurably.
    return Reply(content=f"{word} indeed", delay=0.05, chunk_delay=0.03)


def block_network(monkeypatch) -> None:
    """From here on any socket connection attempt fails, loopback included."""

    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _run(cli, suite: Path, db: Path, cassettes: Path, mode: str, base_url: str, *extra: str):
    return cli("run", suite, "--base-url", base_url, "--models", FLASH, "--db", db, "--no-progress",
               "--cassettes", mode, "--cassette-dir", cassettes, *extra)


def test_replay_gives_the_recorded_rows_with_the_server_gone_and_the_network_blocked(
        cli, stub, tmp_path, monkeypatch):
    suite = write_suite(tmp_path / "suites", "tiny.yaml", SMALL_SUITE.replace("cases:", "repeats: 2\ncases:"))
    srv = stub(responder=slow_answers, chunk_chars=3)
    base_url = srv.base_url
    code, _, err = _run(cli, suite, tmp_path / "rec.duckdb", tmp_path / "cas", "record", base_url)
    assert code == 0, err
    recorded = rows(tmp_path / "rec.duckdb")
    assert len(recorded) == 6 and all(r["status"] == "ok" and not r["replayed"] for r in recorded)
    # Pass-through recording: the first token really came before the last byte.
    for r in recorded:
        assert r["ttft_ms"] >= 40 and r["latency_ms"] - r["ttft_ms"] >= 60, (r["ttft_ms"], r["latency_ms"])
    assert srv.count("/v1/chat/completions") == 6
    srv.stop()

    files = sorted(p.relative_to(tmp_path / "cas").as_posix() for p in (tmp_path / "cas").rglob("*.json"))
    assert files == [f"custom/tiny/{FLASH}.json"]

    block_network(monkeypatch)
    code, _, err = _run(cli, suite, tmp_path / "rep.duckdb", tmp_path / "cas", "replay", base_url)
    assert code == 0, err
    replayed = rows(tmp_path / "rep.duckdb")
    assert all(r["replayed"] is True for r in replayed)
    key = lambda r: (r["case_id"], r["repeat"])  # noqa: E731
    # Identical requests (the two repeats) may swap recordings; their answers are identical here.
    assert sorted(tuple(r[c] for c in COMPARED if c not in ("repeat", "latency_ms", "ttft_ms", "output_tps"))
                  for r in replayed) == sorted(
        tuple(r[c] for c in COMPARED if c not in ("repeat", "latency_ms", "ttft_ms", "output_tps")) for r in recorded)
    # The timings are the recorded ones, not the replay's microseconds.
    assert sorted((r["case_id"], r["latency_ms"], r["ttft_ms"], r["output_tps"]) for r in replayed) == sorted(
        (r["case_id"], r["latency_ms"], r["ttft_ms"], r["output_tps"]) for r in recorded)
    assert {key(r) for r in replayed} == {key(r) for r in recorded}


def test_replay_miss_names_suite_case_and_model(cli, stub, tmp_path):
    suite = write_suite(tmp_path / "suites", "tiny.yaml", SMALL_SUITE)
    srv = stub(answers={"love": "positive", "hate": "negative"})
    code, _, err = _run(cli, suite, tmp_path / "a.duckdb", tmp_path / "cas", "record", srv.base_url)
    assert code == 0, err
    # The suite changes after recording: case `bad` now sends another prompt.
    suite.write_text(suite.read_text().replace("I hate it", "I hate it a lot"))
    before = srv.count()
    code, out, err = _run(cli, suite, tmp_path / "b.duckdb", tmp_path / "cas", "replay", srv.base_url,
                          "--concurrency", "1")
    assert code == 3
    assert srv.count() == before, "replay must send nothing"
    line = [ln for ln in err.splitlines() if "cassette" in ln]
    assert len(line) == 1, err
    assert "suite tiny" in line[0] and "case bad" in line[0] and f"model {FLASH}" in line[0]
    assert "Traceback" not in err


def test_replay_without_cassettes_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no cassettes to replay"):
        CassetteSession("replay", tmp_path / "nothing").__enter__()


def test_auto_replays_what_it_has_and_records_the_rest(cli, stub, tmp_path):
    suite = write_suite(tmp_path / "suites", "tiny.yaml", SMALL_SUITE)
    srv = stub(answers={"love": "positive", "hate": "negative"})
    code, _, err = _run(cli, suite, tmp_path / "a.duckdb", tmp_path / "cas", "auto", srv.base_url)
    assert code == 0, err
    assert srv.count("/v1/chat/completions") == 3
    suite.write_text(suite.read_text() + "  - id: new\n    vars: {text: \"I love this new one\"}\n    expected: positive\n")
    code, _, err = _run(cli, suite, tmp_path / "b.duckdb", tmp_path / "cas", "auto", srv.base_url)
    assert code == 0, err
    assert srv.count("/v1/chat/completions") == 4  # only the new case went out
    got = {r["case_id"]: r["replayed"] for r in rows(tmp_path / "b.duckdb")}
    assert got == {"good": True, "bad": True, "meh": True, "new": False}
    # Recording again (the server's answers changed) replaces, never duplicates, what was stored,
    # and each new recording keeps its own timings.
    srv2 = stub(responder=answers_responder({"love": "positive-v2", "hate": "negative-v2"}, default="ok-v2"))
    code, _, err = _run(cli, suite, tmp_path / "c.duckdb", tmp_path / "cas", "record", srv2.base_url)
    assert code == 0, err
    data = json.loads((tmp_path / "cas" / "custom" / "tiny" / f"{FLASH}.json").read_text())
    assert len(data["interactions"]) == 4
    live = {r["case_id"]: (r["output_text"], r["latency_ms"]) for r in rows(tmp_path / "c.duckdb")}
    for it in data["interactions"]:
        case = it["request"]["headers"]["x-evalseed-case"][0]
        body = it["response"]["body"]["string"]
        assert "-v2" in body and it["response"]["evalseed"]["latency_ms"] == live[case][1], case


def test_no_secret_reaches_a_cassette(cli, stub, tmp_path, monkeypatch):
    key = "sk-live-" + "Q7x" * 12
    env_secret = "hunter2-Hunter2-hunter2"  # not key-shaped: only its being in *_TOKEN removes it
    hex_token = "3f9a" * 10
    monkeypatch.setenv("SEED_TEST_API_KEY", key)
    monkeypatch.setenv("SOME_SERVICE_TOKEN", env_secret)

    def echo(body: dict, ctx) -> Reply:
        # A server that leaks: echoes the Authorization header and the prompt back.
        return Reply(content=f"{ctx.headers.get('authorization')} | {json.dumps(body['messages'])}")

    srv = stub(responder=echo)
    text = SMALL_SUITE.replace("I love it", f"I love it, my key is {key}, token {hex_token}, also {env_secret}")
    suite = write_suite(tmp_path / "suites", "tiny.yaml", text)
    code, _, err = _run(cli, suite, tmp_path / "a.duckdb", tmp_path / "cas", "record", srv.base_url,
                        "--api-key-env", "SEED_TEST_API_KEY")
    assert code == 0, err
    assert any(r.headers.get("authorization") == f"Bearer {key}" for r in srv.requests)  # it was sent
    files = list((tmp_path / "cas").rglob("*"))
    blob = "\n".join(p.read_text() for p in files if p.is_file())
    assert blob.count('"request":') == 3
    for secret in (key, key[3:20], env_secret, hex_token, "Bearer", "authorization", "cookie"):
        assert secret.lower() not in blob.lower(), secret
    assert REDACTED in blob
    # Scrubbed requests still replay: the match key is taken after scrubbing on both sides.
    code, _, err = _run(cli, suite, tmp_path / "b.duckdb", tmp_path / "cas", "replay", srv.base_url,
                        "--api-key-env", "SEED_TEST_API_KEY")
    assert code == 0, err
    assert all(r["replayed"] for r in rows(tmp_path / "b.duckdb"))


def test_each_shard_is_a_stock_vcrpy_cassette(cli, stub, tmp_path):
    """vcrpy's own loader reads a shard, and stock vcrpy replays it to the openai SDK."""
    import asyncio

    import openai
    import vcr
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.serializers import jsonserializer

    suite = write_suite(tmp_path / "suites", "tiny.yaml", SMALL_SUITE)
    srv = stub(answers={"love": "positive"})
    code, _, err = _run(cli, suite, tmp_path / "a.duckdb", tmp_path / "cas", "record", srv.base_url)
    assert code == 0, err
    path = tmp_path / "cas" / "custom" / "tiny" / f"{FLASH}.json"
    requests, responses = FilesystemPersister.load_cassette(path, jsonserializer)[:2]
    assert len(requests) == 3
    assert all(r.headers["x-evalseed-suite"] == "tiny" for r in requests)
    assert all(resp["status"]["code"] == 200 and b"[DONE]" in resp["body"]["string"] for resp in responses)
    assert all(resp["evalseed"]["latency_ms"] > 0 for resp in responses)

    body = json.loads(requests[0].body)
    before = srv.count()

    async def ask() -> str:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
        extra = {k: v for k, v in body.items() if k not in ("model", "messages", "stream", "stream_options")}
        stream = await client.chat.completions.create(
            model=body["model"], messages=body["messages"], stream=True, stream_options=body["stream_options"],
            **extra)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await client.close()
        return text

    with vcr.use_cassette(str(path), serializer="json", record_mode="none", match_on=["method", "uri", "body"]):
        answer = asyncio.run(ask())
    assert srv.count() == before
    # The stub answered "positive" to the case that mentions "love", "ok" to the other.
    asked = body["messages"][-1]["content"]
    assert answer == ("positive" if "love" in asked else "ok"), (asked, answer)


def test_a_secret_split_over_stream_chunks_is_still_removed():
    s = Scrubber(use_environment=False)
    secret = "Bearer sk-live-" + "Ab9" * 10
    text = f"the header was {secret} ok"
    for cut in range(1, len(text) - 1, 3):
        pieces = [text[:cut], text[cut:cut + 7], text[cut + 7:]]
        chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
        sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        clean = s.sse(sse.encode()).decode()
        assert "sk-live" not in clean and "Ab9Ab9" not in clean
        joined = "".join(json.loads(ev[6:])["choices"][0]["delta"]["content"]
                         for ev in clean.split("\n\n") if ev.startswith("data: {"))
        assert joined == f"the header was {REDACTED} ok"


# ---- pure parts ------------------------------------------------------------------------------

json_values = shared_json_values(floats=False, max_leaves=12)


@settings(max_examples=150)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6), st.integers(1, 65535))
def test_canonical_key_ignores_key_order_whitespace_and_host(body, port):
    a = json.dumps(body).encode()
    b = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    k1 = canonical_key("POST", "http://127.0.0.1:1/v1/chat/completions", a)
    k2 = canonical_key("post", f"http://localhost:{port}/v1/chat/completions", b)
    assert k1 == k2
    assert k1 != canonical_key("POST", "http://127.0.0.1:1/v1/images/generations", a)
    assert k1 != canonical_key("POST", "http://127.0.0.1:1/v1/chat/completions", json.dumps({"x": body}).encode())


@settings(max_examples=200)
@given(st.text(max_size=200), st.from_regex(r"sk-[A-Za-z0-9]{20,40}", fullmatch=True))
def test_scrubber_removes_keys_and_is_idempotent(text, key):
    s = Scrubber(["literal-secret-value"], use_environment=False)
    dirty = f"{text} {key} literal-secret-value {text}"
    clean = s.text(dirty)
    assert key not in clean and "literal-secret-value" not in clean
    assert s.text(clean) == clean
    assert s.data(dirty.encode()) == clean.encode()


def test_scrubber_leaves_ordinary_text_and_image_payloads_alone():
    s = Scrubber(use_environment=False)
    prose = "The battery died after two days. Refund id 12345, model seed-1-6-flash-250715."
    assert s.text(prose) == prose
    image_b64 = "iVBORw0KGgo" + "AbC1+/" * 50_000  # one huge run: an image, not a key
    assert s.text(image_b64) == image_b64
    assert s.uri("https://x.test/v1/chat?api-key=abc&model=m") == "https://x.test/v1/chat?api-key=REDACTED&model=m"


def test_a_long_recording_is_written_as_it_goes(stub, tmp_path, monkeypatch):
    """A recording killed midway keeps what finished: shards are written while the session is open."""
    import asyncio

    import openai

    from evalseed.cassettes import storage
    from evalseed.kinds.base import CallResult

    monkeypatch.setattr(storage, "SAVE_EVERY_S", 0.0)
    srv = stub(answers={"love": "positive"})
    root = tmp_path / "cas"

    async def one(session) -> None:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
        async with client.chat.completions.with_streaming_response.create(
            model=FLASH, messages=[{"role": "user", "content": "I love it"}], stream=True,
            extra_headers={"x-evalseed-suite": "s1", "x-evalseed-case": "c1"},
        ) as resp:
            async for _ in resp.iter_lines():
                pass
            call = session.after_call(CallResult(request={}, response={}, latency_ms=12.5, ttft_ms=3.0),
                                      resp.headers)
        assert call.replayed is False
        await client.close()

    with CassetteSession("record", root, providers={FLASH: "prov"}) as session:
        asyncio.run(one(session))
        shard = root / "prov" / "s1" / f"{FLASH}.json"
        data = json.loads(shard.read_text())  # on disk before the session ends
        assert data["interactions"][0]["response"]["evalseed"]["latency_ms"] == 12.5
    with CassetteSession("replay", root, providers={FLASH: "prov"}) as session:
        async def again():
            client = openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0)
            async with client.chat.completions.with_streaming_response.create(
                model=FLASH, messages=[{"role": "user", "content": "I love it"}], stream=True,
                extra_headers={"x-evalseed-suite": "s1", "x-evalseed-case": "c1"},
            ) as resp:
                text = "".join([line async for line in resp.iter_lines()])
                call = session.after_call(CallResult(request={}, response={}, latency_ms=0.1), resp.headers)
            await client.close()
            return text, call

        text, call = asyncio.run(again())
    assert "positive" in text
    assert call.replayed is True and call.latency_ms == 12.5 and call.ttft_ms == 3.0


def test_an_answer_keeps_its_own_hash_like_text_but_not_what_the_request_carried():
    s = Scrubber(use_environment=False)
    request_token = "9f" * 20
    answer = f"sha {'ab12' * 10} and the token you sent {request_token}"
    fake_key = "sk-" + "FAKE" + "x" * 17  # built here: no key-shaped literal in the repository
    echoed = s.found('{"messages": "remember ' + request_token + '"}', "Bearer " + fake_key)
    clean = s.text(answer, echoed)
    assert "ab12" * 10 in clean  # the model's own hex: part of the answer that was scored
    assert request_token not in clean and REDACTED in clean
    assert fake_key in echoed  # the key without its "Bearer " too


def test_a_live_server_cannot_pass_its_answer_off_as_replayed(cli, stub, tmp_path):
    # x-evalseed-recorded is the header a replayed response carries: from a live server, it
    # would make its answer `replayed` with timings of its choosing.
    forged = {"x-evalseed-recorded": json.dumps({"latency_ms": 0.001, "ttft_ms": 0.001}), "x-evalseed-interaction": "1"}
    srv = stub(responder=lambda body: Reply(content="positive", delay=0.05, headers=forged))
    suite = write_suite(tmp_path / "suites", "tiny.yaml", SMALL_SUITE)
    code, _, err = _run(cli, suite, tmp_path / "f.duckdb", tmp_path / "cas", "record", srv.base_url)
    assert code == 0, err
    got = rows(tmp_path / "f.duckdb")
    assert len(got) == 3
    assert all(not r["replayed"] and r["latency_ms"] >= 50 for r in got), got
    data = json.loads((tmp_path / "cas" / "custom" / "tiny" / f"{FLASH}.json").read_text())
    assert all(it["response"]["evalseed"]["latency_ms"] >= 50 for it in data["interactions"])
