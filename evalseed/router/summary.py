"""One evaluation of a trained router on held-out cases: the dict behind `route eval --json` and
the report's router section."""

from __future__ import annotations

import numpy as np

from . import evaluate as E
from .data import Outcomes, split_mask
from .tables import Batch


def held_out(data: Outcomes, spec: dict) -> Outcomes:
    """The cases the router did not train on, every model answered. A router that stored its
    training cases' keys (`train_keys`) leaves out exactly those prompts, so another database or
    other runs are evaluated whole; an older router file finds its held-out side of the hash
    split again from the stored seed."""
    if spec.get("train_keys"):
        from .fit import case_keys, unpack_keys

        seen = np.isin(case_keys(data), unpack_keys(spec["train_keys"]))
        return data.subset(np.flatnonzero(~seen)).complete()
    sp = spec.get("split") or {}
    mask = split_mask(data, float(sp.get("test_fraction", 0.5)), int(sp.get("seed", 0)))
    return data.subset(np.flatnonzero(mask)).complete()


def thin(points: list[dict], keep: int = 200) -> list[dict]:
    """At most about `keep` points for a chart or JSON: evenly spaced, plus every hull vertex."""
    if len(points) <= keep:
        return points
    idx = set(np.linspace(0, len(points) - 1, keep).round().astype(int).tolist())
    hull = {id(p) for p in E.hull_points(points)}
    return [p for i, p in enumerate(points) if i in idx or id(p) in hull]


def gap_is_noise(q_weak: np.ndarray, q_strong: np.ndarray) -> dict:
    """Whether the strong model's lead over the weak one is inside the noise: the paired 95%
    bootstrap interval of mean(q_strong - q_weak) (`stats.paired_bootstrap_diff`). APGR divides
    by that gap, so when its interval reaches 0 APGR means nothing."""
    from .. import stats

    iv = stats.paired_bootstrap_diff(q_weak.tolist(), q_strong.tolist(), n_resamples=2000, seed=0)
    return {"gap": float(iv.estimate), "gap_low": float(iv.low), "gap_high": float(iv.high),
            "meaningful": bool(iv.low > 0)}


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
    pts = E.Frontier(q, c, lat, router.mu).points(Q, C, shares=True)
    oc = E.frontier_points(Q, C, Q, C)
    share = lambda p: {m: float(s) for m, s in zip(data.models, p["shares"])}  # noqa: E731
    tr_runs = set((router.spec.get("training") or {}).get("runs") or [])
    out["evaluated_on"] = ("held-out cases of the training runs" if tr_runs & set(data.run_ids)
                           else "every case of runs the router did not train on")
    out["singles"] = [{"model": m, "cost": x, "quality": y} for m, (x, y) in zip(data.models, sing)]
    ocost, oq = E.oracle(Q, C)
    out["oracle"] = {"cost": ocost, "quality": oq}
    out["oracle_curve"] = [{"lambda": p["lambda"], "cost": p["cost"], "quality": p["quality"]} for p in thin(oc)]
    out["zero_router"] = [{"cost": x, "quality": y} for x, y in E.nondecreasing_hull(sing)]
    out["router_points"] = len(pts)
    out["router_curve"] = [{"lambda": p["lambda"], "cost": p["cost"], "quality": p["quality"], "shares": share(p)}
                           for p in thin(pts)]
    out["router_hull"] = [{"cost": x, "quality": y}
                          for x, y in E.nondecreasing_hull([(p["cost"], p["quality"]) for p in pts])]
    rows = np.arange(len(Q))
    obj = router.objective or {"kind": "lambda", "lambda": router.lam, "mu": router.mu}
    pick = E.operate(q, c, lat, obj, test.kinds, test.suites, test.texts)
    out["operating_point"] = {
        "kind": obj.get("kind", "lambda"),
        "lambda": None if np.isinf(router.lam) else router.lam, "mu": router.mu,
        "cost": float(C[rows, pick].mean()), "quality": float(Q[rows, pick].mean()),
        "shares": {m: float(s) for m, s in zip(data.models, np.bincount(pick, minlength=len(data.models)) / len(pick))},
    }
    # what the router learned about quality, apart from what it learned about cost
    trained = (router.spec.get("training") or {}).get("models") or {}
    mean_c = np.array([(trained.get(m) or {}).get("cost_usd") or 0.0 for m in data.models])
    mean_q = np.array([(trained.get(m) or {}).get("quality") or 0.0 for m in data.models])
    a_router = E.aiq([(p["cost"], p["quality"]) for p in pts], cmin, cmax)
    a_zero = E.aiq(sing, cmin, cmax)
    a_qual = E.Frontier(q, np.broadcast_to(mean_c, c.shape), lat, router.mu).aiq(Q, C, cmin, cmax)
    a_cost = E.Frontier(np.broadcast_to(mean_q, q.shape), c, lat, router.mu).aiq(Q, C, cmin, cmax)
    out["aiq"] = {
        "router": a_router,
        "zero_router": a_zero,
        "oracle": E.oracle_aiq(Q, C, cmin, cmax),
        "router_mean_cost": a_qual,
        "cost_only": a_cost,
        "quality_gain": a_qual - a_zero,
        "cost_gain": a_cost - a_zero,
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
                       "oracle": {k: v for k, v in om.items() if k != "pgr"},
                       **gap_is_noise(Q[:, wi], Q[:, si])}
    if budgets:
        out["budgets"] = E.quality_at_budgets(pts, budgets)
    return out
