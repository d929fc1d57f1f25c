"""Run-versus-run verdicts: is the candidate run (a new model version) really worse than the base?

Pairing. Rows of the two runs are paired by (suite, case_id, repeat) within a *unit*: one suite
and one (base model, candidate model) pair. Models are matched by name, then by family (the name
without its `-YYMMDD` version: `seed-1-6-260301` pairs with `seed-1-6-250915`), then, when each
run holds exactly one model, with each other. When either side ran a case more than once
(`repeats > 1`), the case's pass rate over its repeats is what gets paired, and each side's
within-model noise (how often the same model disagrees with itself) is reported.

How rows count. Each side's accuracy is evalseed.metrics' (an error row is a failure, a skipped
row is left out). The quality test, its difference and the flipped cases use the cases answered
(an `ok` row) on both sides, each case's pass rate over its ok repeats; the other cases are left
out of it and counted by why (`left_out`). Errors and skips are compared apart, as each case's
unanswered share of rows (`unanswered`): a significant rise above `max_error_rate` is the
*infrastructure* verdict (exit 3), not a regression, so a 429 storm does not fail a model. A
case skipped on *both* sides carries no information and is left out. Cases present in one run
only are left out and counted (`only_in_base`, `only_in_cand`); without `allow_partial` a
candidate lacking cases of the base, or a run that did not finish, is refused.

Statistics (evalseed.stats). Accuracy: Wilson interval (single runs) or a bootstrap over cases
(repeats). Difference: paired percentile bootstrap, 95%. Test: paired sign-flip permutation test
of the mean per-case difference (`stats.paired_permutation_test`: exact McNemar on single runs,
exact over the lattice of pass rates with repeats, valid when the two sides ran different repeat
counts, where a sign test is not), Holm-adjusted over the family {every unit, plus
"overall" when there is more than one unit}. Cost, latency and TTFT: paired bootstrap intervals
of the change in mean cost per case and in p50/p95 of per-case latency.

Gate. A unit (or overall) *regresses* when its accuracy drop is significant (Holm p < alpha)
AND the drop is larger than `min_drop` (in accuracy units: 0.02 = 2 points); the same for each
per-case score a kind records beyond pass/fail (field F1, `score`: paired bootstrap, in the same
Holm family). It also fails below its floor (`gate.min_accuracy` in the suite), whatever the
test. With `max_cost_increase` (a ratio, 0.2 = +20%) it also fails when mean cost per case rose
by more than that and the rise is significant (its 95% interval lies above zero); the same for
`max_latency_increase` on p50 latency. The comparison fails when anything fails; a new suite (only
in the candidate) fails below its floor. Apart from these, the infrastructure verdict (above).
Each unit reports its minimum detectable drop and whether it can fail at all (`_power`).

The result tree (`Comparison`, `Unit`...) and its JSON shape are in `evalseed.compare_result`,
below this module and `compare_output`, which both use it.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import defaultdict
from dataclasses import dataclass

from . import stats
from .compare_result import SCHEMA, Comparison, Delta, Flip, Noise, Side, Unit  # noqa: F401 - the public names
from .errors import UsageError
from .metrics import Accuracy, rules

_VERSION_SUFFIX = re.compile(r"-\d{6}$")
_OUTPUT_CHARS = 300  # flipped cases show this much of each answer
# Cost/latency/TTFT intervals are descriptive (a limit gates only on their lower bound): fewer
# resamples than the accuracy difference's 10,000 keep a 5,000-case comparison near a second.
SECONDARY_RESAMPLES = 2_000


# ---- loading ----------------------------------------------------------------------------------

_COLUMNS = ["suite", "case_id", "kind", "model", "repeat", "status", "error", "passed", "score",
            "latency_ms", "ttft_ms", "cost_usd"]


@dataclass
class _Row:
    case_id: str
    kind: str | None
    repeat: int
    status: str
    error: str | None
    passed: bool | None
    score: float | None
    latency_ms: float | None
    ttft_ms: float | None
    cost_usd: float | None

    @property
    def value(self) -> float:
        return 1.0 if rules.passed(self.status, self.passed) else 0.0


def _side(con, run_id: str) -> Side:
    row = con.execute("SELECT label, status, started_at FROM runs WHERE run_id = ?", [run_id]).fetchone()
    models = [r[0] for r in con.execute(
        "SELECT DISTINCT model FROM results WHERE run_id = ? ORDER BY model", [run_id]).fetchall()]
    label, status, started = row if row else (None, None, None)
    return Side(run_id, label, status, str(started) if started is not None else None, models)


def _load(con, run_id: str) -> dict[tuple[str, str], dict[str, list[_Row]]]:
    """{(suite, model): {case_id: [rows by repeat]}}"""
    from . import store

    rows = store.fetch_rows(con, "run_id = ?", [run_id], columns=_COLUMNS)
    rows.sort(key=lambda d: (d["suite"], d["case_id"], d["repeat"]))
    out: dict[tuple[str, str], dict[str, list[_Row]]] = defaultdict(lambda: defaultdict(list))
    for d in rows:
        out[(d["suite"], d["model"])][d["case_id"]].append(
            _Row(d["case_id"], d["kind"], d["repeat"], d["status"], d["error"], d["passed"], d["score"],
                 d["latency_ms"], d["ttft_ms"], d["cost_usd"])
        )
    return out


def baseline_case_rates(con, base_id: str, cand_model: str, suites: list[str]) -> dict[str, dict[str, float]]:
    """For `run --gate --sequential`: per suite, each case's pass rate over the baseline's ok
    repeats (what the quality test pairs), for the baseline model that pairs with `cand_model`."""
    side = _side(con, base_id)
    pairs, _ = match_models(side.models, [cand_model])
    if not pairs:
        raise UsageError(f"the baseline {base_id} ran no model that pairs with {cand_model}.")
    rows = _load(con, base_id)
    out = {}
    for suite in suites:
        cases = rows.get((suite, pairs[0][0]), {})
        out[suite] = {cid: q for cid, rs in cases.items() if (q := _quality(rs)) is not None}
    return out


def family_of(model: str) -> str:
    """`seed-1-6-250915` -> `seed-1-6`; a name without a version suffix is its own family."""
    return _VERSION_SUFFIX.sub("", model)


def match_models(base_models: list[str], cand_models: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Pairs (base model, cand model) to compare, and notes about models left unpaired.

    Same name first, then same family (the newest base version of it), then -- when each run
    holds exactly one model -- the two with each other (an explicit cross-model comparison).
    """
    notes: list[str] = []
    if len(base_models) == 1 and len(cand_models) == 1:
        b, c = base_models[0], cand_models[0]
        if b != c and family_of(b) == family_of(c):
            notes.append(f"{c} is a new version of {family_of(c)} (base ran {b}).")
        elif family_of(b) != family_of(c):
            notes.append(f"comparing different model families: base {b}, candidate {c}.")
        return [(b, c)], notes
    pairs: list[tuple[str, str]] = []
    for c in cand_models:
        if c in base_models:
            pairs.append((c, c))
            continue
        same = sorted(b for b in base_models if family_of(b) == family_of(c))
        if same:
            pairs.append((same[-1], c))
            notes.append(f"{c} is a new version of {family_of(c)} (base ran {same[-1]}).")
        else:
            notes.append(f"candidate model {c} has no counterpart in the base run: not compared.")
    for b in base_models:
        if b not in {p[0] for p in pairs}:
            notes.append(f"base model {b} has no counterpart in the candidate run: not compared.")
    return pairs, notes


# ---- per-unit statistics ----------------------------------------------------------------------


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _tally(rows: list[_Row]) -> tuple[int, int]:
    """A case's (passes, asked rows) by the metrics' rule: skipped repeats are left out."""
    asked = [r for r in rows if rules.asked(r.status)]
    return sum(1 for r in asked if r.value), len(asked)


def _quality(rows: list[_Row]) -> float | None:
    """What the quality test pairs: the case's pass rate over its *answered* (ok) repeats; None
    when no repeat was answered. Errors and skips are the unanswered rate's business (`_unanswered`),
    so a gateway's bad afternoon is not read as the model getting worse."""
    ok = [r for r in rows if r.status == "ok"]
    return sum(r.value for r in ok) / len(ok) if ok else None


def _unanswered(rows: list[_Row]) -> float:
    """The share of a case's rows that got no answer (error or skipped)."""
    return sum(1 for r in rows if r.status != "ok") / len(rows)


def _why_unanswered(rows: list[_Row]) -> str:
    return "error" if any(r.status == "error" for r in rows) else "skipped"


def _noise(cases: list[list[_Row]]) -> Noise | None:
    multi = [(k, n) for k, n in map(_tally, cases) if n > 1]
    if not multi:
        return None
    unstable = 0
    disagreement = 0.0
    for k, r in multi:
        unstable += 0 < k < r
        disagreement += 2 * k * (r - k) / (r * (r - 1))
    return Noise(len(multi), unstable, unstable / len(multi), disagreement / len(multi))


def _per_case(rows: list[_Row], attr: str, ok_only: bool) -> float | None:
    vals = [getattr(r, attr) for r in rows if getattr(r, attr) is not None and (r.status == "ok" or not ok_only)]
    return _mean(vals)


def _mean_delta(metric: str, pairs: list[tuple[float, float]], seed: int, n_resamples: int,
                strata: list | None = None) -> Delta:
    import numpy as np

    if not pairs:
        return Delta(metric, "usd_per_case", 0, None, None, None, None)
    b = np.array([p[0] for p in pairs], dtype=float)
    c = np.array([p[1] for p in pairs], dtype=float)
    base, cand = float(b.mean()), float(c.mean())
    diff = stats.paired_bootstrap_diff(b, c, strata=strata, n_resamples=n_resamples, seed=seed)
    return Delta(metric, "usd_per_case", len(pairs), base, cand, diff, cand / base - 1 if base > 0 else None)


def _quantile_deltas(metric: str, pairs: list[tuple[float, float]], seed: int, n_resamples: int) -> list[Delta]:
    """p50 and p95 deltas (named `{metric}_p50`, `{metric}_p95`) from one set of resamples."""
    import numpy as np

    names = [f"{metric}_p50", f"{metric}_p95"]
    if not pairs:
        return [Delta(n, "ms", 0, None, None, None, None) for n in names]
    b = np.array([p[0] for p in pairs], dtype=float)
    c = np.array([p[1] for p in pairs], dtype=float)
    diffs = stats.paired_bootstrap_quantile_diffs(b, c, [0.5, 0.95], n_resamples=n_resamples, seed=seed)
    out = []
    for name, q, diff in zip(names, (0.5, 0.95), diffs):
        base, cand = float(np.quantile(b, q)), float(np.quantile(c, q))
        out.append(Delta(name, "ms", len(pairs), base, cand, diff, cand / base - 1 if base > 0 else None))
    return out


@dataclass
class _Paired:
    """The paired cases of one unit, before the statistics."""

    suite: str
    kind: str | None
    base_model: str
    cand_model: str
    case_ids: list[str]
    base: list[list[_Row]]
    cand: list[list[_Row]]
    excluded: dict[str, int]
    status_counts: dict[str, dict[str, int]]
    min_accuracy: float | None = None  # the suite's gate.min_accuracy
    sequential: dict | None = None  # the suite's record when the candidate stopped early (--sequential)


def _pair(suite: str, bm: str, cm: str, base_cases: dict[str, list[_Row]],
          cand_cases: dict[str, list[_Row]]) -> _Paired:
    excluded = {"both_skipped": 0, "only_in_base": 0, "only_in_cand": 0}
    counts = {"base": {"ok": 0, "error": 0, "skipped": 0}, "cand": {"ok": 0, "error": 0, "skipped": 0}}
    ids, b_rows, c_rows = [], [], []
    kind = None
    for cid in sorted(set(base_cases) | set(cand_cases)):
        b, c = base_cases.get(cid), cand_cases.get(cid)
        if not b:
            excluded["only_in_cand"] += 1
            continue
        if not c:
            excluded["only_in_base"] += 1
            continue
        if not any(rules.asked(r.status) for r in b + c):
            excluded["both_skipped"] += 1
            continue
        if len(b) == len(c) and len(b) > 1:
            # Same repeat count: keep rows aligned by repeat index for the record.
            b = sorted(b, key=lambda r: r.repeat)
            c = sorted(c, key=lambda r: r.repeat)
        for side, rows in (("base", b), ("cand", c)):
            for r in rows:
                counts[side][r.status] = counts[side].get(r.status, 0) + 1
        kind = kind or b[0].kind or c[0].kind
        ids.append(cid)
        b_rows.append(b)
        c_rows.append(c)
    return _Paired(suite, kind, bm, cm, ids, b_rows, c_rows, excluded, counts)


def _unit_stats(name: str, p: _Paired, *, n_resamples: int, seed: int, strata: list | None = None) -> Unit:
    seed = seed + zlib.crc32(name.encode())  # a stream of its own per unit, stable across runs
    n = len(p.case_ids)
    # The quality test runs on the cases answered on both sides; the others are counted by why.
    answered = [i for i in range(n) if _quality(p.base[i]) is not None and _quality(p.cand[i]) is not None]
    bv = [_quality(p.base[i]) for i in answered]
    cv = [_quality(p.cand[i]) for i in answered]
    left_out = {"base_error": 0, "base_skipped": 0, "cand_error": 0, "cand_skipped": 0}
    for side, cases in (("base", p.base), ("cand", p.cand)):
        for rows in cases:
            if _quality(rows) is None:
                left_out[f"{side}_{_why_unanswered(rows)}"] += 1
    q_strata = [strata[i] for i in answered] if strata else None
    # Each side's accuracy is evalseed.metrics' figure over its paired rows, the one the run
    # summary and the report show for the same rows; the difference and the test pair cases.
    b_acc, c_acc = Accuracy.of_cases(map(_tally, p.base)), Accuracy.of_cases(map(_tally, p.cand))
    method = "wilson" if b_acc.single and c_acc.single else "bootstrap"
    base_acc = b_acc.interval(n_resamples=n_resamples, seed=seed + 1, method=method)
    cand_acc = c_acc.interval(n_resamples=n_resamples, seed=seed + 2, method=method)
    skipped_one_side = {"base": sum(1 for rows in p.base if not _tally(rows)[1]),
                        "cand": sum(1 for rows in p.cand if not _tally(rows)[1])}
    diff = stats.paired_bootstrap_diff(bv, cv, strata=q_strata, n_resamples=n_resamples, seed=seed)
    # The test is on the mean of the per-case differences (a sign-flip permutation test: exact
    # McNemar on single runs); worse/better are the counts shown beside it.
    _, worse, better = stats.sign_test(bv, cv)
    p_value = stats.paired_permutation_test(bv, cv, n_resamples=n_resamples, seed=seed + 7)
    ub = [_unanswered(rows) for rows in p.base]
    uc = [_unanswered(rows) for rows in p.cand]
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
            asked = [r for r in rows if rules.asked(r.status)]
            if asked:
                per_case.append(sum(rules.answer_value(r.status, rules.score(r.score, r.passed))
                                    for r in asked) / len(asked))
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
        noise={"base": _noise(p.base), "cand": _noise(p.cand)},
        flips=flips,
        cost=_mean_delta("cost", cost_pairs, seed + 3, n_secondary, strata=cost_strata),
        latency_p50=lat[0], latency_p95=lat[1], ttft_p50=ttft[0], ttft_p95=ttft[1], min_accuracy=p.min_accuracy,
    )
    # Not part of the result tree (no dataclass field): what the power figures are computed from.
    u._quality_pairs = (bv, cv)
    if p.suite != "*":  # "overall" pools kinds whose scores mean different things
        u.metric_tests = _score_tests(p, answered, n_resamples, seed)
    return u


def _score_tests(p: _Paired, answered: list[int], n_resamples: int, seed: int) -> list[dict]:
    """Per-case scores a kind records beyond pass/fail (json_extraction's field F1 is its `score`;
    long context and image record partial scores too): each case's mean score over its ok repeats,
    on the cases answered on both sides, paired bootstrap test of the mean change. Skipped when
    every score is 0 or 1 -- then it is `passed` again and would only spend alpha twice."""
    def case_score(rows):
        vals = [rules.score(r.score, r.passed) for r in rows if r.status == "ok"]
        vals = [v for v in vals if v is not None]
        return sum(vals) / len(vals) if vals else None

    pairs = [(case_score(p.base[i]), case_score(p.cand[i])) for i in answered]
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
    if not pairs or all(v in (0.0, 1.0) for xy in pairs for v in xy):
        return []
    b, c = [x for x, _ in pairs], [y for _, y in pairs]
    from .kinds import score_name; name = score_name(p.kind)  # noqa: E702 - one line while compare.py is split
    return [{
        "metric": name, "n": len(pairs), "base": sum(b) / len(b), "cand": sum(c) / len(c),
        "diff": stats.paired_bootstrap_diff(b, c, n_resamples=n_resamples, seed=seed + 11),
        "p_value": stats.paired_bootstrap_test(b, c, n_resamples=n_resamples, seed=seed + 12),
        "p_holm": None, "failed": False, "reason": None,
    }]


def _status_summary(rows: list[_Row]) -> str:
    statuses = sorted({r.status for r in rows})
    return statuses[0] if len(statuses) == 1 else "/".join(statuses)


def _judge_sequential(u: Unit, rec: dict | None, min_drop: float) -> None:
    """A candidate that stopped early (--sequential) is judged by its own anytime-valid record:
    p-values of fixed-size tests are not valid after stopping on the data, so they are shown, not
    used (evalseed.sequential)."""
    if rec is None:
        u.reasons.append("not judged by a fixed test: the candidate is a sequential run that stopped early")
        return
    mean = "n/a" if rec["mean_diff"] is None else f"{100 * rec['mean_diff']:+.1f} pts"
    head = (f"sequential gate after {rec['cases_sent']} of {rec['cases']} cases ({rec['pairs']} paired), "
            f"mean difference {mean}")
    if rec["state"] == "regression":
        u.failed = True
        u.verdict = "regression"
        u.reasons.append(f"{head}: a regression (e-value {rec['e_regression']:.3g})")
        u.fail_reasons.append(u.reasons[-1])
    elif rec["state"] == "no regression":
        u.reasons.append(f"{head}: a drop larger than {100 * min_drop:g} pts ruled out (e-value {rec['e_ruled_out']:.3g})")
    else:
        u.reasons.append(f"{head}: not settled when the run stopped on another suite's regression")


def _judge(u: Unit, alpha: float, min_drop: float, max_cost: float | None, max_latency: float | None,
           fixed: bool = True) -> None:
    pts = lambda x: f"{100 * x:+.1f} pts"  # noqa: E731
    d = u.diff
    p_holm = u.p_holm if u.p_holm is not None else u.p_value
    acc = (f"accuracy {pts(d.estimate)} (95% CI {pts(d.low)} to {pts(d.high)}), "
           f"{u.worse} pass->fail vs {u.better} fail->pass, "
           f"{'McNemar' if max(u.repeats.values(), default=1) <= 1 else 'sign-flip'} p{_fmt_p(u.p_value)}, "
           f"Holm p{_fmt_p(p_holm)}")
    significant = p_holm < alpha and fixed
    # The test and the difference are both about the mean per-case difference, so they point the
    # same way (the worse/better counts may not, with repeats: they are shown, not tested).
    if significant and d.estimate < -min_drop:
        u.failed = True
        u.verdict = "regression"
        u.reasons.append(f"{acc}: significant at alpha={alpha:g} and a drop larger than {100 * min_drop:g} pts")
        u.fail_reasons.append(u.reasons[-1])
    elif significant and d.estimate < 0:
        u.reasons.append(f"{acc}: significant but within the allowed drop of {100 * min_drop:g} pts")
    elif significant and d.estimate > 0:
        u.verdict = "improvement"
        u.reasons.append(f"{acc}: a significant improvement")
    elif fixed:
        u.reasons.append(f"{acc}: not significant at alpha={alpha:g}")
    else:
        u.reasons.append(f"{acc}: shown, not tested (a fixed-size test is not valid after a sequential stop)")
    for t in u.metric_tests:
        dt = t["diff"]
        text = (f"{t['metric']} {pts(dt.estimate)} (95% CI {pts(dt.low)} to {pts(dt.high)}) on {t['n']} cases, "
                f"paired bootstrap p{_fmt_p(t['p_value'])}, Holm p{_fmt_p(t['p_holm'])}")
        if fixed and t["p_holm"] < alpha and dt.estimate < -min_drop:
            t["failed"] = True
            t["reason"] = f"{text}: significant at alpha={alpha:g} and a drop larger than {100 * min_drop:g} pts"
            u.failed = True
            u.verdict = "regression"
            u.fail_reasons.append(t["reason"])
        else:
            t["reason"] = f"{text}: {'within the allowed drop' if t['p_holm'] < alpha and dt.estimate < 0 else 'no significant drop'}"
        u.reasons.append(t["reason"])
    floor, acc_c = u.min_accuracy, u.cand_accuracy.estimate
    if floor is not None and not (acc_c is not None and acc_c >= floor):
        # An absolute floor needs no test: the suite's owner said what is not good enough.
        u.failed = True
        u.verdict = "regression"
        u.reasons.append(f"candidate accuracy {100 * acc_c:.1f}% is below the suite's floor of {100 * floor:g}% "
                         "(gate.min_accuracy)")
        u.fail_reasons.append(u.reasons[-1])
    for limit, delta, what in ((max_cost, u.cost, "mean cost per case"), (max_latency, u.latency_p50, "p50 latency")):
        if limit is None:
            continue
        if delta.n == 0 or delta.ratio is None or delta.diff is None:
            u.reasons.append(f"{what}: not measured on both sides, its limit was not checked")
            continue
        if delta.ratio > limit and delta.diff.low > 0:
            u.failed = True
            u.verdict = "regression"
            u.reasons.append(f"{what} {100 * delta.ratio:+.0f}% (more than the allowed +{100 * limit:g}%, "
                             f"95% CI of the change above zero)")
            u.fail_reasons.append(u.reasons[-1])
        elif delta.ratio > limit:
            u.reasons.append(f"{what} {100 * delta.ratio:+.0f}% exceeds +{100 * limit:g}% but is not significant")


def _judge_errors(u: Unit, alpha: float, max_error_rate: float) -> None:
    """The infrastructure verdict: the candidate left more than `max_error_rate` of its rows
    unanswered (error or skipped) and significantly more than the base (sign-flip test on the
    per-case unanswered share, Holm over the units). Not a quality regression: exit 3."""
    e = u.unanswered
    p_holm = e["p_holm"] if e["p_holm"] is not None else e["p_value"]
    if e["cand_rate"] > max_error_rate and e["diff"] > 0 and p_holm < alpha:
        u.infra_failed = True
        u.reasons.append(
            f"the candidate's infrastructure failed: {100 * e['cand_rate']:.1f}% of its rows unanswered "
            f"({e['cand_errors']} errors, {e['cand_skipped']} skipped) against {100 * e['base_rate']:.1f}% for the base, "
            f"more on {e['more']} cases and fewer on {e['fewer']}, Holm p{_fmt_p(p_holm)}; above --max-error-rate "
            f"{100 * max_error_rate:g}%: not a quality regression, rerun or resume it")
        u.infra_reasons.append(u.reasons[-1])


POWER = 0.8  # the power the minimum detectable drop is quoted at


def _power(u: Unit, alpha: float, min_drop: float, tests: int) -> dict:
    """What this unit can detect at its size. Holm's strictest step tests at alpha/tests, which is
    what one regressing suite among unchanged ones faces. The minimum detectable drop (80% power)
    is the normal approximation of the paired test: (z_{1-a/2} + z_0.8) * sd / sqrt(n), with sd the
    observed spread of the per-case differences, but never below what a pure shift allows (a drop
    delta moves at least delta/step cases by at least `step`, the finest per-case change the repeat
    counts allow); then at least --min-drop. `min_flips` is exact: the fewest cases going from
    pass to fail, none the other way, that the test would call significant at that level; a unit
    with fewer cases that can get worse cannot fail at all."""
    from statistics import NormalDist

    bv, cv = getattr(u, "_quality_pairs", ([], []))
    n = len(bv)
    level = alpha / tests
    out = {"power": POWER, "tests": tests, "level": level, "mdd": None, "min_flips": None, "can_fail": False,
           "warning": None}
    if not n:
        out["warning"] = f"{u.name}: no case answered on both sides, so nothing can be detected"
        return out
    k = NormalDist().inv_cdf(1 - level / 2) + NormalDist().inv_cdf(POWER)
    v = sum((c - b) ** 2 for b, c in zip(bv, cv)) / n
    step = 1 / math.lcm(max(u.repeats.get("base", 1), 1), max(u.repeats.get("cand", 1), 1))
    mdd = max(k * math.sqrt(v / n), k * k * step / n, min_drop)
    flips = next((j for j in range(1, n + 1) if stats.mcnemar_exact(j, 0) < level and j / n > min_drop), None)
    can_worsen = sum(1 for b in bv if b > 0)
    base_acc = sum(bv) / n
    out.update(mdd=mdd, min_flips=flips, can_fail=flips is not None and flips <= can_worsen)
    if not out["can_fail"]:
        out["warning"] = (f"{u.name} cannot fail the gate: with {n} cases and {tests} tests under Holm, even every "
                          f"case that passed going to fail would not be significant at alpha; add cases or a floor "
                          f"(gate.min_accuracy)")
    elif mdd >= base_acc:
        out["warning"] = (f"{u.name} can hardly fail the gate: it needs at least {flips} of its {n} cases to go from "
                          f"pass to fail with none the other way (a drop of {100 * flips / n:.0f} pts), and a drop "
                          f"is caught 80% of the time only above {100 * mdd:.0f} pts; add cases or a floor "
                          f"(gate.min_accuracy)")
    return out


def _fmt_p(p: float | None) -> str:
    """`=0.026` or `<0.001`, to follow a `p`."""
    if p is None or math.isnan(p):
        return " n/a"
    return f"={p:.2g}" if p >= 0.001 else "<0.001"


def _verdicts(paired: list[tuple[str, _Paired]], *, alpha: float, min_drop: float,
              max_cost_increase: float | None, max_latency_increase: float | None,
              n_resamples: int, seed: int, max_error_rate: float = 0.02,
              sequential: bool = False) -> tuple[list[Unit], Unit | None]:
    """Statistics, Holm adjustment and verdict for every unit (and overall): everything after the
    rows are paired, so the decision can be exercised on simulated pairs without a database."""
    units = [_unit_stats(name, p, n_resamples=n_resamples, seed=seed) for name, p in paired]
    overall = None
    if len(units) > 1:
        merged = _Paired("*", None, "*", "*",
                         [f"{n}/{c}" for n, p in paired for c in p.case_ids],
                         [rows for _, p in paired for rows in p.base],
                         [rows for _, p in paired for rows in p.cand],
                         {k: sum(p.excluded[k] for _, p in paired) for k in paired[0][1].excluded},
                         {s: {k: sum(p.status_counts[s].get(k, 0) for _, p in paired) for k in ("ok", "error", "skipped")}
                          for s in ("base", "cand")})
        strata = [n for n, p in paired for _ in p.case_ids]
        overall = _unit_stats("overall", merged, n_resamples=n_resamples, seed=seed, strata=strata)
        overall.flips = {"regressed": [], "improved": []}  # listed per unit
        overall.base_model = ", ".join(sorted({p.base_model for _, p in paired}))
        overall.cand_model = ", ".join(sorted({p.cand_model for _, p in paired}))
    family = units + ([overall] if overall else [])
    # One Holm family for everything tested on quality: each unit's accuracy and its score tests.
    scored = [t for u in units for t in u.metric_tests]
    adjusted = stats.holm([u.p_value for u in family] + [t["p_value"] for t in scored])
    for u, ph in zip(family, adjusted):
        u.p_holm = ph
    for t, ph in zip(scored, adjusted[len(family):]):
        t["p_holm"] = ph
    # Errors are a family of their own: a storm of 429s must not spend the quality tests' alpha.
    for u, ph in zip(family, stats.holm([u.unanswered["p_value"] for u in family])):
        u.unanswered["p_holm"] = ph
    seq_of = {u.name: p.sequential for (_, p), u in zip(paired, units)}
    for u in family:
        u.power = _power(u, alpha, min_drop, len(family) + len(scored))
        rec = seq_of.get(u.name)
        # A suite of a stopped sequential run that sent all its cases unsettled is complete: the
        # fixed test judges it (the other half of alpha, evalseed.sequential). The others, and the
        # overall line that pools them, are judged by the sequential record alone.
        fixed = not sequential or (rec is not None and rec["state"] == "running" and rec["cases_sent"] >= rec["cases"])
        if not fixed:
            _judge_sequential(u, rec, min_drop)
        _judge(u, alpha, min_drop, max_cost_increase, max_latency_increase, fixed=fixed)
        _judge_errors(u, alpha, max_error_rate)
    return units, overall


# ---- the public entry points ------------------------------------------------------------------


def compare_runs(
    con,
    base_run: str,
    cand_run: str,
    *,
    alpha: float = 0.05,
    min_drop: float = 0.02,
    max_cost_increase: float | None = None,
    max_latency_increase: float | None = None,
    base_model: str | None = None,
    cand_model: str | None = None,
    n_resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    details: bool = True,
    allow_partial: bool = False,
    max_error_rate: float = 0.02,
) -> Comparison:
    """Compare two stored runs; see the module docstring for pairing, counting and the gate.

    `con` is a DuckDB connection (`store.open_db(path, read_only=True)`); runs are given as ids,
    unique prefixes or `latest`. `base_model` / `cand_model` restrict a side to one model when a
    run holds several. `details=False` skips fetching expected answers and outputs of flipped
    cases. Raises UsageError on bad settings, unknown runs, runs with no case in common, and --
    unless `allow_partial` -- a run that did not finish or a candidate that lacks cases of the base.
    """
    from . import store

    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1 (e.g. 0.05), not {alpha}.")
    if not 0 <= min_drop < 1:
        raise UsageError(f"--min-drop is an accuracy difference between 0 and 1 (0.02 = 2 points), not {min_drop}.")
    if not 0 <= max_error_rate <= 1:
        raise UsageError(f"--max-error-rate is a share of rows between 0 and 1 (0.02 = 2%), not {max_error_rate}.")
    for flag, v in (("--max-cost-increase", max_cost_increase), ("--max-latency-increase", max_latency_increase)):
        if v is not None and v < 0:
            raise UsageError(f"{flag} is a ratio >= 0 (0.2 = +20%), not {v}.")
    base_id = store.resolve_run(con, base_run)
    cand_id = store.resolve_run(con, cand_run)
    base_side, cand_side = _side(con, base_id), _side(con, cand_id)
    notes: list[str] = []
    partial: list[str] = []
    for side, who in ((base_side, "base"), (cand_side, "candidate")):
        if not side.models:
            raise UsageError(f"the {who} run {side.run_id} has no results to compare.")
        if side.status and side.status != "finished":
            # An aborted or interrupted run holds whatever was answered before it stopped; a gate
            # that passed it would pass a release nobody finished testing.
            what = f"the {who} run {side.run_id} did not finish (status {side.status!r})"
            if not allow_partial:
                raise UsageError(f"{what}; finish it with `evalseed run --resume {side.run_id}`, "
                                 "or pass --allow-partial to compare the cases it holds.")
            partial.append(what)
    bm_all = [m for m in base_side.models if base_model in (None, m)]
    cm_all = [m for m in cand_side.models if cand_model in (None, m)]
    for given, avail, who in ((base_model, bm_all, base_side), (cand_model, cm_all, cand_side)):
        if given is not None and not avail:
            raise UsageError(f"run {who.run_id} has no results for model {given!r}; it ran {', '.join(who.models)}.")
    model_pairs, model_notes = match_models(bm_all, cm_all)
    notes += model_notes
    base_rows, cand_rows = _load(con, base_id), _load(con, cand_id)
    cand_config = store.run_config(con, cand_id)
    seq = cand_config.get("sequential") if (cand_config.get("sequential") or {}).get("stopped_early") else None
    if seq:
        # Cases a sequential run never sent were left out on purpose: its own record is the verdict.
        partial.append(f"the candidate is a sequential run that stopped early ({seq['reason'] or 'no reason recorded'}): "
                      + ", ".join(f"suite {s} {r['cases_sent']} of {r['cases']} cases" for s, r in seq["suites"].items()))
        seq_suites = set(seq["suites"])
        base_rows_cov = {k: v for k, v in base_rows.items() if k[0] not in seq_suites}
    else:
        base_rows_cov = base_rows
    missing = _missing(base_rows_cov, cand_rows, model_pairs)
    if missing and not allow_partial:
        raise UsageError(f"the candidate run {cand_id} does not cover the base run {base_id}: "
                         f"{'; '.join(missing)} missing; run the same suites, or pass --allow-partial "
                         "to compare the cases both runs hold.")
    partial += [f"the candidate lacks {m}" for m in missing]
    floors = _floors(cand_config)
    base_suites = sorted({s for s, m in base_rows if m in bm_all})
    cand_suites = sorted({s for s, m in cand_rows if m in cm_all})
    new_suites = []
    for (suite, cm), cases in sorted(cand_rows.items()):
        if cm in cm_all and suite not in base_suites:
            new_suites.append(_new_suite(suite, cm, cases, floors.get(suite)))
            notes.append(f"suite {suite} is only in the candidate run: no paired test, "
                         + (f"held to its floor of {100 * floors[suite]:g}%." if suite in floors
                            else "no floor (gate.min_accuracy) to hold it to."))

    paired: list[tuple[str, _Paired]] = []
    for suite in sorted(set(base_suites) & set(cand_suites)):
        for bm, cm in model_pairs:
            if (suite, bm) not in base_rows or (suite, cm) not in cand_rows:
                continue
            p = _pair(suite, bm, cm, base_rows[(suite, bm)], cand_rows[(suite, cm)])
            p.min_accuracy = floors.get(suite)
            p.sequential = (seq or {}).get("suites", {}).get(suite)
            name = suite if len(model_pairs) == 1 else f"{suite} [{cm}]"
            if not p.case_ids:
                notes.append(f"{name}: no case answered on both sides (all skipped, or different case ids).")
                continue
            paired.append((name, p))
    if not paired:
        raise UsageError(
            f"runs {base_id} and {cand_id} have no cases in common (same suite, case id and a matching model); "
            "compare runs of the same suites."
        )

    units, overall = _verdicts(paired, alpha=alpha, min_drop=min_drop, max_cost_increase=max_cost_increase,
                               max_latency_increase=max_latency_increase, n_resamples=n_resamples, seed=seed,
                               max_error_rate=max_error_rate, sequential=bool(seq))
    family = units + ([overall] if overall else [])
    _attach_metrics(con, base_id, cand_id, paired, units)
    if details:
        _attach_details(con, base_id, cand_id, units)
    settings = {"alpha": alpha, "min_drop": min_drop, "max_cost_increase": max_cost_increase,
                "max_latency_increase": max_latency_increase, "max_error_rate": max_error_rate,
                "allow_partial": allow_partial, "confidence": 0.95,
                "n_resamples": n_resamples, "seed": seed}
    return Comparison(base_side, cand_side, settings, units, overall, notes,
                      failed=any(u.failed for u in family) or any(n["failed"] for n in new_suites),
                      infra_failed=any(u.infra_failed for u in family),
                      partial=partial, new_suites=new_suites)


def _ids(ids: list[str], shown: int = 5) -> str:
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def _missing(base_rows, cand_rows, model_pairs) -> list[str]:
    """What the base run holds that the candidate does not, one phrase per suite: a whole suite, or
    the case ids it lacks. Covered means the same suites and case ids (any status: a case the
    candidate skipped was still tried)."""
    out = []
    for (suite, bm), cases in sorted(base_rows.items()):
        for b, c in model_pairs:
            if b != bm:
                continue
            on = f" on {c}" if len(model_pairs) > 1 else ""
            got = cand_rows.get((suite, c))
            if not got:
                out.append(f"suite {suite}{on} ({len(cases)} cases)")
                continue
            gone = sorted(set(cases) - set(got))
            if gone:
                out.append(f"{len(gone)} of the {len(cases)} cases of suite {suite}{on} ({_ids(gone)})")
    return out


def _floors(config: dict) -> dict[str, float]:
    """Each suite's `gate.min_accuracy` as the run recorded it (runs.config.suites[].gate)."""
    out = {}
    for s in config.get("suites", []) or []:
        floor = (s.get("gate") or {}).get("min_accuracy")
        if floor is not None:
            out[s["name"]] = float(floor)
    return out


def _new_suite(suite: str, model: str, cases: dict[str, list[_Row]], floor: float | None) -> dict:
    """A suite only the candidate ran: nothing to pair it with, so only its floor can fail it."""
    acc = Accuracy.of_cases(map(_tally, cases.values())).estimate
    failed = floor is not None and (acc is None or acc < floor)
    reason = None
    if failed:
        reason = (f"new suite {suite}: candidate accuracy "
                  f"{'n/a' if acc is None else f'{100 * acc:.1f}%'} is below its floor of {100 * floor:g}% "
                  "(gate.min_accuracy)")
    return {"suite": suite, "model": model, "cases": len(cases), "accuracy": acc, "min_accuracy": floor,
            "failed": failed, "reason": reason}


def _attach_metrics(con, base_id: str, cand_id: str, paired: list[tuple[str, _Paired]], units: list[Unit]) -> None:
    """Each side's metrics record over its paired rows, by the queries every view uses."""
    from . import metrics

    for (_, p), u in zip(paired, units):
        for run_id, model, attr in ((base_id, p.base_model, "base_metrics"), (cand_id, p.cand_model, "cand_metrics")):
            scope = metrics.Scope(
                "(SELECT * FROM results WHERE run_id = ? AND suite = ? AND model = ? "
                "AND case_id IN (SELECT unnest(?::VARCHAR[])))", ("model",), (run_id, p.suite, model, p.case_ids))
            got = list(metrics.suite_metrics(con, scope).values())
            setattr(u, attr, got[0].to_dict(("model",)) if got else None)


def _attach_details(con, base_id: str, cand_id: str, units: list[Unit]) -> None:
    """Expected answer and each side's (first repeat's) output for flipped cases."""
    import json

    for u in units:
        flips = u.flips["regressed"] + u.flips["improved"]
        if not flips:
            continue
        ids = [f.case_id for f in flips]
        marks = ", ".join("?" for _ in ids)
        got: dict[tuple[str, str], tuple] = {}
        for run_id, model, side in ((base_id, u.base_model, "b"), (cand_id, u.cand_model, "c")):
            for cid, out, det in con.execute(
                f'SELECT case_id, output_text, details FROM results WHERE run_id = ? AND suite = ? AND model = ? '
                f'AND case_id IN ({marks}) ORDER BY "repeat" DESC', [run_id, u.suite, model, *ids]
            ).fetchall():
                got[(side, cid)] = (out, det)  # DESC order: repeat 0 is written last
        for f in flips:
            bo, bd = got.get(("b", f.case_id), (None, None))
            co, _ = got.get(("c", f.case_id), (None, None))
            f.base_output = _clip(bo)
            f.cand_output = _clip(co)
            try:
                f.expected = (json.loads(bd) or {}).get("expected") if bd else None
            except (ValueError, AttributeError):
                f.expected = None


def _clip(s: str | None) -> str | None:
    if s is None or len(s) <= _OUTPUT_CHARS:
        return s
    return s[: _OUTPUT_CHARS - 1] + "…"


def compare_command(
    db: str,
    base_run: str,
    cand_run: str,
    *,
    alpha: float = 0.05,
    min_drop: float = 0.02,
    max_cost_increase: float | None = None,
    max_latency_increase: float | None = None,
    base_model: str | None = None,
    cand_model: str | None = None,
    junit: str | None = None,
    markdown: str | None = None,
    json_path: str | None = None,
    allow_partial: bool = False,
    max_error_rate: float = 0.02,
) -> int:
    """The `evalseed compare` body: compare, print the table, write the files; 1 on a quality
    regression, else 3 when the candidate's infrastructure failed, else 0."""
    from . import store
    from .compare_output import print_table, write_json, write_junit, write_markdown

    for path in (junit, markdown, json_path):
        if path:
            _check_writable(path)
    con = store.open_db(db, read_only=True)
    try:
        cmp = compare_runs(con, base_run, cand_run, alpha=alpha, min_drop=min_drop,
                           max_cost_increase=max_cost_increase, max_latency_increase=max_latency_increase,
                           base_model=base_model, cand_model=cand_model, allow_partial=allow_partial,
                           max_error_rate=max_error_rate)
    finally:
        con.close()
    # Files first: a closed stdout (`| head`) must not cost the CI job its report.
    if junit:
        write_junit(cmp, junit)
    if markdown:
        write_markdown(cmp, markdown)
    if json_path:
        write_json(cmp, json_path)
    print_table(cmp)
    # A quality regression found on the cases both sides answered stands whatever the errors.
    return 1 if cmp.failed else (3 if cmp.infra_failed else 0)


def check_baseline(db_path: str, base_ref: str) -> str:
    """Before `run --gate` spends anything: the baseline run must exist in the database. Returns
    its full id, so that `latest` means the run before this one, not the one about to be made."""
    from pathlib import Path

    from . import store

    if not Path(db_path).exists():
        raise UsageError(f"{db_path}: no such database, so no baseline run {base_ref!r} to gate against; "
                         "pass the --db that holds the baseline.")
    con = store.open_db(db_path, read_only=True)
    try:
        return store.resolve_run(con, base_ref)
    finally:
        con.close()


def gate_after_run(db_path: str, base_ref: str, cand_run_id: str) -> int:
    """`evalseed run ... --baseline RUN_ID --gate`: compare the fresh run with the baseline using
    the default gate, print the table, return 1 on regression and 0 otherwise."""
    from . import store

    con = store.open_db(db_path, read_only=True)
    try:
        base_id = store.resolve_run(con, base_ref)
    finally:
        con.close()
    if base_id == cand_run_id:
        raise UsageError(f"the baseline {base_ref!r} is the run just made ({cand_run_id}); "
                         "pass the baseline's run id to --baseline.")
    return compare_command(db_path, base_id, cand_run_id)


def _check_writable(path: str) -> None:
    """Fail before any work when an output file cannot be written (its folder is missing)."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name for the output.")
    if not p.parent.exists():
        raise UsageError(f"{path}: the folder {p.parent} does not exist; create it or choose another path.")
