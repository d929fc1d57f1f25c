"""`kind: classification`: one label per case. The answer is normalised (Unicode form, case,
surrounding whitespace, quotes and markdown emphasis, trailing punctuation) and must then equal a
label exactly; anything else is wrong and recorded as `unparsed`.

Constrained answers (issue 20): when the suite says `response_format: labels` and the model takes
a JSON schema, or the model is a `[constrained=true]` variant, the request carries the schema
`{"label": enum of the labels}` (OpenAI's `json_schema`, or `json_object` + `schema` where that is
how the model's server takes one, `ModelInfo.schema_wire`), and the scorer reads the label inside
the JSON. A `[constrained=false]` variant is never constrained. A suite asking for labels on a model
that takes no schema gets a free answer, recorded as `degraded`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ...templating import render_messages
from ..base import Kind, Outcome, Prepared, Score, chat_body, chat_prepared
from .details import ClassificationDetails
from .spec import ClassificationCase, ClassificationSuite, normalise

if TYPE_CHECKING:
    from ...config import ModelInfo
    from ...report.synthetic import SyntheticRow


class Classification(Kind[ClassificationSuite, ClassificationCase]):
    name = "classification"
    suite_model = ClassificationSuite
    title = "Classification: confusion matrices"
    starter_file = "support-triage.yaml"

    def prepare(self, suite: ClassificationSuite, case: ClassificationCase, model: ModelInfo) -> Prepared:
        # The label as the suite spells it, on error and skipped rows too: macro-F1 counts an
        # error as a miss of its expected label, which must be the same string as in ok rows.
        state: dict[str, Any] = {"detail_expected": _label(suite, case.expected)}
        messages = render_messages(suite.messages, case.vars)
        body, dropped = chat_body(suite, model, messages)
        constrained = constrained_for(suite, model)
        state["response_format_used"] = "labels" if constrained else "none"
        if suite.response_format == "labels" and not constrained and model.constrained is None:
            state["degraded"] = True
        if constrained:
            body["response_format"] = labels_format(suite, model)
            # The JSON around the label takes tokens a bare label does not (`{"label": "mixed"}` is
            # about 8 with the model's spacing): a budget meant for one word would cut it.
            key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
            asked = body.get(key)
            if isinstance(asked, int) and asked < CONSTRAINED_MIN_TOKENS:
                body[key] = CONSTRAINED_MIN_TOKENS
                dropped.append(f"{key}={asked} (raised to {CONSTRAINED_MIN_TOKENS} for the JSON around the label)")
        if dropped:
            state["dropped_params"] = dropped
        return chat_prepared(messages, body, model, state)

    def score(self, suite: ClassificationSuite, case: ClassificationCase, prepared: Prepared,
              outcome: Outcome) -> Score:
        answer = outcome.output_text or ""
        used = prepared.state.get("response_format_used", "none")
        predicted = _label(suite, json_label(answer) if used == "labels" else answer)
        expected = _label(suite, case.expected)
        passed = predicted == expected
        details: ClassificationDetails = {"expected": expected, "predicted": predicted, "unparsed": predicted is None,
                                          "response_format_used": used,
                                          "degraded": bool(prepared.state.get("degraded"))}
        if prepared.state.get("dropped_params"):
            details["dropped_params"] = prepared.state["dropped_params"]
        return Score(score=1.0 if passed else 0.0, passed=passed, details=dict(details))

    def synthetic_hostile(self, row: SyntheticRow, hostile: str) -> None:
        """Row 0's answer is already the `<script>` canary (synthetic.py)."""


#: the least output budget a constrained answer gets (the label plus its JSON).
CONSTRAINED_MIN_TOKENS = 32


def constrained_for(suite: ClassificationSuite, model: ModelInfo) -> bool:
    """Whether `model`'s answers to `suite` are constrained to the label schema: the variant's
    `constrained` when it sets one, else the suite's `response_format` where the model takes a
    JSON schema."""
    if model.constrained is not None:
        return model.constrained
    return suite.response_format == "labels" and model.structured_output and bool(model.schema_wire)


def label_schema(suite: ClassificationSuite) -> dict[str, Any]:
    """`{"label": one of the labels}`, an object (OpenAI's strict structured output takes only
    objects at the top)."""
    return {"type": "object", "properties": {"label": {"type": "string", "enum": list(suite.labels)}},
            "required": ["label"], "additionalProperties": False}


def labels_format(suite: ClassificationSuite, model: ModelInfo) -> dict[str, Any]:
    """The `response_format` carrying the label schema, as the model's server takes a schema."""
    schema = label_schema(suite)
    if model.schema_wire == "json_object":  # llama-cpp-python's server: a grammar from the schema
        return {"type": "json_object", "schema": schema}
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", suite.name)[:64] or "labels"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def json_label(answer: str) -> str:
    """The label inside a constrained answer (`{"label": "mixed"}`, also in a code fence); the
    answer itself when it is no such JSON (a server that ignored the schema), which the
    free-answer rules then read. Never raises."""
    from ...scoring.json_fields import extract_json

    got = extract_json(answer)
    if got.parsed and isinstance(got.value, dict) and isinstance(got.value.get("label"), str):
        return got.value["label"]
    return answer


def _label(suite: ClassificationSuite, text: str) -> str | None:
    """The suite's label that `text` is once normalised, spelled as the suite spells it."""
    return {normalise(label): label for label in suite.labels}.get(normalise(text))


KIND = Classification()
