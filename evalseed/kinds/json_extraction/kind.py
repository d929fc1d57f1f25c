"""`kind: json_extraction`: the model returns a JSON object, checked against the suite's JSON
Schema (draft 2020-12) and compared field by field with the case's `expected` object.

`response_format: json_schema` (default) sends the schema as OpenAI structured output;
`json_object` asks for any JSON object; `none` sends neither. A model is asked for the strongest
mode it takes no stronger than that (seed-1-6-flash: json_object for a schema suite; the embedded
model: none); the row records `details.response_format_used` and `details.degraded = true` when it
is weaker than asked: its answer is scored all the same. Templates may use `{{ schema_json }}`
to put the schema in the prompt, which is what keeps degraded requests answerable.

A `[constrained=true]` model variant (issue 20) is asked for json_schema whatever the suite says,
a `[constrained=false]` one never (json_object where the model takes it, else none; not counted
as degraded: the variant chose it). The schema goes as the model's server takes one
(`ModelInfo.schema_wire`): OpenAI's `json_schema`, or `json_object` + `schema` (llama-cpp-python).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ...suites.spec import BaseCase
from ...templating import render_messages
from ..base import Kind, Outcome, Prepared, Score, chat_body, chat_prepared, check_templates
from .details import JsonExtractionDetails
from .spec import JsonExtractionCase, JsonExtractionSuite

if TYPE_CHECKING:
    from ...config import ModelInfo
    from ...report.synthetic import SyntheticRow


def _template_vars(suite: JsonExtractionSuite, case: BaseCase) -> dict[str, Any]:
    return {**case.vars, "schema_json": json.dumps(suite.json_schema, ensure_ascii=False, indent=2)}


def response_format_body(suite: JsonExtractionSuite, mode: str, model: ModelInfo | None = None) -> dict | None:
    if mode == "json_object":
        return {"type": "json_object"}
    if mode == "json_schema" and model is not None and model.schema_wire == "json_object":
        return {"type": "json_object", "schema": grammar_schema(suite.json_schema)[0]}
    if mode == "json_schema":
        name = re.sub(r"[^a-zA-Z0-9_-]", "_", suite.name)[:64]
        return {"type": "json_schema", "json_schema": {"name": name, "schema": suite.json_schema}}
    return None


def grammar_schema(schema: Any, path: str = "") -> tuple[Any, list[str]]:
    """The schema as sent on the json_object wire (llama-cpp-python's server, which makes a grammar
    of it), and the paths of the `pattern`s left out: llama-cpp-python 0.3.36 copies a pattern's
    regex escapes (`\\d`) into the grammar, llama.cpp cannot parse that grammar, and the server
    then dies with SIGSEGV on the request (docs/offline.md). Patterns without a backslash
    (`^[A-Z]{3}$`) are kept."""
    if isinstance(schema, list):
        pairs = [grammar_schema(v, f"{path}[{i}]") for i, v in enumerate(schema)]
        return [v for v, _ in pairs], [p for _, ps in pairs for p in ps]
    if not isinstance(schema, dict):
        return schema, []
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for k, v in schema.items():
        here = f"{path}.{k}" if path else k
        if k == "pattern" and isinstance(v, str) and "\\" in v:
            dropped.append(here)
            continue
        out[k], more = grammar_schema(v, here)
        dropped += more
    return out, dropped


def usable_mode(wanted: str, model) -> str:
    """The strongest JSON mode the model takes that is no stronger than the suite asked for:
    json_schema, else json_object, else none (a prompted answer, still scored)."""
    order = ["json_schema", "json_object", "none"]
    if model.constrained:
        wanted = "json_schema"
    supported = {"json_schema": model.structured_output and bool(model.schema_wire) and model.constrained is not False,
                 "json_object": model.json_object, "none": True}
    return next(m for m in order[order.index(wanted):] if supported[m])


class JsonExtraction(Kind[JsonExtractionSuite, JsonExtractionCase]):
    name = "json_extraction"
    suite_model = JsonExtractionSuite
    title = "JSON extraction: validity and field F1"
    starter_file = "order-extraction.yaml"
    score_name = "field F1"  # the score is the answer's field F1

    def validate(self, suite: JsonExtractionSuite) -> None:
        check_templates(suite, suite.messages, lambda case: _template_vars(suite, case))

    def prepare(self, suite: JsonExtractionSuite, case: JsonExtractionCase, model: ModelInfo) -> Prepared:
        messages = render_messages(suite.messages, _template_vars(suite, case))
        body, dropped = chat_body(suite, model, messages)
        state: dict[str, Any] = {"dropped_params": dropped} if dropped else {}
        used = usable_mode(suite.response_format, model)
        rf = response_format_body(suite, used, model)
        if rf is not None:
            body["response_format"] = rf
        state["response_format_used"] = used
        if used == "json_schema" and model.schema_wire == "json_object":
            not_sent = grammar_schema(suite.json_schema)[1]
            if not_sent:
                state["patterns_not_sent"] = not_sent
        if used != suite.response_format and model.constrained is None:
            state["degraded"] = True
        return chat_prepared(messages, body, model, state)

    def score(self, suite: JsonExtractionSuite, case: JsonExtractionCase, prepared: Prepared,
              outcome: Outcome) -> Score:
        from ...scoring.json_fields import compare_fields, extract_json, schema_errors

        got = extract_json(outcome.output_text)
        details: JsonExtractionDetails = {
            "expected": case.expected,
            "response_format": suite.response_format,
            "response_format_used": prepared.state.get("response_format_used", suite.response_format),
            "degraded": bool(prepared.state.get("degraded")),
            "parsed": got.parsed,
            "fenced": got.fenced,
        }
        if prepared.state.get("dropped_params"):
            details["dropped_params"] = prepared.state["dropped_params"]
        if prepared.state.get("patterns_not_sent"):
            details["patterns_not_sent"] = prepared.state["patterns_not_sent"]
        if not got.parsed:
            details.update({"parse_error": got.error, "schema_valid": False, "precision": 0.0, "recall": 0.0, "f1": 0.0})
            return Score(score=0.0, passed=False, details=dict(details))
        errors = schema_errors(got.value, suite.json_schema)
        fields = compare_fields(case.expected, got.value)
        details.update({
            "schema_valid": not errors,
            "schema_errors": errors,
            "precision": fields.precision,
            "recall": fields.recall,
            "f1": fields.f1,
            "fields_expected": fields.n_expected,
            "fields_correct": fields.correct,
            "mismatches": fields.mismatches,
            "missing": fields.missing,
            "extra": fields.extra,
        })
        passed = not errors and fields.all_equal
        # output_text stays the raw answer: rescoring reads it back and must see the fence again.
        return Score(score=fields.f1, passed=passed, details=dict(details))

    def synthetic_hostile(self, row: SyntheticRow, hostile: str) -> None:
        row.details["expected"][hostile] = "x"
        super().synthetic_hostile(row, hostile)


KIND = JsonExtraction()
