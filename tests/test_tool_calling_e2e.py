"""`evalseed run` on tool-calling suites against the stub server, which answers with real OpenAI
tool_calls over HTTP: the multi-step loop, the stored trajectory, the typed failures, rescoring."""

from __future__ import annotations

import json
from pathlib import Path


from evalseed.suites.loader import load_suite_file
from evalseed.testing.stub_server import Reply, ToolCall

from conftest import ROOT
from helpers import result_rows, write_suite



def rows(db):
    return result_rows(db, parse_json=True)


OPS = ROOT / "suites" / "tool-calling-ops-assistant.yaml"
S18 = "seed-1-8-251228"




def _oracle_args(args: dict) -> dict:
    """The first allowed value of each argument; optional ones ("" allowed) left out."""
    return {p: next(v for v in allowed if v != "") for p, allowed in args.items() if "" not in allowed}


def oracle_responder(suite_path: Path, wire: dict[str, str]):
    """Answers each case of a suite correctly: strict-order cases one call per step (each after
    the previous tool result), the others all calls at once; then a final text answer."""
    suite = load_suite_file(suite_path)
    by_request = {c.vars["request"]: c for c in suite.cases}

    def respond(body: dict) -> Reply:
        msgs = body["messages"]
        user = next(m["content"] for m in msgs if m["role"] == "user")
        case = by_request[user]
        calls = [(n, _oracle_args(a)) for e in case.expected_calls for n, a in e.items()]
        done = sum(len(m.get("tool_calls") or []) for m in msgs if m["role"] == "assistant")
        if done >= len(calls):
            return Reply(content="Done.")
        step = calls[done:done + 1] if (case.order or suite.order) == "strict" else calls[done:]
        return Reply(content=None, tool_calls=[ToolCall(wire.get(n, n), a) for n, a in step])

    return suite, respond


def test_bundled_suite_passes_with_correct_answers(cli, stub, tmp_path):
    wire = {"orders.lookup": "orders_lookup", "orders.refund": "orders_refund", "crm.find_contact": "crm_find_contact",
            "calendar.create_event": "calendar_create_event", "inventory.check_stock": "inventory_check_stock"}
    suite, respond = oracle_responder(OPS, wire)
    srv = stub(responder=respond)
    db = tmp_path / "t.duckdb"
    code, out, err = cli("run", OPS, "--base-url", srv.base_url, "--models", S18, "--db", db, "--no-progress")
    assert code == 0, err
    got = {r["case_id"]: r for r in rows(db)}
    assert len(got) == len(suite.cases) >= 30
    failed = {k: r["details"].get("failure") for k, r in got.items() if not r["passed"]}
    assert not failed
    assert "tool-calling-ops-assistant" in out  # the run summary names the suite

    # Requests carry the tools, dotted names mapped for the wire.
    first = srv.bodies()[0]
    names = {t["function"]["name"] for t in first["tools"]}
    assert "orders_lookup" in names and not any("." in n for n in names)

    # A look-up-then-act case: the canned result went back to the model; all steps are stored.
    r = got["refund-then-notify"]
    traj = r["response"]["trajectory"]
    assert [m["role"] for m in traj] == ["assistant", "tool", "assistant", "tool", "assistant", "tool", "assistant"]
    assert "C-9034" in traj[1]["content"] and traj[1]["name"] == "orders.lookup"
    assert r["response"]["stopped"] == "answered" and r["details"]["steps"] == 4
    assert [c["name"] for c in r["details"]["calls"]] == ["orders.lookup", "orders.refund", "send_message"]
    assert r["details"]["expected"][1] == {"orders.refund": {"order_id": ["A-52010"], "amount": [64.5],
                                                             "reason": ["damaged"]}}
    assert r["attempts"] == 4 and r["prompt_tokens"] > 0  # four calls, one attempt each, usage summed

    # Parallel: all calls in one step; irrelevance: no call, a text answer.
    assert got["three-orders"]["details"]["steps"] == 2 and got["three-orders"]["details"]["n_calls"] == 3
    assert got["haiku"]["details"]["irrelevance"] is True and got["haiku"]["output_text"] == "Done."


TINY = """
name: tiny-tools
kind: tool_calling
max_steps: 3
messages:
  - {role: user, content: "{{ q }}"}
tools:
  - type: function
    function:
      name: weather.get
      parameters:
        type: object
        properties: {city: {type: string}, days: {type: integer}}
        required: [city]
tool_results:
  weather.get: {temp: 21}
cases:
  - {id: bad-json, vars: {q: bad-json}, expected_calls: [{weather.get: {city: [Oslo]}}]}
  - {id: text-only, vars: {q: text-only}, expected_calls: [{weather.get: {city: [Oslo]}}]}
  - {id: wrong-type, vars: {q: wrong-type}, expected_calls: [{weather.get: {city: [Oslo], days: [2]}}]}
  - {id: irrelevant-call, vars: {q: irrelevant-call}, expected_calls: []}
  - {id: loops-forever, vars: {q: loops-forever}, expected_calls: [{weather.get: {city: [Oslo]}}]}
"""


def bad_responder(body: dict) -> Reply:
    q = body["messages"][0]["content"]
    if q == "bad-json":
        return Reply(content=None, tool_calls=[ToolCall("weather_get", '{"city": "Oslo"')])
    if q == "text-only":
        return Reply(content="It is sunny in Oslo.")
    if q == "wrong-type":
        if body["messages"][-1]["role"] == "tool":
            return Reply(content="21 degrees")
        return Reply(content=None, tool_calls=[ToolCall("weather_get", {"city": "Oslo", "days": "2"})])
    if q == "irrelevant-call" and body["messages"][-1]["role"] != "tool":
        return Reply(content=None, tool_calls=[ToolCall("weather_get", {"city": "Oslo"})])
    if q == "loops-forever":
        return Reply(content=None, tool_calls=[ToolCall("weather_get", {"city": "Oslo"})])
    return Reply(content="ok")


def test_failures_are_typed_and_stored(cli, stub, tmp_path):
    p = write_suite(tmp_path / "suites", "tiny.yaml", TINY)
    srv = stub(responder=bad_responder)
    db = tmp_path / "t.duckdb"
    code, out, err = cli("run", p, "--base-url", srv.base_url, "--models", S18, "--db", db, "--no-progress")
    assert code == 0, err
    got = {r["case_id"]: r for r in rows(db)}
    assert all(r["status"] == "ok" and r["passed"] is False for r in got.values())
    assert got["bad-json"]["details"]["reason"] == "invalid_json"
    assert got["text-only"]["details"]["reason"] == "wrong_count"
    assert got["wrong-type"]["details"]["reason"] == "type_error"
    assert got["wrong-type"]["details"]["failure"]["param"] == "days"
    assert got["irrelevant-call"]["details"]["reason"] == "wrong_count"
    loop = got["loops-forever"]
    assert loop["response"]["stopped"] == "max_steps" and loop["details"]["steps"] == 3
    assert loop["details"]["reason"] == "wrong_count"  # three calls made, one expected
    tool_msgs = [m for m in loop["response"]["trajectory"] if m["role"] == "tool"]
    assert len(tool_msgs) == 2 and json.loads(tool_msgs[0]["content"]) == {"temp": 21}
    # Rescoring reads the stored trajectories and reaches the same verdicts.
    code, out, err = cli("rescore", "latest", "--db", db)
    assert code == 0, err
    again = {r["case_id"]: r for r in rows(db)}
    assert {k: r["details"]["reason"] for k, r in again.items()} == {k: r["details"]["reason"] for k, r in got.items()}


def test_model_without_tools_is_degraded_not_crashed(cli, stub, tmp_path):
    p = write_suite(tmp_path / "suites", "tiny.yaml", TINY)
    cfg = write_suite(tmp_path, "evalseed.yaml", """
        models:
          no-tools-model: {tools: false, tool_choice: false}
    """)
    srv = stub(responder=lambda body: Reply(content="I cannot call tools."))
    db = tmp_path / "t.duckdb"
    code, out, err = cli("run", p, "--base-url", srv.base_url, "--models", "no-tools-model", "--db", db,
                         "--no-progress", "--config", cfg)
    assert code == 0, err
    got = rows(db)
    assert all("tools" not in r["request"] for r in got)
    assert all(r["details"]["degraded"] is True for r in got)
    assert {r["case_id"] for r in got if r["passed"]} == {"irrelevant-call"}


def test_the_chain_of_thought_of_a_tool_calling_turn_goes_back_with_it(cli, stub, tmp_path):
    def respond(body: dict) -> Reply:
        if body["messages"][-1]["role"] == "tool":
            return Reply(content="21 degrees", reasoning_content="The tool said 21.")
        return Reply(content=None, tool_calls=[ToolCall("weather_get", {"city": "Oslo"})],
                     reasoning_content="I should look the weather up.")

    srv = stub(responder=respond)
    suite = write_suite(tmp_path, "t.yaml", TINY.split("cases:")[0] + "cases:\n  - {id: w, vars: {q: w}, expected_calls: [{weather.get: {city: [Oslo]}}]}\n")
    code, _, err = cli("run", suite, "--base-url", srv.base_url, "--models", S18, "--db", tmp_path / "t.duckdb", "--no-progress")
    assert code == 0, err
    second = srv.bodies()[1]["messages"]
    assert second[1]["role"] == "assistant" and second[1]["reasoning_content"] == "I should look the weather up."
    assert second[1]["tool_calls"][0]["function"]["name"] == "weather_get" and second[2]["role"] == "tool"
