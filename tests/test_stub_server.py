"""The test server speaks the wire format the real openai SDK expects, and its faults reach the
client as the faults they claim to be."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
import urllib.request

import pytest

from evalseed.testing.stub_server import (
    PERMANENT_FAULTS, Reply, StubServer, ToolCall, request_key, transient,
)

openai = pytest.importorskip("openai")
MODEL = "seed-1-6-flash-250715"


def client(srv: StubServer, **kw) -> "openai.AsyncOpenAI":
    kw.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-test-stub", **kw)


def ask(text: str) -> list:
    return [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": text}]


def run(coro):
    return asyncio.run(coro)


def ask_once(srv: StubServer, text: str = "x", **kw):
    """One chat completion through a fresh client (closed after): the answer, or the SDK's error."""
    async def go():
        c = client(srv, **kw)
        try:
            return await c.chat.completions.create(model=MODEL, messages=ask(text))
        finally:
            await c.close()

    return run(go())


async def _close(c) -> None:
    await c.close()


def test_plain_chat_with_reasoning_usage_and_auth_header():
    answers = {"battery": Reply(content="negative", reasoning_content="The battery failing is bad.")}
    with StubServer(answers=answers) as srv:
        async def go():
            c = client(srv)
            r = await c.chat.completions.create(model=MODEL, messages=ask("The battery died."))
            await c.close()
            return r
        r = run(go())
        msg = r.choices[0].message
        assert msg.content == "negative"
        assert msg.reasoning_content == "The battery failing is bad."  # extra field kept by the SDK
        assert r.choices[0].finish_reason == "stop"
        assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
        assert r.usage.prompt_tokens_details.cached_tokens == 0
        assert r.usage.completion_tokens_details.reasoning_tokens == 7
        assert srv.count("/v1/chat/completions") == 1
        assert srv.requests[0].headers["authorization"] == "Bearer sk-test-stub"
        assert srv.bodies()[0]["model"] == MODEL


def test_stream_reasoning_before_content_then_usage_chunk():
    answers = {"battery": Reply(content="negative, clearly", reasoning_content="Short thought here.")}
    with StubServer(answers=answers, chunk_chars=4) as srv:
        async def go(include_usage: bool):
            c = client(srv)
            kw = {"stream_options": {"include_usage": True}} if include_usage else {}
            s = await c.chat.completions.create(model=MODEL, messages=ask("battery"), stream=True, **kw)
            chunks = [ch async for ch in s]
            await c.close()
            return chunks
        chunks = run(go(True))
        order, reasoning, content, finish = [], "", "", None
        for ch in chunks[:-1]:
            d = ch.choices[0].delta
            r = getattr(d, "reasoning_content", None)
            if r:
                reasoning += r
                order.append("r")
            if d.content:
                content += d.content
                order.append("c")
            finish = ch.choices[0].finish_reason or finish
        assert reasoning == "Short thought here." and content == "negative, clearly"
        assert order == sorted(order, reverse=True)  # every reasoning piece before any content
        assert len(order) > 4  # really streamed in pieces
        assert finish == "stop"
        last = chunks[-1]
        assert last.choices == [] and last.usage.completion_tokens > 0
        assert last.usage.completion_tokens_details.reasoning_tokens > 0

        plain = run(go(False))
        assert all(ch.choices for ch in plain)
        assert all(getattr(ch, "usage", None) is None for ch in plain)


def test_streamed_tool_calls_assemble_to_json_arguments():
    calls = [ToolCall("get_weather", {"city": "Paris", "unit": "celsius"}), ToolCall("get_time", {"tz": "CET"})]
    with StubServer(answers={"weather": Reply(content=None, tool_calls=calls)}, chunk_chars=5) as srv:
        async def go():
            c = client(srv)
            s = await c.chat.completions.create(model=MODEL, messages=ask("weather in Paris"), stream=True,
                                                tools=[{"type": "function", "function": {"name": "get_weather",
                                                                                         "parameters": {"type": "object"}}}])
            acc: dict = {}
            finish = None
            async for ch in s:
                if not ch.choices:
                    continue
                finish = ch.choices[0].finish_reason or finish
                for tc in ch.choices[0].delta.tool_calls or []:
                    slot = acc.setdefault(tc.index, {"id": None, "name": "", "args": ""})
                    slot["id"] = tc.id or slot["id"]
                    if tc.function and tc.function.name:
                        slot["name"] += tc.function.name
                    if tc.function and tc.function.arguments:
                        slot["args"] += tc.function.arguments
            plain = await c.chat.completions.create(model=MODEL, messages=ask("weather in Paris"))
            await c.close()
            return acc, finish, plain
        acc, finish, plain = run(go())
        assert finish == "tool_calls"
        assert [acc[i]["name"] for i in sorted(acc)] == ["get_weather", "get_time"]
        assert json.loads(acc[0]["args"]) == {"city": "Paris", "unit": "celsius"}
        assert all(acc[i]["id"] for i in acc)
        m = plain.choices[0].message
        assert m.content is None and plain.choices[0].finish_reason == "tool_calls"
        assert json.loads(m.tool_calls[1].function.arguments) == {"tz": "CET"}


def test_usage_without_details_and_overrides():
    answers = {"big": Reply(content="x", usage={"prompt_tokens": 1_000_000, "completion_tokens": 50_000})}
    with StubServer(answers=answers, usage_details=False) as srv:
        async def go():
            c = client(srv)
            a = await c.chat.completions.create(model=MODEL, messages=ask("hello"))
            b = await c.chat.completions.create(model=MODEL, messages=ask("a big one"))
            await c.close()
            return a, b
        a, b = run(go())
        assert a.usage.prompt_tokens_details is None and a.usage.completion_tokens_details is None
        assert (b.usage.prompt_tokens, b.usage.completion_tokens, b.usage.total_tokens) == (1_000_000, 50_000, 1_050_000)


def _decode(data: bytes):
    from PIL import Image
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_images_b64_url_and_per_image_error():
    answers = {"forbidden": Reply(image_errors={1: ("OutputImageSensitiveContentDetected", "The output image was filtered.")})}
    with StubServer(answers=answers) as srv:
        async def go():
            c = client(srv)
            b64 = await c.images.generate(model="seedream-4-5-251128", prompt="a red fox", size="2560x1440",
                                          response_format="b64_json", n=2)
            url = await c.images.generate(model="seedream-4-5-251128", prompt="a forbidden fox", size="2K",
                                          response_format="url", n=3)
            await c.close()
            return b64, url
        b64, url = run(go())
        assert len(b64.data) == 2 and b64.usage.generated_images == 2
        for item in b64.data:
            img = _decode(base64.b64decode(item.b64_json))
            assert img.format == "JPEG" and img.size == (2560, 1440) and item.size == "2560x1440"
            lo_hi = img.convert("L").getextrema()
            assert lo_hi[1] - lo_hi[0] > 50  # not a blank picture
        assert url.usage.generated_images == 2
        raw = url.model_dump()["data"]
        assert raw[1]["error"]["code"] == "OutputImageSensitiveContentDetected"
        for i in (0, 2):
            assert raw[i]["url"].startswith(srv.root_url + "/files/")
            with urllib.request.urlopen(raw[i]["url"], timeout=5) as resp:
                assert resp.headers["content-type"] == "image/jpeg"
                assert _decode(resp.read()).size == (2048, 2048)


def test_images_sequential_generation_png_and_size_floor():
    with StubServer(responder=lambda body: Reply(image_format="png"), min_image_pixels=3_686_400) as srv:
        async def go():
            c = client(srv)
            ok = await c.images.generate(model="seedream-4-5-251128", prompt="p", size="4096x1024",
                                         response_format="b64_json",
                                         extra_body={"sequential_image_generation": "auto",
                                                     "sequential_image_generation_options": {"max_images": 3}})
            with pytest.raises(openai.BadRequestError) as err:
                await c.images.generate(model="seedream-4-5-251128", prompt="p", size="1024x1024")
            await c.close()
            return ok, err.value
        ok, err = run(go())
        assert len(ok.data) == 3 and _decode(base64.b64decode(ok.data[0].b64_json)).format == "PNG"
        assert err.body["code"] == "InvalidParameter" and err.body["param"] == "size"


@pytest.mark.parametrize("fault,exc,code", [
    ("400", "BadRequestError", "InvalidParameter"),
    ("401", "AuthenticationError", "AuthenticationError"),
    ("403", "PermissionDeniedError", "AccessDenied"),
    ("404", "NotFoundError", "ModelNotOpen"),
    ("quota", "RateLimitError", "QuotaExceeded"),
    ("429", "RateLimitError", "RateLimitExceeded.EndpointRPMExceeded"),
    ("500", "InternalServerError", "InternalServiceError"),
    ("502", "InternalServerError", "BadGateway"),
    ("503", "InternalServerError", "ServerOverloaded"),
])
def test_http_faults_carry_seed_error_bodies(fault, exc, code):
    with StubServer(responder=lambda body: Reply(fault=fault)) as srv:
        async def go():
            c = client(srv)
            try:
                await c.chat.completions.create(model=MODEL, messages=ask("x"))
            finally:
                await c.close()
        with pytest.raises(getattr(openai, exc)) as err:
            run(go())
        assert err.value.body["code"] == code
        assert err.value.body["type"] and err.value.body["message"]
        assert "retry-after" not in err.value.response.headers


def test_retry_after_header_and_transient_then_recover():
    with StubServer(responder=transient("429-retry-after", 2)) as srv:
        async def go():
            c = client(srv)
            seen = []
            for _ in range(3):
                try:
                    r = await c.chat.completions.create(model=MODEL, messages=ask("same question"))
                    seen.append(r.choices[0].message.content)
                except openai.RateLimitError as e:
                    seen.append(("429", e.response.headers.get("retry-after")))
            await c.close()
            return seen
        assert run(go()) == [("429", "1"), ("429", "1"), "ok"]
        key = request_key({"model": MODEL, "messages": ask("same question")})
        assert srv.history[key] == ["429-retry-after", "429-retry-after", "ok"]


def test_transient_recovery_answers_after_k_failures():
    with StubServer(responder=transient("503", 1)) as srv:
        async def go():
            c = client(srv)
            with pytest.raises(openai.InternalServerError):
                await c.chat.completions.create(model=MODEL, messages=ask("q"))
            r = await c.chat.completions.create(model=MODEL, messages=ask("q"))
            await c.close()
            return r
        assert run(go()).choices[0].message.content == "ok"


def test_sdk_own_retries_see_the_recovery():
    # With the SDK's default retries on, a transient 500 is invisible to the caller.
    with StubServer(responder=transient("500", 1)) as srv:
        async def go():
            c = openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=2)
            r = await c.chat.completions.create(model=MODEL, messages=ask("q"))
            await c.close()
            return r
        assert run(go()).choices[0].message.content == "ok"
        assert srv.count("/chat/completions") == 2


@pytest.mark.parametrize("fault", ["disconnect", "cut-body"])
def test_connection_faults_raise_connection_errors(fault):
    with StubServer(responder=lambda body: Reply(fault=fault)) as srv:
        with pytest.raises(openai.APIConnectionError):
            ask_once(srv)


def test_malformed_json_body_is_not_a_completion():
    with StubServer(responder=lambda body: Reply(fault="malformed-json")) as srv:
        async def go():
            c = client(srv)
            try:
                r = await c.chat.completions.create(model=MODEL, messages=ask("x"))
                return r
            finally:
                await c.close()
        # The SDK lets the decoder's error through: an engine must catch ValueError, not only APIError.
        with pytest.raises(json.JSONDecodeError):
            run(go())


@pytest.mark.parametrize("fault", ["truncate-stream", "malformed-json", "no-done"])
def test_stream_faults(fault):
    with StubServer(responder=lambda body: Reply(content="a long enough answer to stream", fault=fault),
                    chunk_chars=3) as srv:
        async def go():
            c = client(srv)
            got = []
            try:
                s = await c.chat.completions.create(model=MODEL, messages=ask("x"), stream=True,
                                                    stream_options={"include_usage": True})
                async for ch in s:
                    got.append(ch)
                return got, None
            except Exception as e:  # what the engine must survive
                return got, e
            finally:
                await c.close()
        got, err = run(go())
        if fault == "no-done":
            # The HTTP body ends cleanly: the only sign is the missing finish_reason and usage.
            assert err is None and got
            assert all(ch.choices and ch.choices[0].finish_reason is None for ch in got)
        else:
            assert err is not None
            text = "".join(ch.choices[0].delta.content or "" for ch in got if ch.choices)
            assert text != "a long enough answer to stream"


def test_stall_times_out_and_server_still_stops():
    with StubServer(responder=lambda body: Reply(fault="stall")) as srv:
        with pytest.raises(openai.APITimeoutError):
            ask_once(srv, timeout=0.5)


def test_empty_choices_and_bad_tool_arguments():
    answers = {"empty": Reply(fault="empty-choices"), "tool": Reply(fault="bad-tool-args", content=None,
                                                                     tool_calls=[ToolCall("f", {"a": 1, "b": "two"})])}
    with StubServer(answers=answers) as srv:
        async def go():
            c = client(srv)
            e = await c.chat.completions.create(model=MODEL, messages=ask("empty"))
            es = await c.chat.completions.create(model=MODEL, messages=ask("empty"), stream=True,
                                                 stream_options={"include_usage": True})
            es_chunks = [ch async for ch in es]
            t = await c.chat.completions.create(model=MODEL, messages=ask("tool"))
            await c.close()
            return e, es_chunks, t
        e, es_chunks, t = run(go())
        assert e.choices == []
        assert all(ch.choices == [] for ch in es_chunks)
        args = t.choices[0].message.tool_calls[0].function.arguments
        with pytest.raises(ValueError):
            json.loads(args)


def test_fault_rate_is_deterministic_and_recovers():
    srv_args = dict(fault_rate=0.3, seed=7, faults=("500", "429", "400"), transient_failures=1)
    with StubServer(**srv_args) as srv:
        async def go():
            c = client(srv)
            outcomes = {}
            for i in range(200):
                for attempt in range(3):
                    try:
                        await c.chat.completions.create(model=MODEL, messages=ask(f"case {i}"))
                        outcomes[i] = ("ok", attempt + 1)
                        break
                    except openai.APIStatusError as e:
                        outcomes[i] = (e.status_code, attempt + 1)
            await c.close()
            return outcomes
        outcomes = run(go())
        planned = {i: srv.plan(request_key({"model": MODEL, "messages": ask(f"case {i}")})) for i in range(200)}
    faulted = [i for i, (f, _) in planned.items() if f]
    assert 40 <= len(faulted) <= 80  # about 30% of 200
    for i, (fault, fails) in planned.items():
        if fault is None:
            assert outcomes[i] == ("ok", 1)
        elif fault in PERMANENT_FAULTS:
            assert outcomes[i] == (400, 3)
        else:
            assert outcomes[i] == ("ok", 2)
    assert StubServer(**srv_args).plan("abc") == StubServer(**srv_args).plan("abc")


def test_keep_alive_raw_paths_and_bad_request_body():
    with StubServer() as srv:
        async def go():
            c = client(srv)
            for i in range(30):
                await c.chat.completions.create(model=MODEL, messages=ask(str(i)))
            await c.close()
        run(go())
        assert srv.count("/chat/completions") == 30 and srv.connections == 1

        req = urllib.request.Request(srv.root_url + "/chat/completions", method="POST",
                                     data=json.dumps({"model": MODEL, "messages": ask("hi")}).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["choices"][0]["message"]["content"] == "ok"
        bad = urllib.request.Request(srv.base_url + "/chat/completions", method="POST", data=b"{not json")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=5)
        assert err.value.code == 400 and json.loads(err.value.read())["error"]["code"] == "InvalidParameter"


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError):
        StubServer(faults=("teapot",))


def test_runs_as_a_separate_process():
    proc = subprocess.Popen([sys.executable, "-m", "evalseed.testing.stub_server", "--port", "0",
                             "--delay-ms", "1", "--answers", "/dev/stdin"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        proc.stdin.write(json.dumps({"battery": "negative"}))
        proc.stdin.close()
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        base = line.split(" ")[-1]

        async def go():
            c = openai.AsyncOpenAI(base_url=base, api_key="k", max_retries=0)
            rs = await asyncio.gather(*[c.chat.completions.create(model=MODEL, messages=ask("battery died"))
                                        for _ in range(20)])
            await c.close()
            return rs
        assert {r.choices[0].message.content for r in run(go())} == {"negative"}
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
