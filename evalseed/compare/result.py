"""What `evalseed compare` finds, as data: the result tree that `compare.runs` builds and the
output formats (`terminal`, `markdown`, `junit`, `write`) and the report's comparison view show.
It imports nothing else of the package, so every module of it can use these types.

Accuracy (`base_accuracy`, `cand_accuracy`, and `accuracy` in `base_metrics`/`cand_metrics`) is
evalseed.metrics' definition over the side's paired rows -- the figure the run summary and the
report show for the same rows (errors count as failures). `diff`, `worse`/`better` and the test
pair each case's pass rate over its answered (ok) repeats, on the `n_answered` cases answered on
both sides; so with errors or skips `diff` is not `cand_accuracy - base_accuracy`. Errors and skips
are compared apart (`unanswered`).

`Comparison.to_dict()` is the stable, JSON-safe form the HTML report and `--json` consumers read
(NaN becomes null). Its shape (schema 1):

    {"schema": 1, "failed": bool, "infra_failed": bool,
     "verdict": "regression" | "infrastructure failure" | "no regression",
     "base": Side, "cand": Side,
     "settings": {"alpha", "min_drop", "max_cost_increase", "max_latency_increase", "allow_partial",
                  "confidence", "n_resamples", "seed"},
     "units": [Unit, ...], "overall": Unit | null, "notes": [str, ...],
     "partial": [str, ...]           (empty when the candidate covers the base and both finished),
     "new_suites": [{"suite", "model", "cases", "accuracy", "min_accuracy", "failed", "reason"}]}
    Side = {"run_id", "label", "status", "started_at", "models": [str]}
    Unit = {"name", "suite", "kind", "base_model", "cand_model", "n_pairs",
            "repeats": {"base": int, "cand": int},
            "excluded": {"both_skipped", "only_in_base", "only_in_cand"},
            "skipped_one_side": {"base": int, "cand": int},
            "status_counts": {"base": {"ok", "error", "skipped", "filtered"}, "cand": {...}},
            "base_accuracy": Interval, "cand_accuracy": Interval, "accuracy_method": "wilson"|"bootstrap",
            "diff": Interval, "worse": int, "better": int, "p_value": float, "p_holm": float|null,
            "base_score": float|null, "cand_score": float|null,
            "base_metrics": Metrics|null, "cand_metrics": Metrics|null,
            "noise": {"base": Noise|null, "cand": Noise|null},
            "flips": {"regressed": [Flip], "improved": [Flip]},
            "cost": Delta, "latency_p50": Delta, "latency_p95": Delta, "ttft_p50": Delta, "ttft_p95": Delta,
            "verdict": "regression" | "improvement" | "no significant change", "failed": bool,
            "reasons": [str], "fail_reasons": [str], "min_accuracy": float|null,
            "n_answered": int, "left_out": {"base_error", "base_skipped", "cand_error", "cand_skipped"},
            "unanswered": {"base_rate", "cand_rate", "base_errors", "base_skipped", "cand_errors",
                           "cand_skipped", "more", "fewer", "diff", "p_value", "p_holm"},
            "infra_failed": bool, "infra_reasons": [str],
            "power": {"power", "tests", "level", "mdd", "min_flips", "can_fail", "warning"},
            "metric_tests": [{"metric", "level": "case"|"suite", "n", "base", "cand", "diff": Interval,
                              "p_value", "p_holm", "failed", "reason"}]}
    Interval = {"estimate", "low", "high", "confidence"}
    Metrics = the record `evalseed runs RUN_ID --json` prints for a suite and model (cases, rows,
              ok, errors, skipped, accuracy, the kind's metrics), over the side's paired rows
    Noise = {"cases": int, "unstable_cases": int, "unstable_rate": float, "pairwise_disagreement": float}
    Flip = {"case_id", "base", "cand", "base_status", "cand_status", "base_error", "cand_error",
            "expected", "base_output", "cand_output"}          (base/cand: pass rate 0..1)
    Delta = {"metric", "unit", "n", "base", "cand", "diff": Interval|null, "ratio": float|null}
    ("ratio" is cand/base - 1; "overall" has suite "*" and empty flips lists.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .. import stats

SCHEMA = 1


@dataclass
class Side:
    run_id: str
    label: str | None
    status: str | None
    started_at: str | None
    models: list[str]


@dataclass
class Noise:
    """Within-model noise over cases run more than once on one side."""

    cases: int
    unstable_cases: int
    unstable_rate: float
    # Chance that two different repeats of the same case disagree, averaged over cases.
    pairwise_disagreement: float


@dataclass
class Flip:
    case_id: str
    base: float
    cand: float
    base_status: str
    cand_status: str
    base_error: str | None = None
    cand_error: str | None = None
    expected: Any = None
    base_output: str | None = None
    cand_output: str | None = None


@dataclass
class Delta:
    metric: str  # cost | latency_p50 | latency_p95 | ttft_p50 | ttft_p95
    unit: str  # usd_per_case | ms
    n: int
    base: float | None
    cand: float | None
    diff: stats.Interval | None
    ratio: float | None


@dataclass
class Unit:
    name: str
    suite: str
    kind: str | None
    base_model: str
    cand_model: str
    n_pairs: int
    repeats: dict[str, int]
    excluded: dict[str, int]
    # Paired cases whose every row on that side was skipped: left out of that side's accuracy,
    # counted as failed in the difference (the other side answered them).
    skipped_one_side: dict[str, int]
    status_counts: dict[str, dict[str, int]]
    base_accuracy: stats.Interval
    cand_accuracy: stats.Interval
    accuracy_method: str
    diff: stats.Interval
    worse: int
    better: int
    p_value: float
    p_holm: float | None
    base_score: float | None
    cand_score: float | None
    noise: dict[str, Noise | None]
    flips: dict[str, list[Flip]]
    cost: Delta
    latency_p50: Delta
    latency_p95: Delta
    ttft_p50: Delta
    ttft_p95: Delta
    verdict: str = "no significant change"
    failed: bool = False
    reasons: list[str] = field(default_factory=list)
    # The reasons (a subset of `reasons`) that made the unit fail; empty when it did not fail.
    fail_reasons: list[str] = field(default_factory=list)
    # Each side's record from evalseed.metrics over its paired rows (counts, accuracy, the kind's
    # metrics such as macro_f1); None for "overall", which pools suites of different kinds.
    base_metrics: dict[str, Any] | None = None
    cand_metrics: dict[str, Any] | None = None
    # The suite's gate.min_accuracy (from the candidate run's config); None without a floor.
    min_accuracy: float | None = None
    # The quality test's cases: those answered (an ok row) on both sides; `left_out` counts the
    # others per side by why (`base_error`, `base_skipped`, `cand_error`, `cand_skipped`).
    n_answered: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    # Errors apart from quality: {base_rate, cand_rate (shares of rows), base_errors, base_skipped,
    # cand_errors, cand_skipped, more, fewer (cases with a higher/lower unanswered share), diff (mean
    # per-case change), p_value, p_holm}.
    unanswered: dict[str, Any] = field(default_factory=dict)
    infra_failed: bool = False
    infra_reasons: list[str] = field(default_factory=list)
    # What the unit can detect (`measure.power_of`): {power (0.8), tests (the Holm family's size),
    # level (alpha / tests), mdd (minimum detectable drop at that power and level, accuracy units),
    # min_flips (fewest pass->fail cases that could fail it), can_fail, warning (str or null)}.
    power: dict[str, Any] = field(default_factory=dict)
    # Tests of metrics beyond pass/fail (`measure._score_tests`), in the same Holm family as the
    # accuracy tests: [{metric ("field F1", "score", "schema-valid", "macro-F1"...), level ("case":
    # a per-case score; "suite": macro-F1), n, base, cand, diff: Interval, p_value, p_holm, failed,
    # reason}].
    metric_tests: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Comparison:
    base: Side
    cand: Side
    settings: dict[str, Any]
    units: list[Unit]
    overall: Unit | None
    notes: list[str]
    failed: bool = False
    # Why the comparison covers less than the base run (--allow-partial): one statement each;
    # empty when it is complete. Every output repeats them.
    partial: list[str] = field(default_factory=list)
    # Suites only the candidate ran: {suite, model, cases, accuracy, min_accuracy, failed, reason}.
    new_suites: list[dict[str, Any]] = field(default_factory=list)
    # The candidate left significantly more unanswered than the base (exit 3, not a regression).
    infra_failed: bool = False

    @property
    def verdict(self) -> str:
        if self.failed:
            return "regression"
        return "infrastructure failure" if self.infra_failed else "no regression"

    def to_dict(self) -> dict:
        """The JSON-safe dict documented in this module's docstring (NaN -> None)."""
        return _plain(
            {
                "schema": SCHEMA,
                "failed": self.failed,
                "infra_failed": self.infra_failed,
                "verdict": self.verdict,
                "base": self.base,
                "cand": self.cand,
                "settings": self.settings,
                "units": self.units,
                "overall": self.overall,
                "notes": self.notes,
                "partial": self.partial,
                "new_suites": self.new_suites,
            }
        )


def _plain(v: Any) -> Any:
    if isinstance(v, stats.Interval):
        return _plain(v.to_dict())
    if hasattr(v, "__dataclass_fields__"):
        return {k: _plain(getattr(v, k)) for k in v.__dataclass_fields__}
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalar
        return _plain(v.item())
    return v
