"""Synthetic long-context rows for the report's tests and benchmark (seeded, not measurements): a
grid of lengths and depths where long contexts are harder, and a small model's window skips."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...report.synthetic import SyntheticRow

GRID_TOKENS = [1000, 4000, 16000, 64000]
DEPTHS = [0.0, 0.25, 0.5, 0.75, 1.0]


def suite(cases_per_suite: int) -> dict:
    return {"name": "needles", "hash": "1234abcd5678", "cases": cases_per_suite}


def fill(row: SyntheticRow) -> None:
    rng, i = row.rng, row.i
    target = GRID_TOKENS[i % len(GRID_TOKENS)]
    depth = DEPTHS[(i // len(GRID_TOKENS)) % len(DEPTHS)]
    p = row.skill - (0.25 * depth * (target / 64000))
    row.ok = ok = rng.random() < p
    row.score = score = 1.0 if ok else rng.uniform(0, 0.5)
    expected = "the blue key is under the mat"
    row.details.update(expected=expected, target_tokens=target, depth=depth, contains=ok, token_f1=score)
    row.output = expected if ok else "I could not find it."
    row.prompt_tokens = target
    if target > 32000 and "flash" in row.model and rng.random() < 0.3:
        row.status, row.error = "skipped", f"case needs {target} tokens; model window is 32768"
