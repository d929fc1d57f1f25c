"""The router: learn from the `results` table which model to use per task and at what cost.

Modules: `data` (results -> case x model matrices, grouped splits), `features` (hashed char
n-grams), `policies` (table, kNN, linear, logistic), `fit` (training, selection, repeated-split
experiments), `evaluate` (curves, AIQ, APGR, CPT), `summary` (one evaluation as a dict),
`router` (`Router.load(path).pick(...)`), `commands` (the CLI bodies).
"""

from __future__ import annotations


def report_data(con, run_ids: list[str], router_path: str | None = None) -> dict | None:
    """What the HTML report's router section shows, or None when the runs cannot be routed
    (fewer than two models, or no case every model answered).

    With `router_path`, that trained router is evaluated on its own held-out cases of these runs;
    without, a router is trained here (policy chosen automatically, grouped 50/50 split, seed 0)
    and evaluated on the held-out half.

    Keys of the returned dict (costs are mean USD per call, qualities mean 0..1 on held-out cases):
      models: [str]                       model names, the order of every per-model list
      policy: str                         global | table | knn | linear | logistic
      source: str                         the router file, or "trained for this report"
      test_cases: int                     held-out cases every model answered
      cost_known: bool                    False when some model had no cost (treated as 0)
      singles: [{model, cost, quality}]   each model alone
      oracle: {cost, quality}             every case to its best model (cheapest among equals)
      evaluated_on: str                   held-out cases of the training runs, or every case of
                                          runs the router did not train on
      oracle_curve: [{lambda, cost, quality}]     the oracle's exact frontier (at most ~200 points)
      zero_router: [{cost, quality}]      vertices of the Zero router (hull of single models)
      router_points: int                  the policy's distinct operating points (exact frontier)
      router_curve: [{lambda, cost, quality, shares: {model: fraction of calls}}]
                                          those points, thinned to ~200 plus every hull vertex;
                                          each holds from its lambda up to the next one's
      router_hull: [{cost, quality}]     the router curve's non-decreasing convex hull
      operating_point: {kind, lambda, mu, cost, quality, shares}   the trained objective's point
      aiq: {router, zero_router, oracle, router_mean_cost, cost_only, quality_gain, cost_gain,
            cost_range: [c_min, c_max]}   exact; router_mean_cost: the policy's quality predictions
                                          with one mean training cost per model; cost_only: one
                                          mean training quality per model, per-prompt costs
      pair: {weak, strong, router: {apgr, cpt50, cpt80, pgr: [11 values]}, random: {...},
             oracle: {...}, gap, gap_low, gap_high, meaningful}
                                          RouteLLM's metrics for the lowest/highest quality pair;
                                          meaningful False when the gap's 95% interval reaches 0
      routes: [{suite, kind, cases, model, quality: {model: q}}]   which model each suite goes
                                          to at the operating point (by the table's estimates)
      objective: {kind, lambda, mu, ...}  what the router was trained to optimise
      budgets: [{budget_per_1k, quality, cost_per_1k, lambda, lambda_dearer, mix}]  (route eval)
    """
    from ..errors import EvalseedError
    from .data import load_outcomes
    from .router import Router
    from .summary import evaluate_router

    try:
        data = load_outcomes(con, list(run_ids))
    except EvalseedError:
        return None
    if router_path:
        router = Router.load(router_path)
        source = str(router_path)
    else:
        from .fit import train_router

        router = Router(train_router(data, policy="auto"))
        source = "trained for this report"
    out = evaluate_router(router, data)
    if out.get("test_cases", 0) == 0:
        return None
    out["source"] = source
    return out
