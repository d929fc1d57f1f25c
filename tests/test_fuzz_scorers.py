"""Any model output, any response shape: a scored verdict or a clear error row, never a crash.

Two levels. Every kind's `score` gets arbitrary outcomes (any text, any JSON, any tool-call
shape) for cases of the bundled suites. Then whole jobs (prepare, execute, score) run through
the real engine and openai SDK against the test server answering with arbitrary bodies and
streams, and every row they return is written to a real DuckDB file."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalseed.config import Provider, load_config
from evalseed.kinds import KINDS, get_kind
from evalseed.kinds.base import CallResult, CaseError, Outcome, Score
from evalseed.suites.loader import load_suites
from strategies import json_values as shared_json_values, unicode_text

ROOT = Path(__file__).resolve().parent.parent
def _bundled_by_kind() -> dict[str, str]:
    """Every registered kind -> a bundled suite of that kind (the first by file name): each kind
    ships one (docs/design.md, "Adding a kind"), so a new kind is fuzzed without editing a list."""
    out: dict[str, str] = {}
    for path in sorted((ROOT / "suites").glob("*.yaml")):
        kind = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("kind")
        out.setdefault(kind, path.name)
    missing = [k for k in KINDS if k not in out]
    assert not missing, f"no bundled suite under suites/ for the kinds {missing}"
    return {k: out[k] for k in KINDS}


SUITES = _bundled_by_kind()
# The kinds whose answer is a chat answer; the image kind scores the records its own `execute`
# wrote (decoded sizes, saved paths), not the server's answer, and is fuzzed end to end below.
CHAT_KINDS = [k for k in SUITES if "text" in get_kind(k).model_kinds]
TEXT_MODEL = "seed-1-6-flash-250715"
IMAGE_MODEL = "seedream-4-5-251128"
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])

text = unicode_text(60)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 66), 2 ** 66),
                    st.floats(allow_nan=False, allow_infinity=False), text)
json_values = shared_json_values(scalars, text, max_leaves=10)


@st.composite
def tool_calls(draw, names: list[str]):
    name = draw(st.one_of(st.sampled_from(names), text)) if names else draw(text)
    args = draw(st.one_of(json_values.map(json.dumps), text, json_values,
                          st.dictionaries(text, json_values, max_size=3).map(json.dumps)))
    call = {"id": draw(st.one_of(st.none(), text)), "type": "function", "function": {"name": name, "arguments": args}}
    return draw(st.one_of(st.just(call), json_values))


def messages(names: list[str]):
    return st.fixed_dictionaries(
        {"role": st.one_of(st.just("assistant"), text)},
        optional={"content": st.one_of(st.none(), text, json_values),
                  "reasoning_content": st.one_of(st.none(), text),
                  "tool_calls": st.one_of(st.none(), json_values, st.lists(tool_calls(names), max_size=3))})


def outcomes(names: list[str]):
    response = st.one_of(
        json_values, messages(names),
        st.fixed_dictionaries({"trajectory": st.lists(st.one_of(messages(names), json_values), max_size=4)}),
        st.fixed_dictionaries({"choices": st.one_of(json_values, st.lists(
            st.fixed_dictionaries({"message": st.one_of(messages(names), json_values)}), max_size=2))}),
        st.fixed_dictionaries({"images": st.one_of(json_values, st.lists(json_values, max_size=3))}),
    )
    return st.builds(
        lambda resp, out, prompt: Outcome(calls=[CallResult(request={}, response={}, prompt_tokens=prompt)],
                                          response=resp, output_text=out),
        response, st.one_of(st.none(), text, json_values.map(json.dumps),
                            json_values.map(lambda v: f"Here you go:\n```json\n{json.dumps(v)}\n```")),
        st.one_of(st.none(), st.integers(0, 10 ** 7)))


_cache: dict = {}


def suite_of(kind: str):
    if kind not in _cache:
        suite = load_suites([str(ROOT / "suites" / SUITES[kind])])[0]
        cfg = load_config(None)
        model = cfg.resolve_model(TEXT_MODEL if "text" in get_kind(kind).model_kinds else IMAGE_MODEL)
        k = get_kind(kind)
        cases = list(k.cases(suite))[:6]
        prepared = [(c, k.prepare(suite, c, model)) for c in cases]
        names = []
        for t in (getattr(suite, "tools", None) or []):
            fn = t.get("function", {}) if isinstance(t, dict) else getattr(t, "function", {})
            names.append(fn.get("name") if isinstance(fn, dict) else getattr(fn, "name", ""))
        _cache[kind] = (suite, k, model, [p for p in prepared if not p[1].skip_reason], [n for n in names if n])
    return _cache[kind]


def check_score(score) -> None:
    assert isinstance(score, Score)
    assert isinstance(score.score, (int, float)) and not math.isnan(score.score) and 0.0 <= score.score <= 1.0
    assert isinstance(score.passed, bool)
    json.dumps(score.details, default=str)  # storable


@pytest.mark.parametrize("kind", CHAT_KINDS)
@FUZZ
@given(data=st.data())
def test_any_outcome_scores_or_is_a_case_error(kind, data):
    suite, k, model, prepared, names = suite_of(kind)
    case, prep = data.draw(st.sampled_from(prepared))
    outcome = data.draw(outcomes(names))
    try:
        score = k.score(suite, case, prep, outcome)
    except CaseError as e:
        assert str(e)  # a case error is stored as the row's reason: it must say something
        return
    check_score(score)


# ---- whole jobs through the real engine ------------------------------------------------------


def _png() -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


PNG_B64 = _png()


def chat_bodies(names):
    usage = st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "prompt_tokens": st.one_of(st.integers(-5, 10 ** 9), json_values),
        "completion_tokens": st.one_of(st.integers(-5, 10 ** 9), json_values),
        "prompt_tokens_details": json_values, "completion_tokens_details": json_values}))
    choice = st.fixed_dictionaries({"message": st.one_of(messages(names), json_values)},
                                   optional={"finish_reason": st.one_of(st.none(), text), "index": json_values})
    return st.one_of(json_values, st.fixed_dictionaries(
        {"choices": st.one_of(json_values, st.lists(choice, max_size=2))}, optional={"usage": usage, "id": json_values}))


def stream_chunks(names):
    delta = st.fixed_dictionaries({}, optional={
        "content": st.one_of(st.none(), text, json_values), "reasoning_content": st.one_of(st.none(), text),
        "tool_calls": st.one_of(json_values, st.lists(st.fixed_dictionaries(
            {"index": st.one_of(st.integers(0, 3), json_values)},
            optional={"id": text, "function": st.one_of(json_values, st.fixed_dictionaries(
                {}, optional={"name": st.one_of(st.sampled_from(names or ["f"]), text),
                              "arguments": st.one_of(text, json_values)}))}), max_size=2))})
    chunk = st.fixed_dictionaries({"choices": st.one_of(json_values, st.lists(st.fixed_dictionaries(
        {"delta": st.one_of(delta, json_values)}, optional={"finish_reason": st.one_of(st.none(), text)}), max_size=2))},
        optional={"usage": json_values, "error": json_values})
    return st.lists(st.one_of(chunk, json_values), max_size=6)


def image_bodies(base: str):
    item = st.one_of(
        json_values,
        st.fixed_dictionaries({"b64_json": st.one_of(st.just(PNG_B64), text, st.just("aGVsbG8="))},
                              optional={"size": st.one_of(text, st.just("40x30"))}),
        st.fixed_dictionaries({"url": st.one_of(st.just(f"{base}/files/missing.png"), st.just(f"{base}/v1/models"),
                                                st.just("not a url"), st.just(""))}),
        st.fixed_dictionaries({"error": json_values}),
    )
    return st.one_of(json_values, st.fixed_dictionaries({"data": st.one_of(json_values, st.lists(item, max_size=3))},
                                                        optional={"usage": json_values}))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from evalseed import store
    from evalseed.testing.stub_server import StubServer

    state: dict = {"reply": None}
    srv = StubServer(responder=lambda body: state["reply"]).start()
    db = tmp_path_factory.mktemp("fuzzdb") / "fuzz.duckdb"
    con = store.open_db(db)
    yield srv, state, con, tmp_path_factory.mktemp("fuzzout")
    con.close()
    srv.stop()


def _run_job(world, kind: str, case, reply, stream: bool) -> dict:
    import openai

    from evalseed import store
    from evalseed.engine import Budget, EngineOptions, JobApi, ModelLane, Redactor
    from evalseed.jobs import CaseJob

    srv, state, con, out = world
    suite, k, model, _, _ = suite_of(kind)
    state["reply"] = reply

    async def go():
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="no-key", max_retries=0, timeout=10)
        lane = ModelLane(model, Provider("custom", srv.base_url, None), client,
                         EngineOptions(max_attempts=1, timeout=10, stream=stream), Budget(None), Redactor())
        job = CaseJob("fuzz-run", suite, k, case, model, "custom", 0, str(out))
        try:
            return await job.run(JobApi(lane, suite.name, case.id))
        finally:
            await client.close()

    row = asyncio.run(go())
    assert row["status"] in ("ok", "error"), row
    if row["status"] == "error":
        assert row["error"] and ": " in row["error"]
    else:
        assert 0.0 <= row["score"] <= 1.0 and isinstance(row["passed"], bool)
    writer = store.ResultWriter(con, "fuzz-run")
    writer.add(row)
    writer.flush()  # storable, whatever came back
    return row


@pytest.mark.parametrize("kind", CHAT_KINDS)
@settings(max_examples=int(__import__("os").environ.get("EVALSEED_FUZZ_JOBS", "40")), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_chat_answer_becomes_a_row(world, kind, data):
    from evalseed.testing.stub_server import Reply

    _, _, _, prepared, names = suite_of(kind)
    case, _ = data.draw(st.sampled_from(prepared))
    if data.draw(st.booleans()):
        _run_job(world, kind, case, Reply(raw_body=data.draw(chat_bodies(names))), stream=False)
    else:
        _run_job(world, kind, case, Reply(raw_chunks=data.draw(stream_chunks(names))), stream=True)


@settings(max_examples=int(__import__("os").environ.get("EVALSEED_FUZZ_JOBS", "40")), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_image_answer_becomes_a_row(world, data):
    from evalseed.testing.stub_server import Reply

    srv = world[0]
    _, _, _, prepared, _ = suite_of("image")
    case, _ = data.draw(st.sampled_from(prepared))
    _run_job(world, "image", case, Reply(raw_body=data.draw(image_bodies(srv.root_url))), stream=False)
