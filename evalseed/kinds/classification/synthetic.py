"""Synthetic classification rows for the report's tests and benchmark (seeded, not measurements).
Row 0 answers with the `<script>` canary the escaping tests look for."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...report.synthetic import SyntheticRow

LABELS = ["positive", "negative", "neutral"]


def suite(cases_per_suite: int) -> dict:
    return {"name": "sentiment", "hash": "a1b2c3d4e5f6", "cases": cases_per_suite}


def fill(row: SyntheticRow) -> None:
    from ...report.synthetic import SCRIPT_ANSWER

    rng, i = row.rng, row.i
    expected = LABELS[i % 3]
    if row.ok:
        predicted: str | None = expected
    else:
        predicted = rng.choice([lab for lab in LABELS if lab != expected] + [None])
    row.output = predicted or "I think it is sort of mixed?"
    row.details.update(expected=expected, predicted=predicted, unparsed=predicted is None)
    row.input_text = f"Review #{i}: the battery {'died after two days' if i % 3 == 1 else 'is fine'}. <b>bold?</b>"
    if i == 0:
        # The escaping canary: a hostile answer must show as text in the report.
        row.output = SCRIPT_ANSWER
        row.details.update(predicted=None, unparsed=True)
        row.ok, row.score = False, 0.0
