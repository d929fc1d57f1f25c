"""Synthetic generation rows for the report's tests and benchmark (seeded, not measurements): every
reply runs the same four checks, and every third case one more of its own (so per-check pass rates
are taken over different numbers of cases, as case-level checks make them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .details import CheckVerdict

if TYPE_CHECKING:
    from ...report.synthetic import SyntheticRow

REFERENCE = "Your refund of 42.50 EUR was issued on 3 March. Larkspur Support"
CHECKS = [("no-placeholders", "not-contains"), ("no-ai-disclaimer", "not-contains"), ("short-enough", "length"),
          ("rouge-l", "rouge-l")]
CASE_CHECK = ("states-amount", "contains")


def suite(cases_per_suite: int) -> dict:
    return {"name": "support-replies", "hash": "5eed9e4e7a71", "cases": cases_per_suite}


def fill(row: SyntheticRow) -> None:
    rng = row.rng
    checks = CHECKS + ([CASE_CHECK] if row.i % 3 == 0 else [])
    verdicts: list[CheckVerdict] = []
    for name, type_ in checks:
        ok = rng.random() < row.skill
        score = 1.0 if ok else (rng.uniform(0, 0.3) if type_ == "rouge-l" else 0.0)
        verdicts.append({"name": name, "type": type_, "passed": ok, "score": score, "weight": 1.0,
                         "reason": "passed" if ok else f"{type_} failed"})
    row.ok = all(v["passed"] for v in verdicts)
    row.score = sum(v["score"] for v in verdicts) / len(verdicts)
    row.details.update(expected=REFERENCE, checks=verdicts, threshold=None,
                       checks_passed=sum(v["passed"] for v in verdicts))
    row.output = REFERENCE if row.ok else "Dear [Customer Name], as an AI I cannot see your order."
