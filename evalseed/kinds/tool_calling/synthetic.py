"""Synthetic tool-calling rows for the report's tests and benchmark (seeded, not measurements)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...report.synthetic import SyntheticRow

REASONS = ["no_call", "wrong_function", "wrong_arguments", "extra_call", "invalid_json_arguments"]


def suite(cases_per_suite: int) -> dict:
    return {"name": "weather-tools", "hash": "9988776655aa", "cases": cases_per_suite}


def fill(row: SyntheticRow) -> None:
    rng, ok = row.rng, row.ok
    expected = [{"get_weather": {"city": ["Paris"], "unit": ["", "celsius"]}}]
    failure = None if ok else rng.choice(REASONS)
    row.details.update(expected=expected, reason=failure, steps=rng.randint(1, 3), passed=ok,
                       failure={"reason": failure, "message": f"{failure} at call 0"} if failure else None)
    row.output = "" if failure == "no_call" else '[get_weather(city="Paris")]'
