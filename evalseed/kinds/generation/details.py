"""The `details` of a generation row: every check's verdict (docs/scoring.md)."""

from __future__ import annotations

from typing import Any, TypedDict

from ..base import RowDetails


class JudgeCallUsage(TypedDict, total=False):
    """One judge call, measured as the engine measures every call, priced as the judge model."""

    model: str
    cost_usd: float | None
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None
    attempts: int


class JudgeRecord(TypedDict):
    """What a judge check's verdict keeps of the judge: its model, the score it gave (None for a
    verdict that could not be used), its reason and raw answer, the response_format it was asked
    with, its call's usage, and whether a rescore reused a stored verdict."""

    model: str
    score: float | None
    reason: str
    raw: str
    response_format: str | None
    usage: JudgeCallUsage
    reused: bool


class _Verdict(TypedDict):
    name: str  # the check's `name`, else its type
    type: str
    passed: bool
    score: float
    weight: float
    reason: str


class CheckVerdict(_Verdict, total=False):
    judge: JudgeRecord  # judge checks
    human_passed: bool  # judge checks of a case with a human label: the label as a verdict
    details: Any  # python checks: what the scorer returned as details


class JudgeUsage(TypedDict):
    """`details.judge`: the row's judge calls in all, kept apart from the graded answer's columns
    (`cost_usd`, tokens, latency are the graded model's alone)."""

    calls: int
    models: list[str]
    cost_usd: float | None
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None


class GenerationDetails(RowDetails, total=False):
    checks: list[CheckVerdict]
    checks_passed: int
    threshold: float | None
    judge: JudgeUsage
    human: str | float  # the case's human label (`pass` / `fail` or a score)
