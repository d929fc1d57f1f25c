"""One evaluation of a trained router on held-out cases: the dict behind `route eval --json` and
the report's router section."""

from __future__ import annotations

import numpy as np

from . import evaluate as E
from .data import Outcomes, split_mask
from .policies import Batch


def held_out(data: Outcomes, spec: dict) -> Outcomes:
    """The cases the router did not train on (its own split), every model answered."""
    sp = spec.get("split") or {}
    mask = split_mask(data, float(sp.get("test_fraction", 0.5)), int(sp.get("seed", 0)))
    return data.subset(np.flatnonzero(mask)).complete()


def predict_batch(router, data: Outcomes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A loaded Router's predictions for many cases, columns in the data's model order."""
    from . import features as F

    missing = [m for m in data.models if m not in router.models]
    if missing:
        from ..errors import UsageError

        raise UsageError(f"the router was not trained on {', '.join(missing)}; retrain it on these runs.")
    batch = Batch.of(data, router.fz or F.TextFeaturizer())
    q = router.policy.predict(batch, router.table)
    c = router.cost.predict(batch.chars, batch.kinds, batch.suites)
    lat = router.latency.predict(batch.chars, batch.kinds, batch.suites)
    cols = [router.models.index(m) for m in data.models]
    return q[:, cols], c[:, cols], lat[:, cols]


def evaluate_router(router, data: Outcomes, *, weak: str | None = None, strong: str | None = None,
                    budgets: list[float] | None = None) -> dict:
    """Curves and numbers for `router` on `data`'s held-out cases. See `evalseed.router.report_data`
    for the keys."""
    from .fit import model_pair

    test = held_out(data, router.spec)
    out: dict = {"models": data.models, "policy": router.policy.name, "test_cases": len(test),
                 "routes": router.spec.get("routes", []), "objective": router.spec.get("objective")}
    if len(test) == 0:
        out["error"] = "no held-out case has an answer from every model"
        return out
    Q, C = test.Q, test.C
    out["cost_known"] = bool(np.isfinite(C).all())
    C = np.nan_to_num(C)
    q, c, lat = predict_batch(router, test)
    sing = E.singles(Q, C)
    cmin, cmax = min(x for x, _ in sing), max(x for x, _ in sing)
    lams = E.lambda_grid(c)
    pts = E.curve(Q, C, q, c, lams, lat, router.mu)
    oc = E.curve(Q, C, Q, C, E.lambda_grid(C))
    share = lambda p: {m: float(s) for m, s in zip(data.models, p["shares"])}  # noqa: E731
    out["singles"] = [{"model": m, "cost": x, "quality": y} for m, (x, y) in zip(data.models, sing)]
    ocost, oq = E.oracle(Q, C)
    out["oracle"] = {"cost": ocost, "quality": oq}
    out["oracle_curve"] = [{"lambda": p["lambda"], "cost": p["cost"], "quality": p["quality"]} for p in oc]
    out["zero_router"] = [{"cost": x, "quality": y} for x, y in E.nondecreasing_hull(sing)]
    out["router_curve"] = [{"lambda": p["lambda"], "cost": p["cost"], "quality": p["quality"], "shares": share(p)}
                           for p in pts]
    out["router_hull"] = [{"cost": x, "quality": y}
                          for x, y in E.nondecreasing_hull([(p["cost"], p["quality"]) for p in pts])]
    rows = np.arange(len(Q))
    pick = E.choose(q, c, router.lam, lat, router.mu, router.slo_ms)
    out["operating_point"] = {
        "lambda": None if np.isinf(router.lam) else router.lam, "mu": router.mu,
        "cost": float(C[rows, pick].mean()), "quality": float(Q[rows, pick].mean()),
        "shares": {m: float(s) for m, s in zip(data.models, np.bincount(pick, minlength=len(data.models)) / len(pick))},
    }
    out["aiq"] = {
        "router": E.aiq([(p["cost"], p["quality"]) for p in pts], cmin, cmax),
        "zero_router": E.aiq(sing, cmin, cmax),
        "oracle": E.aiq([(p["cost"], p["quality"]) for p in oc], cmin, cmax),
        "cost_range": [cmin, cmax],
    }
    try:
        w, s = model_pair(test, weak, strong)
    except Exception:
        w = s = ""
    if w and s:
        wi, si = data.models.index(w), data.models.index(s)
        pm = E.pair_metrics(q[:, si] - q[:, wi], Q[:, wi], Q[:, si])
        om = E.pair_metrics(Q[:, si] - Q[:, wi], Q[:, wi], Q[:, si])
        rm = E.pair_metrics(np.zeros(len(Q)), Q[:, wi], Q[:, si])  # a constant score: random routing
        out["pair"] = {"weak": w, "strong": s, "router": pm,
                       "random": {k: v for k, v in rm.items() if k != "pgr"},
                       "oracle": {k: v for k, v in om.items() if k != "pgr"}}
    if budgets:
        out["budgets"] = E.quality_at_budgets(pts, budgets)
    return out
