"""The verdicts: Holm's adjustment over the units' quality tests (and apart, over their unanswered
shares), then per unit the gate -- a significant drop beyond --min-drop, a per-case score's drop,
the suite's floor, cost and latency limits, a sequential run's own record -- and the
infrastructure verdict. Works on paired rows alone, so the decision can be exercised on simulated
pairs without a database."""

from __future__ import annotations

import math

from .. import stats
from .load import STATUSES, Paired
from .measure import measure_unit, power_of
from .result import Unit


def _judge_sequential(u: Unit, rec: dict | None, min_drop: float) -> None:
    """A candidate that stopped early (--sequential) is judged by its own anytime-valid record:
    p-values of fixed-size tests are not valid after stopping on the data, so they are shown, not
    used (evalseed.compare.sequential)."""
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
    if not u.n_answered:
        # Nothing answered on both sides: there is no difference to test. It stays NaN (null in
        # the JSON, `-` in the tables), not 0, which would claim "measured: no change".
        u.reasons.append(f"no case answered on both sides (of {u.n_pairs} paired): no quality test; "
                         "the unanswered rate and the floor still apply")
    elif significant and d.estimate < -min_drop:
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


def _fmt_p(p: float | None) -> str:
    """`=0.026` or `<0.001`, to follow a `p`."""
    if p is None or math.isnan(p):
        return " n/a"
    return f"={p:.2g}" if p >= 0.001 else "<0.001"


def verdicts(paired: list[tuple[str, Paired]], *, alpha: float, min_drop: float,
              max_cost_increase: float | None, max_latency_increase: float | None,
              n_resamples: int, seed: int, max_error_rate: float = 0.02,
              sequential: bool = False, sequential_run: bool = False) -> tuple[list[Unit], Unit | None]:
    """Statistics, Holm adjustment and verdict for every unit (and overall): everything after the
    rows are paired, so the decision can be exercised on simulated pairs without a database.

    `sequential`: the candidate is a sequential run that stopped early (its suites are judged by
    their records). `sequential_run`: the candidate ran with --sequential at all, stopped or not:
    its monitor could have stopped it on a regression with alpha/2 of the false alarms, so the
    fixed tests that judge what ran to the end get the other half, alpha/2, keeping the whole
    gate's false alarms at alpha (Bonferroni; at full alpha they were bounded by 1.5 alpha)."""
    test_alpha = alpha / 2 if (sequential or sequential_run) else alpha
    units = [measure_unit(name, p, n_resamples=n_resamples, seed=seed) for name, p in paired]
    overall = None
    if len(units) > 1:
        merged = Paired("*", None, "*", "*",
                         [f"{n}/{c}" for n, p in paired for c in p.case_ids],
                         [rows for _, p in paired for rows in p.base],
                         [rows for _, p in paired for rows in p.cand],
                         {k: sum(p.excluded[k] for _, p in paired) for k in paired[0][1].excluded},
                         {s: {k: sum(p.status_counts[s].get(k, 0) for _, p in paired) for k in STATUSES}
                          for s in ("base", "cand")})
        strata = [n for n, p in paired for _ in p.case_ids]
        overall = measure_unit("overall", merged, n_resamples=n_resamples, seed=seed, strata=strata)
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
        u.power = power_of(u, test_alpha, min_drop, len(family) + len(scored))
        rec = seq_of.get(u.name)
        # A suite of a stopped sequential run that sent all its cases unsettled is complete: the
        # fixed test judges it (the other half of alpha, evalseed.compare.sequential). The others, and the
        # overall line that pools them, are judged by the sequential record alone.
        fixed = not sequential or (rec is not None and rec["state"] == "running" and rec["cases_sent"] >= rec["cases"])
        if not fixed:
            _judge_sequential(u, rec, min_drop)
        _judge(u, test_alpha, min_drop, max_cost_increase, max_latency_increase, fixed=fixed)
        _judge_errors(u, alpha, max_error_rate)
    return units, overall

