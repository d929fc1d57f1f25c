"""`kind: classification`: one label per case. The answer is normalised (Unicode form, case,
surrounding whitespace, quotes and markdown emphasis, trailing punctuation) and must then equal a
label exactly; anything else is wrong and recorded as `unparsed`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...templating import render_messages
from ..base import Kind, Outcome, Prepared, Score, chat_case
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
        return chat_case(suite, model, render_messages(suite.messages, case.vars), state)

    def score(self, suite: ClassificationSuite, case: ClassificationCase, prepared: Prepared,
              outcome: Outcome) -> Score:
        answer = outcome.output_text or ""
        predicted = _label(suite, answer)
        expected = _label(suite, case.expected)
        passed = predicted == expected
        details: ClassificationDetails = {"expected": expected, "predicted": predicted, "unparsed": predicted is None}
        if prepared.state.get("dropped_params"):
            details["dropped_params"] = prepared.state["dropped_params"]
        return Score(score=1.0 if passed else 0.0, passed=passed, details=dict(details))

    def synthetic_hostile(self, row: SyntheticRow, hostile: str) -> None:
        """Row 0's answer is already the `<script>` canary (synthetic.py)."""


def _label(suite: ClassificationSuite, text: str) -> str | None:
    """The suite's label that `text` is once normalised, spelled as the suite spells it."""
    return {normalise(label): label for label in suite.labels}.get(normalise(text))


KIND = Classification()
