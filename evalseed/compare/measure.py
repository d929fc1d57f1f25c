"""The statistics of one compared unit (a suite and a model pair, or "overall"): each side's
accuracy and its interval, the paired difference and test, the unanswered shares, per-case
scores, cost and latency changes, flipped cases, within-model noise, and what the unit can detect
at its size (`power_of`)."""

from __future__ import annotations

import math
import zlib
from typing import Any

from .. import stats
from ..kinds import score_name
from ..metrics import Accuracy, rules
from .load import ANSWERED, Paired, Row, asked, quality, tally, unanswered_share, why_unanswered
from .result import Delta, Flip, Noise, Unit

# Cost/latency/TTFT intervals are descriptive (a limit gates only on their lower bound): fewer
# resamples than the accuracy difference's 10,000 keep a 5,000-case comparison near a second.
SECONDARY_RESAMPLES = 2_000


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def noise_of(cases: list[list[Row]]) -> Noise | None:
    """Within-model noise over the cases asked more than once (None when none was)."""
    multi = [(k, n) for k, n in map(tally, cases) if n > 1]
    if not multi:
        return None
    unstable = 0
    disagreement = 0.0
    for k, r in multi:
        unstable += 0 < k < r
        disagreement += 2 * k * (r - k) / (r * (r - 1))
    return Noise(len(multi), unstable, unstable / len(multi), disagreement / len(multi))


def _per_case(rows: list[Row], attr: str, ok_only: bool) -> float | None:
    vals = [getattr(r, attr) for r in rows if getattr(r, attr) is not None and (r.status == "ok" or not ok_only)]
    return _mean(vals)


def _mean_delta(metric: str, pairs: list[tuple[float, float]], seed: int, n_resamples: int,
                strata: list | None = None) -> Delta:
    import numpy as np

    if not pairs:
        return Delta(metric, "usd_per_case", 0, None, None, None, None)
    b: Any = np.array([p[0] for p in pairs], dtype=float)
    c: Any = np.array([p[1] for p in pairs], dtype=float)
    base, cand = float(b.mean()), float(c.mean())
    diff = stats.paired_bootstrap_diff(b, c, strata=strata, n_resamples=n_resamples, seed=seed)
    return Delta(metric, "usd_per_case", len(pairs), base, cand, diff, cand / base - 1 if base > 0 else None)


def _quantile_deltas(metric: str, pairs: list[tuple[float, float]], seed: int, n_resamples: int) -> list[Delta]:
    """p50 and p95 deltas (named `{metric}_p50`, `{metric}_p95`) from one set of resamples."""
    import numpy as np

    names = [f"{metric}_p50", f"{metric}_p95"]
    if not pairs:
        return [Delta(n, "ms", 0, None, None, None, None) for n in names]
    b: Any = np.array([p[0] for p in pairs], dtype=float)
    c: Any = np.array([p[1] for p in pairs], dtype=float)
    diffs = stats.paired_bootstrap_quantile_diffs(b, c, [0.5, 0.95], n_resamples=n_resamples, seed=seed)
    out = []
    for name, q, diff in zip(names, (0.5, 0.95), diffs):
        base, cand = float(np.quantile(b, q)), float(np.quantile(c, q))
        out.append(Delta(name, "ms", len(pairs), base, cand, diff, cand / base - 1 if base > 0 else None))
    return out


def measure_unit(name: str, p: Paired, *, n_resamples: int, seed: int, strata: list | None = None) -> Unit:
    seed = seed + zlib.crc32(name.encode())  # a stream of its own per unit, stable across runs
    n = len(p.case_ids)
    # The quality test runs on the cases answered on both sides; the others are counted by why.
    answered: list[int] = []
    bv: list[float] = []
    cv: list[float] = []
    for i, (x, y) in enumerate(zip(map(quality, p.base), map(quality, p.cand))):
        if x is not None and y is not None:
            answered.append(i)
            bv.append(x)
            cv.append(y)
    left_out = {"base_error": 0, "base_skipped": 0, "cand_error": 0, "cand_skipped": 0}
    for side, cases in (("base", p.base), ("cand", p.cand)):
        for rows in cases:
            if quality(rows) is None:
                left_out[f"{side}_{why_unanswered(rows)}"] += 1
    q_strata = [strata[i] for i in answered] if strata else None
    # Each side's accuracy is evalseed.metrics' figure over its paired rows, the one the run
    # summary and the report show for the same rows; the difference and the test pair cases.
    b_acc, c_acc = Accuracy.of_cases(map(tally, p.base)), Accuracy.of_cases(map(tally, p.cand))
    method = "wilson" if b_acc.single and c_acc.single else "bootstrap"
    base_acc = b_acc.interval(n_resamples=n_resamples, seed=seed + 1, method=method)
    cand_acc = c_acc.interval(n_resamples=n_resamples, seed=seed + 2, method=method)
    skipped_one_side = {"base": sum(1 for rows in p.base if not tally(rows)[1]),
                        "cand": sum(1 for rows in p.cand if not tally(rows)[1])}
    diff = stats.paired_bootstrap_diff(bv, cv, strata=q_strata, n_resamples=n_resamples, seed=seed)
    # The test is on the mean of the per-case differences (a sign-flip permutation test: exact
    # McNemar on single runs); worse/better are the counts shown beside it.
    _, worse, better = stats.sign_test(bv, cv)
    p_value = stats.paired_permutation_test(bv, cv, n_resamples=n_resamples, seed=seed + 7)
    ub = [unanswered_share(rows) for rows in p.base]
    uc = [unanswered_share(rows) for rows in p.cand]
    _, u_worse, u_better = stats.sign_test([-x for x in ub], [-x for x in uc])
    u_p = stats.paired_permutation_test(ub, uc, n_resamples=n_resamples, seed=seed + 8)
    rows_of = lambda side: sum(p.status_counts[side].values()) or 1  # noqa: E731
    unanswered = {
        "base_rate": (p.status_counts["base"].get("error", 0) + p.status_counts["base"].get("skipped", 0)) / rows_of("base"),
        "cand_rate": (p.status_counts["cand"].get("error", 0) + p.status_counts["cand"].get("skipped", 0)) / rows_of("cand"),
        "cand_errors": p.status_counts["cand"].get("error", 0), "cand_skipped": p.status_counts["cand"].get("skipped", 0),
        "base_errors": p.status_counts["base"].get("error", 0), "base_skipped": p.status_counts["base"].get("skipped", 0),
        "more": u_worse, "fewer": u_better, "diff": (sum(uc) - sum(ub)) / n if n else 0.0,
        "p_value": u_p, "p_holm": None,
    }

    def scores(cases):
        # Mean score as the report's: per case over its asked repeats (an error scores 0), then over cases.
        per_case = []
        for rows in cases:
            got = [r for r in rows if asked(r.status)]
            if got:
                per_case.append(sum(rules.answer_value(r.status, rules.score(r.score, r.passed))
                                    for r in got) / len(got))
        return _mean(per_case)

    def pairs(attr, ok_only):
        out, st = [], []
        for i, (b, c) in enumerate(zip(p.base, p.cand)):
            x, y = _per_case(b, attr, ok_only), _per_case(c, attr, ok_only)
            if x is not None and y is not None:
                out.append((x, y))
                st.append(strata[i] if strata else None)
        return out, (st if strata else None)

    cost_pairs, cost_strata = pairs("cost_usd", False)
    lat_pairs, _ = pairs("latency_ms", True)
    ttft_pairs, _ = pairs("ttft_ms", True)
    n_secondary = min(n_resamples, SECONDARY_RESAMPLES)
    lat = _quantile_deltas("latency", lat_pairs, seed + 4, n_secondary)
    ttft = _quantile_deltas("ttft", ttft_pairs, seed + 6, n_secondary)
    flips: dict[str, list[Flip]] = {"regressed": [], "improved": []}
    for cid, b, c, x, y in zip([p.case_ids[i] for i in answered], [p.base[i] for i in answered],
                               [p.cand[i] for i in answered], bv, cv):
        if x != y:
            flips["regressed" if y < x else "improved"].append(
                Flip(cid, x, y, _status_summary(b), _status_summary(c),
                     next((r.error for r in b if r.error), None), next((r.error for r in c if r.error), None))
            )
    u = Unit(
        name=name, suite=p.suite, kind=p.kind, base_model=p.base_model, cand_model=p.cand_model, n_pairs=n,
        n_answered=len(answered), left_out=left_out, unanswered=unanswered,
        repeats={"base": max((len(r) for r in p.base), default=0), "cand": max((len(r) for r in p.cand), default=0)},
        excluded=p.excluded, skipped_one_side=skipped_one_side, status_counts=p.status_counts,
        base_accuracy=base_acc, cand_accuracy=cand_acc, accuracy_method=method, diff=diff,
        worse=worse, better=better, p_value=p_value, p_holm=None,
        base_score=scores(p.base), cand_score=scores(p.cand),
        noise={"base": noise_of(p.base), "cand": noise_of(p.cand)},
        flips=flips,
        cost=_mean_delta("cost", cost_pairs, seed + 3, n_secondary, strata=cost_strata),
        latency_p50=lat[0], latency_p95=lat[1], ttft_p50=ttft[0], ttft_p95=ttft[1], min_accuracy=p.min_accuracy,
    )
    # Not part of the result tree (no dataclass field): what the power figures are computed from.
    setattr(u, "_quality_pairs", (bv, cv))
    if p.suite != "*":  # "overall" pools kinds whose scores mean different things
        u.metric_tests = _score_tests(p, answered, n_resamples, seed)
    return u


# The per-case scores a kind records, as the metrics layer names them in its records
# (docs/design.md, "Metrics"; each the mean over the case's asked repeats, an error counting 0),
# all higher-is-better, with the name the outputs show. Generation's `check_pass_rates` add one
# per check ("check NAME").
CASE_METRICS = {
    "valid_json_rate": "valid JSON", "schema_valid_rate": "schema-valid", "mean_field_f1": "field F1",
    "mean_precision": "field precision", "mean_recall": "field recall",
    "call_accuracy": "tool-call correctness", "irrelevance_accuracy": "irrelevance correctness",
    "mean_f1": "answer F1", "mean_score": "score",
}


def _score_tests(p: Paired, answered: list[int], n_resamples: int, seed: int) -> list[dict]:
    """Everything gated beyond pass/fail, on the cases answered on both sides, each a member of
    the quality tests' Holm family:

    - the kind's `score` (json_extraction's field F1; long context's, image's and generation's
      partial scores): each case's mean over its answered repeats, paired bootstrap test of the
      mean change;
    - every per-case score of the kind's metrics record (`CASE_METRICS`: schema-valid, valid
      JSON, field precision/recall, tool-call correctness, per-check pass rates...), taken from
      evalseed.metrics grouped by case, tested the same way;
    - suite-level metrics that are no mean over cases (classification's macro-F1, by
      `metrics.label_metrics` on the summed confusion cells): paired bootstrap over cases
      (`stats.paired_bootstrap_statistic`).

    A candidate that is pass/fail again (equal on every case to the pass rate the accuracy test
    pairs), a repeat of a metric already tested, or one that changed on no case is not tested:
    it would spend alpha and can never reject (the tests condition on the per-case differences'
    sizes, which are then all zero)."""
    seen: list[tuple[list[float], list[float]]] = [([quality_of(p.base[i]) for i in answered],
                                                    [quality_of(p.cand[i]) for i in answered])]
    out: list[dict] = []

    def add(name: str, idx: list[int], b: list[float], c: list[float], k: int) -> None:
        if not b or all(abs(x - y) < 1e-12 for x, y in zip(b, c)):
            return
        if len(idx) == len(answered) and any(_same(b, c, sb, sc) for sb, sc in seen):
            return
        seen.append((b, c))
        out.append({
            "metric": name, "level": "case", "n": len(b), "base": sum(b) / len(b), "cand": sum(c) / len(c),
            "diff": stats.paired_bootstrap_diff(b, c, n_resamples=n_resamples, seed=seed + 11 + 2 * k),
            "p_value": stats.paired_bootstrap_test(b, c, n_resamples=n_resamples, seed=seed + 12 + 2 * k),
            "p_holm": None, "failed": False, "reason": None,
        })

    def case_score(rows):
        # Over the answered repeats, a filtered one scoring 0 (rules.answer_value), as in `quality`.
        vals = [rules.answer_value(r.status, rules.score(r.score, r.passed)) for r in rows if r.status in ANSWERED
                and (r.status != "ok" or rules.score(r.score, r.passed) is not None)]
        return sum(vals) / len(vals) if vals else None

    pairs = [(i, case_score(p.base[i]), case_score(p.cand[i])) for i in answered]
    pairs = [(i, x, y) for i, x, y in pairs if x is not None and y is not None]
    add(score_name(p.kind), [i for i, _, _ in pairs],
        [x for _, x, _ in pairs], [y for _, _, y in pairs], 0)
    if p.case_metrics is None:
        return out
    base_recs, cand_recs = p.case_metrics
    names: dict[str, str] = {}
    for i in answered:
        for rec in (base_recs[i], cand_recs[i]):
            for key in (rec or {}):
                if key in CASE_METRICS:
                    names.setdefault(key, CASE_METRICS[key])
            for check in ((rec or {}).get("check_pass_rates") or {}):
                names.setdefault(f"check_pass_rates.{check}", f"check {check}")

    def value(rec, key):
        if rec is None:
            return None
        v = rec.get("check_pass_rates", {}).get(key.split(".", 1)[1]) if key.startswith("check_pass_rates.") \
            else rec.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    for k, key in enumerate(sorted(names), start=1):
        got = [(i, value(base_recs[i], key), value(cand_recs[i], key)) for i in answered]
        got = [(i, x, y) for i, x, y in got if x is not None and y is not None]
        add(names[key], [i for i, _, _ in got], [x for _, x, _ in got], [y for _, _, y in got], k)
    if any((rec or {}).get("confusion") for rec in base_recs):
        # Records with confusion cells (a labelling kind's): macro-F1 is a suite-level statistic.
        # label_metrics is plain Python, called twice per resample: the secondary count of resamples
        # keeps a 10-label suite near a second (p down to 1/2001, enough for Holm over < 100 tests).
        out += _macro_f1_test(base_recs, cand_recs, answered, min(n_resamples, SECONDARY_RESAMPLES), seed + 97)
    return out


def _same(b: list[float], c: list[float], sb: list[float], sc: list[float]) -> bool:
    return len(b) == len(sb) and all(abs(x - y) < 1e-12 for x, y in zip(b + c, sb + sc))


def quality_of(rows: list[Row]) -> float:
    q = quality(rows)
    return math.nan if q is None else q


def _macro_f1_test(base_recs: list, cand_recs: list, answered: list[int], n_resamples: int, seed: int) -> list[dict]:
    """Macro-F1 (the one definition, `kinds.classification.labels.label_metrics`) over the cases answered on
    both sides, from each case's confusion cells; paired bootstrap over cases."""
    import numpy as np

    from ..kinds.classification.labels import NO_EXPECTED, label_metrics

    def cells(rec) -> dict[tuple, int]:
        out: dict[tuple, int] = {}
        for e, row in ((rec or {}).get("confusion") or {}).items():
            for pred, n in row.items():
                out[(None if e == NO_EXPECTED else e, pred)] = int(n)
        return out

    b_cells = [cells(base_recs[i]) for i in answered]
    c_cells = [cells(cand_recs[i]) for i in answered]
    if not any(b_cells) or all(x == y for x, y in zip(b_cells, c_cells)):
        return []
    keys = sorted({k for cs in b_cells + c_cells for k in cs}, key=str)
    col = {k: j for j, k in enumerate(keys)}
    bm = np.zeros((len(answered), len(keys)), dtype=np.int64)
    cm = np.zeros_like(bm)
    for r, (x, y) in enumerate(zip(b_cells, c_cells)):
        for k, n in x.items():
            bm[r, col[k]] = n
        for k, n in y.items():
            cm[r, col[k]] = n

    def macro_f1(counts) -> float | None:
        return label_metrics({keys[j]: int(n) for j, n in enumerate(counts) if n})["macro_f1"]

    diff, p_value = stats.paired_bootstrap_statistic(bm, cm, macro_f1, n_resamples=n_resamples, seed=seed)
    if diff.estimate != diff.estimate:
        return []
    return [{"metric": "macro-F1", "level": "suite", "n": len(answered), "base": macro_f1(bm.sum(axis=0)),
             "cand": macro_f1(cm.sum(axis=0)), "diff": diff, "p_value": p_value, "p_holm": None,
             "failed": False, "reason": None}]


def _status_summary(rows: list[Row]) -> str:
    statuses = sorted({r.status for r in rows})
    return statuses[0] if len(statuses) == 1 else "/".join(statuses)


POWER = 0.8  # the power the minimum detectable drop is quoted at


def _z_sum(level: float, power: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - level / 2) + NormalDist().inv_cdf(power)


def detectable_drop(v: float, n: int, level: float, step: float, min_drop: float, power: float = POWER) -> float:
    """The drop a two-sided paired test at `level` catches with `power` on n cases whose per-case
    differences have mean square `v`: the normal approximation (z_{1-level/2} + z_power) * sqrt(v / n),
    never below what a pure shift allows (a drop D moves at least D/step cases by at least `step`,
    the finest per-case change the repeat counts allow: k^2 * step / n), never below `min_drop`.
    `power_of` quotes it; `plan-gate` inverts it (`cases_needed`)."""
    k = _z_sum(level, power)
    return max(k * math.sqrt(v / n), k * k * step / n, min_drop)


def cases_needed(v0: float, drop: float, level: float, step: float, power: float = POWER) -> int:
    """The fewest cases at which `detectable_drop` reaches `drop`, where `v0` is the mean square of
    the per-case differences with no change (the flip rate over the repeats). A drop adds to it:
    on single runs the mean square is exactly 2 P(fail->pass) + drop, at most v0 + drop while
    fail->pass does not grow; with repeats, cases losing delta_i (mean drop) add at most mean
    delta_i^2 <= drop. So v = v0 + drop, the drop falling on few cases, the hardest to see. The
    gate also needs drop > --min-drop, which no size changes."""
    k = _z_sum(level, power)
    return max(1, math.ceil(k * k * (v0 + drop) / (drop * drop) - 1e-9), math.ceil(k * k * step / drop - 1e-9))


def power_of(u: Unit, alpha: float, min_drop: float, tests: int) -> dict:
    """What this unit can detect at its size. Holm's strictest step tests at alpha/tests, which is
    what one regressing suite among unchanged ones faces. The minimum detectable drop (80% power)
    is `detectable_drop` (the normal approximation of the paired test) with the observed mean
    square of the per-case differences. `min_flips` is exact: the fewest cases going from
    pass to fail, none the other way, that the test would call significant at that level; a unit
    with fewer cases that can get worse cannot fail at all."""
    bv, cv = getattr(u, "_quality_pairs", ([], []))
    n = len(bv)
    level = alpha / tests
    out: dict[str, Any] = {"power": POWER, "tests": tests, "level": level, "mdd": None, "min_flips": None, "can_fail": False,
           "warning": None}
    if not n:
        out["warning"] = f"{u.name}: no case answered on both sides, so nothing can be detected"
        return out
    v = sum((c - b) ** 2 for b, c in zip(bv, cv)) / n
    step = 1 / math.lcm(max(u.repeats.get("base", 1), 1), max(u.repeats.get("cand", 1), 1))
    mdd = detectable_drop(v, n, level, step, min_drop)
    flips = next((j for j in range(1, n + 1) if stats.mcnemar_exact(j, 0) < level and j / n > min_drop), None)
    can_worsen = sum(1 for b in bv if b > 0)
    base_acc = sum(bv) / n
    out.update(mdd=mdd, min_flips=flips, can_fail=flips is not None and flips <= can_worsen)
    if not out["can_fail"]:
        out["warning"] = (f"{u.name} cannot fail the gate: with {n} cases and {tests} tests under Holm, even every "
                          f"case that passed going to fail would not be significant at alpha; add cases or a floor "
                          f"(gate.min_accuracy)")
    elif mdd >= base_acc and flips is not None:
        out["warning"] = (f"{u.name} can hardly fail the gate: it needs at least {flips} of its {n} cases to go from "
                          f"pass to fail with none the other way (a drop of {100 * flips / n:.0f} pts), and a drop "
                          f"is caught 80% of the time only above {100 * mdd:.0f} pts; add cases or a floor "
                          f"(gate.min_accuracy)")
    return out

