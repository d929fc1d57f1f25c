"""`kind: tool_calling`: requests carry the suite's tools; the model's `tool_calls` are scored by
BFCL's AST rules (evalseed.scoring.bfcl_ast) against the case's `expected_calls`.

Multi-step: while the model calls tools, each call is answered with a canned result (the case's
`tool_results`, else the suite's, by function name) and the model is called again, up to
`max_steps` model calls. The whole trajectory (assistant messages and the tool results sent) is
the stored `response`; the expected calls are checked against every call made along it.

Tool names OpenAI would refuse (dots, above all) are mapped on the wire and mapped back before
scoring, so suites and expected calls use the names as written. A case's own `messages` (as the
BFCL importer writes them) are sent as written; only the suite's `messages` are templates.
A model without tool support is sent no tools (recorded as `degraded`); its text answer then
fails every case that expects a call.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from ...costs import rough_tokens
from ...templating import render_messages
from ..base import Api, Kind, Outcome, Prepared, Score, chat_body, chat_prepared
from .details import ToolCallingDetails
from .spec import ToolCallingCase, ToolCallingSuite

if TYPE_CHECKING:
    from ...config import ModelInfo
    from ...report.synthetic import SyntheticRow
    from ...scoring.bfcl_ast import Failure, ToolCall


def case_tools(suite: ToolCallingSuite, case: ToolCallingCase) -> list[dict]:
    tools = case.tools if case.tools is not None else suite.tools or []
    return [t.model_dump(exclude_none=True) for t in tools]


def case_results(suite: ToolCallingSuite, case: ToolCallingCase) -> dict[str, Any]:
    return {**suite.tool_results, **(case.tool_results or {})}


def _result_text(name: str, results: dict[str, Any]) -> str:
    if name not in results:
        return json.dumps({"error": f"tool {name!r} is not available"})
    v = results[name]
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _render_call(name: str, args: dict) -> str:
    return f"{name}({json.dumps(args, ensure_ascii=False, sort_keys=True)})"


class ToolCalling(Kind[ToolCallingSuite, ToolCallingCase]):
    name = "tool_calling"
    suite_model = ToolCallingSuite
    title = "Tool calling: failure reasons"
    starter_file = "weather-tools.yaml"

    def validate(self, suite: ToolCallingSuite) -> None:
        from ..base import check_templates

        # Only cases without messages of their own are rendered with the suite's templates.
        templated = suite.model_copy(update={"cases": [c for c in suite.cases if c.messages is None]})
        if suite.messages:
            check_templates(templated, suite.messages, lambda case: case.vars)

    def expected(self, case: ToolCallingCase) -> Any:
        return case.expected_calls

    def prepare(self, suite: ToolCallingSuite, case: ToolCallingCase, model: ModelInfo) -> Prepared:
        from ...scoring.bfcl_ast import wire_names

        if case.messages is not None:
            messages = render_messages(case.messages, None)  # as written; image files as data: URLs
        else:
            messages = render_messages(suite.messages or [], case.vars)
        body, dropped = chat_body(suite, model, messages)
        tools = case_tools(suite, case)
        names = wire_names(t["function"]["name"] for t in tools)
        state: dict[str, Any] = {
            "back": {w: o for o, w in names.items()},
            "results": case_results(suite, case),
            "max_steps": suite.max_steps,
        }
        if dropped:
            state["dropped_params"] = dropped
        if model.tools:
            wire_tools = copy.deepcopy(tools)
            for t in wire_tools:
                t["function"]["name"] = names[t["function"]["name"]]
            body["tools"] = wire_tools
            if not model.tool_choice:
                body.pop("tool_choice", None)
        else:
            state["degraded"] = True
            body.pop("tool_choice", None)
            body.pop("parallel_tool_calls", None)
        prepared = chat_prepared(messages, body, model, state)
        prompt = prepared.est_prompt_tokens + rough_tokens(json.dumps(tools))
        per_call = prepared.max_output_tokens
        # Each step resends the conversation so far: bound it by max_steps full prompts.
        prepared.est_prompt_tokens = (prompt + per_call) * suite.max_steps
        prepared.max_output_tokens = per_call * suite.max_steps
        return prepared

    async def execute(self, prepared: Prepared, api: Api) -> Outcome:
        body = prepared.request or {}
        back: dict[str, str] = prepared.state.get("back", {})
        results: dict[str, Any] = prepared.state.get("results", {})
        max_steps: int = prepared.state.get("max_steps", 1)
        messages = list(body.get("messages", []))
        calls, trajectory = [], []
        stopped = "max_steps"
        for step in range(max_steps):
            call = await api.chat({**body, "messages": list(messages)})
            calls.append(call)
            msg = call.message
            trajectory.append({"role": "assistant", **{k: v for k, v in msg.items() if k != "role"}})
            tool_calls = msg.get("tool_calls")
            if not tool_calls:
                stopped = "answered"
                break
            if not isinstance(tool_calls, list) or not all(
                isinstance(tc, dict) and isinstance(tc.get("function"), dict) for tc in tool_calls
            ):
                stopped = "malformed_tool_calls"  # scored as invalid_json; nothing sensible to answer
                break
            if step == max_steps - 1:
                break
            # The chain of thought goes back with the tool call: Seed 1.8's reference documents
            # `reasoning_content` on assistant messages, and thinking models that call tools
            # (DeepSeek's documented rule, which ModelArk's context editing mirrors) expect the
            # reasoning of a tool-calling turn to stay in the conversation until the next user turn.
            turn = {"role": "assistant", "content": msg.get("content"), "tool_calls": tool_calls}
            if isinstance(msg.get("reasoning_content"), str) and msg["reasoning_content"]:
                turn["reasoning_content"] = msg["reasoning_content"]
            messages.append(turn)
            for i, tc in enumerate(tool_calls):
                wire = tc["function"].get("name")
                name = back.get(wire, wire) if isinstance(wire, str) else str(wire)
                tool_msg = {"role": "tool", "tool_call_id": str(tc.get("id") or f"call_{step}_{i}"),
                            "content": _result_text(name, results)}
                messages.append(tool_msg)
                trajectory.append({**tool_msg, "name": name})
        final = trajectory[-1] if trajectory else {}
        content = final.get("content") if final.get("role") == "assistant" else None
        return Outcome(calls=calls, response={"trajectory": trajectory, "steps": len(calls), "stopped": stopped},
                       output_text=content if isinstance(content, str) else None)

    def score(self, suite: ToolCallingSuite, case: ToolCallingCase, prepared: Prepared, outcome: Outcome) -> Score:
        from ...scoring.bfcl_ast import check_calls, parse_tool_calls

        tools = case_tools(suite, case)
        back: dict[str, str] = prepared.state.get("back", {})  # wire name -> tool name, from prepare
        response = outcome.response
        if isinstance(response, str):  # as stored, when a caller did not parse the JSON column
            try:
                response = json.loads(response)
            except ValueError:
                response = {}
        if not isinstance(response, dict):
            response = {}
        trajectory = response.get("trajectory")
        if not isinstance(trajectory, list):
            # A plain chat message or body (e.g. stored by another kind's default): score it as one step.
            msg: Any = response
            if "choices" in response:
                # Any shape may be stored: take choices[0].message only when it is there.
                choices = response["choices"]
                first = choices[0] if isinstance(choices, list) and choices else None
                msg = first.get("message") if isinstance(first, dict) else None
            trajectory = [msg] if isinstance(msg, dict) else []
        calls: list[ToolCall] = []
        failure: Failure | None = None
        for m in trajectory:
            if not isinstance(m, dict) or m.get("role", "assistant") != "assistant" or "tool_calls" not in m:
                continue
            parsed, f = parse_tool_calls(m.get("tool_calls"), back, start=len(calls))
            calls.extend(parsed)
            if f is not None and failure is None:
                failure = f
        order = case.order or suite.order
        verdict = check_calls(tools, case.expected_calls, calls, order, failure, suite.lenient)
        details: ToolCallingDetails = {
            "expected": case.expected_calls,
            "order": order,
            "calls": [{"name": c.name, "arguments": c.arguments} for c in calls[:50]],
            "steps": response.get("steps", len(trajectory)),
            "stopped": response.get("stopped"),
            "irrelevance": not case.expected_calls,
            "degraded": bool(prepared.state.get("degraded")),
            **verdict.to_dict(),  # type: ignore[typeddict-item]  # Verdict.to_dict gives ToolCallingDetails' verdict keys
        }
        if prepared.state.get("dropped_params"):
            details["dropped_params"] = prepared.state["dropped_params"]
        text = outcome.output_text
        if not text and calls:
            text = "; ".join(_render_call(c.name, c.arguments) for c in calls)
        return Score(score=1.0 if verdict.passed else 0.0, passed=verdict.passed, details=dict(details), output_text=text)

    def synthetic_hostile(self, row: SyntheticRow, hostile: str) -> None:
        row.ok, row.score = False, 0.0
        row.details["reason"] = "bad_call " + hostile
        super().synthetic_hostile(row, hostile)


KIND = ToolCalling()
