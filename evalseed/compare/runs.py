"""`compare_runs`: two stored runs in, a `Comparison` out (see the package's docstring for
pairing, counting and the gate)."""

from __future__ import annotations

import json

from .. import metrics, stats, store
from ..errors import UsageError
from ..metrics import Accuracy
from .load import Paired, Row, floors_of, load_run, match_models, missing_cases, pair, side_of, tally
from .result import Comparison, Unit
from .verdict import verdicts

_OUTPUT_CHARS = 300  # flipped cases show this much of each answer


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
    base_side, cand_side = side_of(con, base_id), side_of(con, cand_id)
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
    for given, avail, run in ((base_model, bm_all, base_side), (cand_model, cm_all, cand_side)):
        if given is not None and not avail:
            raise UsageError(f"run {run.run_id} has no results for model {given!r}; it ran {', '.join(run.models)}.")
    model_pairs, model_notes = match_models(bm_all, cm_all)
    notes += model_notes
    base_rows, cand_rows = load_run(con, base_id), load_run(con, cand_id)
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
    missing = missing_cases(base_rows_cov, cand_rows, model_pairs)
    if missing and not allow_partial:
        raise UsageError(f"the candidate run {cand_id} does not cover the base run {base_id}: "
                         f"{'; '.join(missing)} missing; run the same suites, or pass --allow-partial "
                         "to compare the cases both runs hold.")
    partial += [f"the candidate lacks {m}" for m in missing]
    floors = floors_of(cand_config)
    base_suites = sorted({s for s, m in base_rows if m in bm_all})
    cand_suites = sorted({s for s, m in cand_rows if m in cm_all})
    new_suites = []
    for (suite, cm), cases in sorted(cand_rows.items()):
        if cm in cm_all and suite not in base_suites:
            new_suites.append(_new_suite(suite, cm, cases, floors.get(suite)))
            notes.append(f"suite {suite} is only in the candidate run: no paired test, "
                         + (f"held to its floor of {100 * floors[suite]:g}%." if suite in floors
                            else "no floor (gate.min_accuracy) to hold it to."))

    paired: list[tuple[str, Paired]] = []
    for suite in sorted(set(base_suites) & set(cand_suites)):
        for bm, cm in model_pairs:
            if (suite, bm) not in base_rows or (suite, cm) not in cand_rows:
                continue
            p = pair(suite, bm, cm, base_rows[(suite, bm)], cand_rows[(suite, cm)])
            p.min_accuracy = floors.get(suite)
            p.sequential = (seq or {}).get("suites", {}).get(suite)
            p.case_metrics = (_case_metrics(con, base_id, suite, bm, p.case_ids),
                              _case_metrics(con, cand_id, suite, cm, p.case_ids))
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

    units, overall = verdicts(paired, alpha=alpha, min_drop=min_drop, max_cost_increase=max_cost_increase,
                               max_latency_increase=max_latency_increase, n_resamples=n_resamples, seed=seed,
                               max_error_rate=max_error_rate, sequential=bool(seq),
                               sequential_run=bool(cand_config.get("sequential")))
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


def _new_suite(suite: str, model: str, cases: dict[str, list[Row]], floor: float | None) -> dict:
    """A suite only the candidate ran: nothing to pair it with, so only its floor can fail it."""
    acc = Accuracy.of_cases(map(tally, cases.values())).estimate
    failed = floor is not None and (acc is None or acc < floor)
    reason = None
    if failed and floor is not None:
        reason = (f"new suite {suite}: candidate accuracy "
                  f"{'n/a' if acc is None else f'{100 * acc:.1f}%'} is below its floor of {100 * floor:g}% "
                  "(gate.min_accuracy)")
    return {"suite": suite, "model": model, "cases": len(cases), "accuracy": acc, "min_accuracy": floor,
            "failed": failed, "reason": reason}


def _attach_metrics(con, base_id: str, cand_id: str, paired: list[tuple[str, Paired]], units: list[Unit]) -> None:
    """Each side's metrics record over its paired rows, by the queries every view uses."""
    for (_, p), u in zip(paired, units):
        for run_id, model, attr in ((base_id, p.base_model, "base_metrics"), (cand_id, p.cand_model, "cand_metrics")):
            relation, params = store.results_relation(run_id, p.suite, model, p.case_ids)
            scope = metrics.Scope(relation, ("model",), params)
            got = list(metrics.suite_metrics(con, scope).values())
            setattr(u, attr, got[0].to_dict(("model",)) if got else None)


def _case_metrics(con, run_id: str, suite: str, model: str, case_ids: list[str]) -> list[dict | None]:
    """Each case's metrics record (evalseed.metrics, grouped by case as well as model): the kind's
    per-answer rates and means over the case's asked repeats, a classification's confusion cells;
    one definition with every other view."""
    if not case_ids:
        return []
    relation, params = store.results_relation(run_id, suite, model, case_ids)
    got = metrics.suite_metrics(con, metrics.Scope(relation, ("model", "case_id"), params))
    by_case = {k[2]: m.to_dict(("model", "case_id")) for k, m in got.items()}
    return [by_case.get(cid) for cid in case_ids]


def _attach_details(con, base_id: str, cand_id: str, units: list[Unit]) -> None:
    """Expected answer and each side's (first repeat's) output for flipped cases."""
    for u in units:
        flips = u.flips["regressed"] + u.flips["improved"]
        if not flips:
            continue
        ids = [f.case_id for f in flips]
        base = store.first_answers(con, base_id, u.suite, u.base_model, ids)
        cand = store.first_answers(con, cand_id, u.suite, u.cand_model, ids)
        for f in flips:
            bo, bd = base.get(f.case_id, (None, None))
            co, _ = cand.get(f.case_id, (None, None))
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

