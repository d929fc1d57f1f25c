"""The tool_calling and json_extraction kinds without HTTP: the loop against a scripted Api, and
scoring of arbitrary stored responses (any shape is a scored verdict)."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from evalseed.config import BUILTIN_MODELS
from evalseed.kinds import get_kind
from evalseed.kinds.base import CallResult, Outcome
from evalseed.scoring.bfcl_ast import REASONS
from strategies import json_values as shared_json_values

TC = get_kind("tool_calling")
JX = get_kind("json_extraction")
S18 = BUILTIN_MODELS["seed-1-8-251228"]
FLASH = BUILTIN_MODELS["seed-1-6-flash-250715"]

SUITE = TC.suite_model.model_validate({
    "name": "k", "kind": "tool_calling", "max_steps": 3,
    "messages": [{"role": "user", "content": "{{ q }}"}],
    "tools": [{"type": "function", "function": {"name": "crm.find", "parameters": {
        "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}},
              {"type": "function", "function": {"name": "send", "parameters": {
                  "type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}}}],
    "tool_results": {"crm.find": {"id": "C-1"}},
    "cases": [{"id": "a", "vars": {"q": "hi"}, "order": "strict",
               "expected_calls": [{"crm.find": {"name": ["Dana"]}}, {"send": {"id": ["C-1"]}}]}],
})
CASE = SUITE.cases[0]


class ScriptedApi:
    """Answers with the given assistant messages in turn and keeps the bodies it was sent."""

    def __init__(self, messages):
        self.messages = list(messages)
        self.bodies = []

    async def chat(self, body):
        self.bodies.append(json.loads(json.dumps(body)))
        msg = self.messages.pop(0)
        return CallResult(request=body, response={"choices": [{"message": msg}]})

    async def images(self, body):  # pragma: no cover - not used by text kinds
        raise AssertionError


def call(name, args, cid):
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def test_loop_answers_with_canned_results_and_scores_trajectory():
    prepared = TC.prepare(SUITE, CASE, S18)
    assert [t["function"]["name"] for t in prepared.request["tools"]] == ["crm_find", "send"]
    api = ScriptedApi([
        {"role": "assistant", "content": None, "tool_calls": [call("crm_find", {"name": "Dana"}, "c1")]},
        {"role": "assistant", "content": None, "tool_calls": [call("send", {"id": "C-1"}, "c2")]},
        {"role": "assistant", "content": "Sent."},
    ])
    outcome = asyncio.run(TC.execute(prepared, api))
    assert len(outcome.calls) == 3 and outcome.output_text == "Sent."
    second = api.bodies[1]["messages"]
    assert second[-2]["tool_calls"][0]["id"] == "c1"
    assert second[-1] == {"role": "tool", "tool_call_id": "c1", "content": '{"id": "C-1"}'}
    s = TC.score(SUITE, CASE, prepared, outcome)
    assert s.passed and s.details["steps"] == 3 and s.details["calls"][0]["name"] == "crm.find"
    assert s.details["expected"] == CASE.expected_calls


def test_loop_stops_at_max_steps():
    prepared = TC.prepare(SUITE, CASE, S18)
    api = ScriptedApi([{"role": "assistant", "tool_calls": [call("crm_find", {"name": "Dana"}, f"c{i}")]}
                       for i in range(5)])
    outcome = asyncio.run(TC.execute(prepared, api))
    assert len(api.bodies) == 3 and outcome.response["stopped"] == "max_steps"
    s = TC.score(SUITE, CASE, prepared, outcome)
    assert not s.passed and s.details["reason"] == "wrong_count"


json_values = shared_json_values(text_size=10, width=3, max_leaves=15)
messages = st.fixed_dictionaries({"role": st.sampled_from(["assistant", "tool", "user"])},
                                 optional={"tool_calls": json_values | st.lists(st.fixed_dictionaries(
                                     {"function": st.fixed_dictionaries({"name": st.sampled_from(["crm_find", "send", "x"])},
                                                                        optional={"arguments": st.text(max_size=30) | json_values})})),
                                     "content": json_values})


@settings(max_examples=300, deadline=None)
@given(response=json_values | st.fixed_dictionaries({"trajectory": st.lists(messages | json_values, max_size=4)}))
def test_any_stored_response_is_a_scored_verdict(response):
    prepared = TC.prepare(SUITE, CASE, S18)
    s = TC.score(SUITE, CASE, prepared, Outcome(calls=[], response=response, output_text=None))
    assert s.passed in (True, False) and (s.passed or s.details["reason"] in REASONS)
    json.dumps(s.details, default=str)


JSUITE = JX.suite_model.model_validate({
    "name": "j", "kind": "json_extraction", "schema": {"type": "object", "properties": {"a": {"type": "number"}}},
    "messages": [{"role": "user", "content": "{{ t }}"}],
    "cases": [{"id": "a", "vars": {"t": "x"}, "expected": {"a": 1}}],
})


def test_json_degrades_to_the_strongest_mode_the_model_takes():
    from dataclasses import replace

    p = JX.prepare(JSUITE, JSUITE.cases[0], FLASH)  # no json_schema on flash: json_object
    assert p.request["response_format"] == {"type": "json_object"} and p.state["degraded"]
    p = JX.prepare(JSUITE, JSUITE.cases[0], replace(FLASH, json_object=False))
    assert "response_format" not in p.request and p.state["response_format_used"] == "none"
    p = JX.prepare(JSUITE, JSUITE.cases[0], S18)
    assert p.request["response_format"]["type"] == "json_schema" and "degraded" not in p.state


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.none(), st.text(max_size=80), json_values.map(lambda v: json.dumps(v)),
                      json_values.map(lambda v: "```json\n" + json.dumps(v) + "\n```")))
def test_any_json_answer_is_a_scored_verdict(text):
    p = JX.prepare(JSUITE, JSUITE.cases[0], S18)
    s = JX.score(JSUITE, JSUITE.cases[0], p, Outcome(calls=[], response={}, output_text=text))
    assert 0.0 <= s.score <= 1.0 and s.details["expected"] == {"a": 1}
    json.dumps(s.details, default=str)
