"""The `details` of a generation row: every check's verdict (docs/scoring.md)."""

from __future__ import annotations

from typing import TypedDict

from ..base import RowDetails


class CheckVerdict(TypedDict):
    name: str  # the check's `name`, else its type
    type: str
    passed: bool
    score: float
    weight: float
    reason: str


class GenerationDetails(RowDetails, total=False):
    checks: list[CheckVerdict]
    checks_passed: int
    threshold: float | None
