"""Bodies of `evalseed route train|eval|pick` and `evalseed import outcomes`: parse nothing,
print results, raise `UsageError` on bad input (the CLI maps it to exit code 2)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ..errors import UsageError
from ..files import json_safe

OBJECTIVES = ("near-best", "lambda", "budget", "latency")


def _open(db: str):
    from ..store import open_db

    return open_db(db, read_only=True)


def _ids(runs: str | None) -> list[str] | None:
    return [r.strip() for r in runs.split(",") if r.strip()] if runs else None


def _load(db: str, runs: str | None, since: str | None):
    from .data import load_outcomes, select_runs

    con = _open(db)
    try:
        ids = select_runs(con, _ids(runs), since)
        return load_outcomes(con, ids)
    finally:
        con.close()


def _load_test(db: str, train_ids: list[str], test_runs: str | None, test_db: str | None):
    """The explicit test set: `--test-runs` of `--test-db` (or of the training database), or the
    latest run of `--test-db`. Refuses a test set that shares runs with the training set."""
    if test_db is None and test_runs is None:
        return None
    data = _load(test_db or db, test_runs, None)
    if test_db is None and set(data.run_ids) & set(train_ids):
        both = ", ".join(sorted(set(data.run_ids) & set(train_ids)))
        raise UsageError(f"run {both} is both a training and a test run; name each run on one side only.")
    return data


def _objective(objective: str, lam: float | None, mu: float | None, budget: float | None,
               slo_ms: float | None) -> dict:
    if objective not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}.")
    if objective == "near-best" and (lam or mu):
        objective = "lambda"  # --lambda / --mu ask for the weighted objective
    obj: dict = {"kind": objective, "lambda": 0.0 if lam is None else lam, "mu": mu or 0.0}
    if objective == "budget":
        if budget is None:
            raise UsageError("--objective budget needs --budget USD (per 1,000 calls).")
        obj["budget_per_1k"] = budget
    if objective == "latency":
        if slo_ms is None:
            raise UsageError("--objective latency needs --slo-ms (the latency each call must stay under).")
    if slo_ms is not None:
        obj["slo_ms"] = slo_ms
    return obj


def _write_json(path: str, payload: dict) -> None:
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=1, default=_jsonable), encoding="utf-8")
        tmp.replace(p)
    except OSError as e:
        raise UsageError(f"{path}: cannot write ({e.strerror}).") from None


def _jsonable(v):
    import numpy as np

    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(type(v).__name__)


def train_command(db: str, runs: str | None, since: str | None, out: str, policy: str, objective: str,
                  lam: float | None, mu: float | None, budget: float | None, slo_ms: float | None,
                  seed: int, test_fraction: float, test_runs: str | None = None, test_db: str | None = None) -> int:
    from .fit import train_router
    from .policies import ORDER

    if policy != "auto" and policy not in ORDER:
        raise UsageError(f"--policy must be auto or one of {', '.join(ORDER)}, not {policy!r}.")
    if not 0.0 <= test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be at least 0 and below 1 (0 trains on everything), not {test_fraction}.")
    obj = _objective(objective, lam, mu, budget, slo_ms)
    data = _load(db, runs, since)
    split = None
    test = _load_test(db, data.run_ids, test_runs, test_db)
    if test is not None:
        test_fraction = 0.0
        split = {"kind": "explicit", "train_db": db, "train_runs": data.run_ids, "test_db": test_db or db,
                 "test_runs": test.run_ids}
    spec = train_router(data, policy=policy, seed=seed, test_fraction=test_fraction, objective=obj,
                        log=lambda s: print(s, file=sys.stderr), split=split)
    _write_json(out, json_safe(spec))
    tr = spec["split"]
    held = (f"tested on {len(test)} cases of {', '.join(test.run_ids)}" if test is not None
            else "none held out: evaluate it on other runs or another database" if test_fraction == 0
            else f"{tr['test_cases']} held out")
    print(f"trained a {spec['selected_policy']} router on {tr['train_cases']} cases of {len(data.models)} models "
          f"({held}) in {spec['fit_seconds']:.2f} s -> {out}")
    if spec["validation_scores"]:
        print("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in spec["validation_scores"].items()))
    for r in spec["routes"][:30]:
        print(f"  {r['suite']:<40} -> {r['model']}")
    if len(spec["routes"]) > 30:
        print(f"  ... {len(spec['routes']) - 30} more suites in {out}")
    if test is not None:
        from .router import Router
        from .summary import evaluate_router

        _print_eval(evaluate_router(Router(spec), test))
    return 0


def eval_command(db: str, runs: str | None, since: str | None, router_path: str | None, json_out: str | None,
                 weak: str | None, strong: str | None, budgets: str | None, splits: int, boot: int,
                 policies: str, seed: int, test_fraction: float, test_runs: str | None = None,
                 test_db: str | None = None, db_given: bool = True) -> int:
    from .fit import experiment
    from .policies import ORDER
    from .router import Router
    from .summary import evaluate_router

    budget_list = _floats(budgets, "--budgets")
    if not router_path and not splits:
        raise UsageError("route eval needs --router FILE (a trained router) and/or --splits N (compare policies).")
    result: dict = {}
    if router_path:
        router = Router.load(router_path)
        sp = router.spec.get("split") or {}
        if sp.get("kind") == "explicit" and not db_given and runs is None and since is None and test_db is None:
            # the router's own test set, as `route train --test-runs/--test-db` named it
            data = _load(sp["test_db"], ",".join(sp["test_runs"]), None)
        elif test_db is not None or test_runs is not None:
            data = _load(test_db or db, test_runs, None)
        else:
            data = _load(db, runs, since)
        result.update({"runs": data.run_ids, "cases": len(data), "models": data.models})
        ev = evaluate_router(router, data, weak=weak, strong=strong, budgets=budget_list)
        result["router"] = ev
        _print_eval(ev)
    if splits:
        data = _load(db, runs, since)
        result.update({"runs": result.get("runs", data.run_ids), "cases": result.get("cases", len(data)),
                       "models": data.models})
        names = [p.strip() for p in policies.split(",") if p.strip()]
        bad = [p for p in names if p not in ORDER]
        if bad:
            raise UsageError(f"--policies: unknown {', '.join(bad)}; choose from {', '.join(ORDER)}.")
        test = _load_test(db, data.run_ids, test_runs, test_db)
        ex = experiment(data, policies=names, splits=splits, seed=seed, test_fraction=test_fraction, boot=boot,
                        weak=weak, strong=strong, log=lambda s: print(s, file=sys.stderr), test_data=test)
        result["experiment"] = ex
        _print_experiment(ex)
    if json_out:
        _write_json(json_out, json_safe(result))
        print(f"wrote {json_out}")
    return 0


def _floats(s: str | None, flag: str) -> list[float] | None:
    if not s:
        return None
    try:
        return [float(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{flag} {s!r}: expected numbers separated by commas, e.g. 0.5,1,2.") from None


def _fmt(v, pct=False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.4f}"


def _print_eval(ev: dict) -> None:
    if "error" in ev:
        print(f"router: {ev['error']}")
        return
    print(f"evaluated on {ev['test_cases']} cases ({ev.get('evaluated_on', 'held out')})   policy: {ev['policy']}"
          + ("" if ev.get("cost_known", True) else "   (some costs unknown: counted as 0)"))
    print(f"{'':<44}{'$/1k calls':>12}{'quality':>10}")
    for s in ev["singles"]:
        print(f"  {s['model']:<42}{1000 * s['cost']:>12.4f}{s['quality']:>10.4f}")
    print(f"  {'oracle':<42}{1000 * ev['oracle']['cost']:>12.4f}{ev['oracle']['quality']:>10.4f}")
    op = ev["operating_point"]
    print(f"  {'router (' + op.get('kind', 'lambda') + ')':<42}{1000 * op['cost']:>12.4f}{op['quality']:>10.4f}   "
          + ", ".join(f"{m} {100 * v:.0f}%" for m, v in op["shares"].items() if v))
    a = ev["aiq"]
    print(f"AIQ (exact, {ev.get('router_points', '?')} operating points): router {_fmt(a['router'])}   "
          f"Zero router {_fmt(a['zero_router'])}   oracle {_fmt(a['oracle'])}")
    if "router_mean_cost" in a:
        print(f"  what it learned about quality: AIQ {_fmt(a['router_mean_cost'])} with one mean cost per model "
              f"({a['quality_gain']:+.4f} over the Zero router); about cost: AIQ {_fmt(a['cost_only'])} with one mean "
              f"quality per model and per-prompt costs ({a['cost_gain']:+.4f})")
    if "pair" in ev:
        p = ev["pair"]
        r = p["router"]
        print(f"{p['weak']} -> {p['strong']}: APGR {_fmt(r['apgr'])}  CPT(50%) {_fmt(r['cpt50'], True)}  "
              f"CPT(80%) {_fmt(r['cpt80'], True)}   (random 0.5000 / 50% / 80%; oracle APGR {_fmt(p['oracle']['apgr'])})")
        if not p.get("meaningful", True):
            print(f"  APGR and CPT mean nothing here: {p['strong']} leads {p['weak']} by {p['gap']:+.3f} "
                  f"[{p['gap_low']:+.3f}, {p['gap_high']:+.3f}], a gap inside the noise (they divide by it).")
    for b in ev.get("budgets") or []:
        mix = (f" (mixing lambda {b['lambda']:.4g} with {100 * b['mix']:.0f}% of calls at lambda {b['lambda_dearer']:.4g})"
               if b.get("mix") and b.get("lambda") is not None and b.get("lambda_dearer") is not None else "")
        print(f"  budget ${b['budget_per_1k']}/1k calls: quality {_fmt(b['quality'])} at "
              f"${_fmt(b['cost_per_1k'])}/1k{mix}")


def _print_experiment(ex: dict) -> None:
    how = (f"{ex['splits']} grouped splits ({int(100 * ex['test_fraction'])}% held out)" if ex.get("test_fraction")
           else "trained on all of the training runs, tested on all of the test set")
    print(f"{how} x {ex['bootstrap']} bootstrap resamples; pair {ex['weak']} -> {ex['strong']}; mean [2.5%, 97.5%]")
    print(f"  {'policy':<10}{'APGR':>26}{'CPT(50%)':>26}{'CPT(80%)':>26}{'AIQ':>26}")

    def cell(d, pct=False):
        if not d or d.get("mean") is None:
            return f"{'-':>26}"
        f = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.3f}")
        return f"{f(d['mean']) + ' [' + f(d['lo']) + ', ' + f(d['hi']) + ']':>26}"

    for name, d in ex["summary"].items():
        print(f"  {name:<10}{cell(d.get('apgr'))}{cell(d.get('cpt50'), True)}{cell(d.get('cpt80'), True)}"
              f"{cell(d.get('aiq'))}")
    for key, diffs in ex.items():
        for metric in ("apgr", "aiq"):
            if key.startswith(metric + "_minus_"):
                for name, d in diffs.items():
                    print(f"  {metric.upper()} {name} - {key[len(metric) + 7:]} (paired): {cell(d).strip()}")
    for name, g in (ex.get("aiq_gain_over_zero") or {}).items():
        print(f"  {name}: AIQ over the Zero router {cell(g['total']).strip()} = quality (one mean cost per model) "
              f"{cell(g['quality']).strip()}, cost prediction alone {cell(g['cost']).strip()}")
    gap = ex.get("pair_gap") or {}
    if gap and not gap.get("meaningful", True):
        print(f"  APGR and CPT mean nothing here: the strong model leads by {cell(gap).strip()}, a gap inside the noise.")


def pick_command(router_path: str, text: str, kind: str | None, suite: str | None, tags: str | None,
                 lam: float | None, mu: float | None, slo_ms: float | None, as_json: bool) -> int:
    from .router import Router

    r = Router.load(router_path)
    if text == "-":
        text = sys.stdin.read()
    p = r.pick(text, kind=kind, suite=suite, tags=[t for t in (tags or "").split(",") if t] or None,
               lam=lam, mu=mu, slo_ms=slo_ms)
    # A model the router never saw a cost for (no price, no usage) is predicted at 0: say unknown.
    trained = (r.spec.get("training") or {}).get("models") or {}
    known = {m: (trained.get(m) or {}).get("cost_usd") is not None for m in r.models}
    if as_json:
        preds = {m: {**v, "cost_usd": v["cost_usd"] if known.get(m, True) else None} for m, v in p.predictions.items()}
        print(json.dumps({"model": p.model, "quality": p.quality,
                          "cost_usd": p.cost_usd if known.get(p.model, True) else None, "latency_ms": p.latency_ms,
                          "policy": p.policy, "predictions": preds}))
    else:
        cost = f"${p.cost_usd:.6f}" if known.get(p.model, True) else "unknown"
        print(f"{p.model}\tquality {p.quality:.3f}\tcost {cost}\tlatency {p.latency_ms:.0f} ms")
    return 0
