"""The `details` of a tool-calling row: the calls made, the trajectory's length, and the verdict of
scoring.bfcl_ast (`reason` is the first typed failure, docs/design.md)."""

from __future__ import annotations

from typing import Any

from ..base import RowDetails


class ToolCallingDetails(RowDetails, total=False):
    order: str  # "any" | "strict"
    calls: list[dict[str, Any]]  # {"name", "arguments"}, at most 50
    steps: int
    stopped: str | None
    irrelevance: bool  # the case expects no call
    degraded: bool
    # scoring.bfcl_ast.Verdict.to_dict()
    passed: bool
    reason: str | None
    failure: dict[str, Any] | None
    matching: list[list[int]]
    greedy_passed: bool | None
    n_calls: int
    n_expected: int
