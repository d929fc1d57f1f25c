"""Synthetic JSON extraction rows for the report's tests and benchmark (seeded, not measurements)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...report.synthetic import SyntheticRow

PATHS = ["vendor", "total", "currency", "lines[0].sku", "lines[0].qty", "lines[1].sku", "lines[1].qty"]


def suite(cases_per_suite: int) -> dict:
    return {"name": "invoices", "hash": "0f1e2d3c4b5a", "cases": cases_per_suite}


def fill(row: SyntheticRow) -> None:
    rng, i, ok = row.rng, row.i, row.ok
    expected = {"vendor": f"ACME {i}", "total": 10.5 + i, "currency": "EUR",
                "lines": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}]}
    parsed = ok or rng.random() < 0.8
    wrong = [] if ok else [p for p in PATHS if rng.random() < 0.4]
    right = len(PATHS) - len(wrong) if parsed else 0
    f1 = right / len(PATHS)
    row.score = f1
    row.details.update(expected=expected, parsed=parsed, fenced=rng.random() < 0.1, degraded="flash" in row.model,
                       schema_valid=parsed and (ok or rng.random() < 0.5), precision=f1, recall=f1, f1=f1,
                       fields_expected=len(PATHS), fields_correct=right,
                       mismatches=[{"path": p, "expected": "x", "got": "y"} for p in wrong[::2]],
                       missing=wrong[1::2])
    row.output = '{"vendor": "ACME", "total": 10.5}' if parsed else "Sure! Here is the JSON you asked for"
