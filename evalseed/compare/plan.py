"""`evalseed plan-gate`: how many cases, or repeats, each suite needs for the gate to catch a drop
of D points with power P, from the baseline run's own per-case pass rates, with the power math
`compare` quotes its detectable drop with (`measure.detectable_drop` / `measure.cases_needed`).

The noise the gate has to see through is how often two runs of the same model disagree on a case
(`flip`: the chance two answers to one case differ, E[2 p (1 - p)] over the cases' pass
probabilities p). A baseline that ran its cases more than once measures it: the within-model
pairwise disagreement compare reports (`measure.noise_of`). A baseline that ran each case once
cannot (every case's pass rate is 0 or 1), so a flip rate is assumed: `--flip-rate`, by default
the 19% measured between runs of the same real model (docs/ci.md), never above 2 a (1 - a), the
most two runs at accuracy a can disagree. Each output says which it used.

With r repeats on both sides a case's difference has mean square flip / r with no change, plus at
most the drop itself under a drop (`measure.cases_needed`: the drop falling on few cases, the
hardest to see; a drop spread thinly over every case is caught somewhat more often than planned).
Holm's strictest step tests one regressing suite at alpha / (suites, plus the overall line
when there is more than one suite), as `measure.power_of` assumes. Per-case score and macro-F1
tests join the same family in `compare`, so a suite with such scores has a little less power than
planned here.
"""

from __future__ import annotations

import math
from typing import Any

from .. import store
from ..errors import UsageError
from ..metrics import Accuracy
from .load import load_run, side_of, tally
from .measure import POWER, cases_needed, noise_of

# Two runs of the same real model disagree on about this share of cases (issue 15, docs/ci.md).
DEFAULT_FLIP_RATE = 0.19
MAX_REPEATS = 20


def plan_gate(con, base_run: str, *, drop: float, power: float = POWER, alpha: float = 0.05,
              min_drop: float = 0.02, flip_rate: float | None = None, model: str | None = None) -> dict[str, Any]:
    """The plan as a JSON-safe dict: settings, and per (suite, model) of the baseline its size,
    accuracy, the flip rate used and where it came from, the drop detectable now, the cases needed
    at its repeat count and the repeats needed at its case count (None: not within MAX_REPEATS)."""
    if not 0 < drop < 1:
        raise UsageError(f"--drop is an accuracy drop between 0 and 1 (0.05 = 5 points), not {drop}.")
    if not 0 < power < 1:
        raise UsageError(f"--power is between 0 and 1 (0.8 = caught 80% of the time), not {power}.")
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1 (e.g. 0.05), not {alpha}.")
    if not 0 <= min_drop < 1:
        raise UsageError(f"--min-drop is an accuracy difference between 0 and 1 (0.02 = 2 points), not {min_drop}.")
    if flip_rate is not None and not 0 < flip_rate <= 1:
        raise UsageError(f"--flip-rate is the share of cases two runs of one model disagree on (0..1), not {flip_rate}.")
    base_id = store.resolve_run(con, base_run)
    side = side_of(con, base_id)
    models = [m for m in side.models if model in (None, m)]
    if not models:
        raise UsageError(f"run {base_id} has no results" + (f" for model {model!r}; it ran {', '.join(side.models)}."
                                                            if model else "."))
    rows = load_run(con, base_id)
    units = sorted((s, m) for s, m in rows if m in models)
    tests = len(units) + (1 if len(units) > 1 else 0)
    level = alpha / tests
    suites = []
    for suite, m in units:
        cases = [rs for rs in rows[(suite, m)].values() if tally(rs)[1]]
        n = len(cases)
        repeats = max((tally(rs)[1] for rs in cases), default=1)
        acc = Accuracy.of_cases(map(tally, cases)).estimate if n else None
        noise = noise_of(cases)
        if noise is not None and flip_rate is None:
            flip, source = noise.pairwise_disagreement, f"measured: the baseline's {noise.cases} repeated cases"
        else:
            flip = flip_rate if flip_rate is not None else DEFAULT_FLIP_RATE
            source = "given (--flip-rate)" if flip_rate is not None else "assumed: the baseline ran each case once"
            if acc is not None and flip > 2 * acc * (1 - acc):
                flip = 2 * acc * (1 - acc)
                source += f", capped at 2a(1-a) for accuracy {100 * acc:.1f}%"
        rec: dict[str, Any] = {"suite": suite, "model": m, "cases": n, "repeats": repeats, "accuracy": acc,
                               "flip_rate": flip, "flip_source": source, "detectable_drop": None,
                               "cases_needed": None, "repeats_needed": None, "note": None}
        if n:
            rec["detectable_drop"] = detectable_drop_at(flip, n, repeats, level, min_drop, power)
        if drop <= min_drop:
            rec["note"] = (f"a drop of {100 * drop:g} pts is not larger than --min-drop {100 * min_drop:g} pts: "
                           "the gate never fails on it whatever the size")
        elif acc is not None and drop > acc:
            rec["note"] = f"a drop of {100 * drop:g} pts is more than the suite's accuracy {100 * acc:.1f}%"
        else:
            rec["cases_needed"] = cases_needed(flip / repeats, drop, level, 1 / repeats, power)
            rec["repeats_needed"] = next((r for r in range(1, MAX_REPEATS + 1)
                                          if n and cases_needed(flip / r, drop, level, 1 / r, power) <= n), None)
        suites.append(rec)
    return {"base_run": base_id, "drop": drop, "power": power, "alpha": alpha, "min_drop": min_drop,
            "tests": tests, "level": level, "suites": suites}


def detectable_drop_at(flip: float, n: int, repeats: int, level: float, min_drop: float,
                       power: float) -> float | None:
    """The smallest drop `cases_needed` says n cases (at r repeats) suffice for, by bisection (the
    inverse of the one formula); None when even a drop of 100 points needs more cases."""
    need = lambda d: cases_needed(flip / repeats, d, level, 1 / repeats, power)  # noqa: E731
    if need(1.0) > n:
        return None
    lo, hi = 1e-6, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if need(mid) <= n else (mid, hi)
    return max(hi, min_drop)


def print_plan(plan: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    d, p = plan["drop"], plan["power"]
    console.print(f"[bold]evalseed plan-gate[/]  baseline {plan['base_run']}: to catch a drop of {100 * d:g} pts "
                  f"{100 * p:g}% of the time at alpha {plan['alpha']:g} (Holm over {plan['tests']} test{'s' if plan['tests'] != 1 else ''}: "
                  f"the strictest level {plan['level']:.3g}), --min-drop {100 * plan['min_drop']:g} pts")
    table = Table(header_style="bold")
    for col in ("suite", "model", "cases", "repeats", "accuracy", "flip rate", "detectable now", "cases needed",
                "or repeats"):
        table.add_column(col, justify="left" if col in ("suite", "model") else "right")
    for s in plan["suites"]:
        table.add_row(s["suite"], s["model"], str(s["cases"]), str(s["repeats"]),
                      "-" if s["accuracy"] is None else f"{100 * s['accuracy']:.1f}%",
                      f"{100 * s['flip_rate']:.1f}%", _pts(s["detectable_drop"]),
                      "-" if s["cases_needed"] is None else f"{s['cases_needed']:,}",
                      "-" if s["repeats_needed"] is None else f"{s['repeats_needed']} x {s['cases']}")
    console.print(table)
    for s in plan["suites"]:
        console.print(f"  {s['suite']} [{s['model']}]: flip rate {s['flip_source']}"
                      + (f"; {s['note']}" if s["note"] else ""), markup=False)
    console.print("  cases needed: at the suite's repeat count, both runs that many cases; repeats: both runs "
                  f"repeating every case that often (up to {MAX_REPEATS}).", markup=False)


def _pts(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{100 * x:.1f} pts"


def plan_command(db: str, base_run: str, *, as_json: bool = False, **settings: Any) -> int:
    import json

    con = store.open_db(db, read_only=True)
    try:
        plan = plan_gate(con, base_run, **settings)
    finally:
        con.close()
    if as_json:
        print(json.dumps(plan, indent=2))
    else:
        print_plan(plan)
    return 0
