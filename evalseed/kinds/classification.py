"""`kind: classification`: one label per case. The answer is normalised (Unicode form, case,
surrounding whitespace, quotes and markdown emphasis, trailing punctuation) and must then equal a
label exactly; anything else is wrong and recorded as `unparsed`."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from pydantic import Field, model_validator

from ..suites.spec import BaseCase, BaseSuite, Message
from ..templating import render_messages
from .base import Kind, Outcome, Prepared, Score, chat_body, chat_prepared

_TRIM = " \t\r\n\"'`*_“”‘’「」『』"
_TRAILING = ".!?,;:。！？，；：、…"


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).casefold().strip(_TRIM)
    t = t.rstrip(_TRAILING).strip(_TRIM)
    return re.sub(r"\s+", " ", t)


class ClassificationCase(BaseCase):
    expected: str


class ClassificationSuite(BaseSuite):
    kind: Literal["classification"]
    labels: list[str] = Field(min_length=2)
    messages: list[Message] = Field(min_length=1)
    cases: list[ClassificationCase] = Field(min_length=1)

    @model_validator(mode="after")
    def _labels(self) -> "ClassificationSuite":
        norm = [normalise(label) for label in self.labels]
        if len(set(norm)) != len(norm):
            raise ValueError("labels: two labels are the same once normalised (case, punctuation)")
        if "" in norm:
            raise ValueError("labels: a label is empty once normalised")
        for i, case in enumerate(self.cases):
            if normalise(case.expected) not in norm:
                raise ValueError(f"cases[{i}].expected: {case.expected!r} is not one of the labels {self.labels}")
        return self


class Classification(Kind):
    name = "classification"
    suite_model = ClassificationSuite

    def prepare(self, suite: ClassificationSuite, case: ClassificationCase, model) -> Prepared:
        messages = render_messages(suite.messages, case.vars)
        body, dropped = chat_body(suite, model, messages)
        state: dict[str, Any] = {"dropped_params": dropped} if dropped else {}
        return chat_prepared(messages, body, model, state)

    def score(self, suite: ClassificationSuite, case: ClassificationCase, prepared: Prepared,
              outcome: Outcome) -> Score:
        answer = outcome.output_text or ""
        by_norm = {normalise(label): label for label in suite.labels}
        got = normalise(answer)
        predicted = by_norm.get(got)
        expected = by_norm[normalise(case.expected)]  # the label as the suite spells it
        passed = predicted == expected
        details: dict[str, Any] = {"expected": expected, "predicted": predicted, "unparsed": predicted is None}
        if prepared.state.get("dropped_params"):
            details["dropped_params"] = prepared.state["dropped_params"]
        return Score(score=1.0 if passed else 0.0, passed=passed, details=details)

    def suite_metrics(self, suite_rows: list[dict]) -> dict[str, Any]:
        ok = [r for r in suite_rows if r.get("status") == "ok"]
        return classification_metrics(
            [(r["details"] or {}).get("expected") for r in ok],
            [(r["details"] or {}).get("predicted") for r in ok],
        )


UNPARSED = "(unparsed)"


def classification_metrics(expected: list[str | None], predicted: list[str | None]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the expected labels, and the confusion matrix
    (expected -> predicted -> count, unparsed answers under "(unparsed)")."""
    n = len(expected)
    if n == 0:
        return {"n": 0, "accuracy": None, "macro_f1": None, "unparsed": 0, "confusion": {}}
    pred = [p if p is not None else UNPARSED for p in predicted]
    labels = sorted({e for e in expected if e is not None} | {p for p in pred if p != UNPARSED})
    confusion: dict[str, dict[str, int]] = {}
    for e, p in zip(expected, pred):
        row = confusion.setdefault(str(e), {})
        row[p] = row.get(p, 0) + 1
    f1s = []
    for label in labels:
        tp = sum(1 for e, p in zip(expected, pred) if e == label and p == label)
        fp = sum(1 for e, p in zip(expected, pred) if e != label and p == label)
        fn = sum(1 for e, p in zip(expected, pred) if e == label and p != label)
        denom = 2 * tp + fp + fn
        f1s.append(2 * tp / denom if denom else 0.0)
    correct = sum(1 for e, p in zip(expected, pred) if e == p)
    return {
        "n": n,
        "accuracy": correct / n,
        "macro_f1": sum(f1s) / len(f1s) if f1s else None,
        "unparsed": pred.count(UNPARSED),
        "confusion": confusion,
    }


KIND = Classification()
