"""How good is a router: curves and the numbers RouterBench and RouteLLM report.

Definitions (also in docs/routing.md):

- A router's *curve*: for each lambda in a sweep, every held-out case goes to the model that
  maximises predicted `quality - lambda * cost` (minus `mu * latency`); the point is the mean
  *true* cost per call and mean *true* quality of those choices.
- *Zero router*: the upper convex hull of the single models' (cost, quality) points, i.e. what
  random mixing of single models reaches (RouterBench).
- *Non-decreasing convex hull* of a point set: R(c) = the highest quality on the convex hull of
  the points at any cost <= c (spending less is always allowed).
- *AIQ* (RouterBench): (1 / (c_max - c_min)) * integral of R(c) over [c_min, c_max], where
  c_min, c_max are the cheapest and dearest single model's mean costs; R(c) = 0 below the curve's
  cheapest point. With equal costs (c_max == c_min) AIQ is R(c_max).
- *PGR / APGR / CPT* (RouteLLM), for a weak/strong pair: rank cases by the router's predicted
  gain q_strong - q_weak; send the top fraction f to the strong model (ties split evenly, i.e.
  the expectation over random tie-breaking). PGR(f) = (acc(f) - acc_weak) / (acc_strong -
  acc_weak). APGR is the trapezoid area under PGR over f = 0, 0.1, ..., 1 (RouteLLM evaluates 10
  bins). CPT(x) is the smallest fraction of strong calls at which PGR reaches x, by linear
  interpolation between those 11 points (first crossing).
"""

from __future__ import annotations

import numpy as np

FRACTIONS = np.linspace(0.0, 1.0, 11)


# ---- choosing ---------------------------------------------------------------------------------


def choose(qhat: np.ndarray, chat: np.ndarray, lam: float, lhat: np.ndarray | None = None,
           mu: float = 0.0, slo_ms: float | None = None) -> np.ndarray:
    """Index of the chosen model per row. Ties go to the cheaper model. A latency SLO removes
    the models predicted slower than it (if every model is, the fastest one stays)."""
    if np.isinf(lam):
        u = -chat - 1e-12 * (lhat if lhat is not None else 0.0) + 1e-9 * qhat
    else:
        u = qhat - lam * chat - 1e-9 * chat
        if lhat is not None and mu:
            u = u - mu * lhat
    if slo_ms is not None and lhat is not None:
        slow = lhat > slo_ms
        all_slow = slow.all(axis=-1, keepdims=True)
        u = np.where(slow & ~all_slow, -np.inf, u)
        u = np.where(all_slow, -lhat, u)
    return np.argmax(u, axis=-1)


def lambda_grid(chat: np.ndarray, n: int = 40) -> np.ndarray:
    """0, a log-spaced range scaled to the cost differences between models, and infinity."""
    spread = np.nanmedian(np.nanmax(chat, axis=1) - np.nanmin(chat, axis=1)) if chat.size else 0.0
    if not np.isfinite(spread) or spread <= 0:
        spread = max(float(np.nanmean(chat)) if chat.size and np.isfinite(np.nanmean(chat)) else 0.0, 1e-9)
    scale = 1.0 / spread
    return np.concatenate([[0.0], scale * np.logspace(-3, 3, n), [np.inf]])


def curve(Q: np.ndarray, C: np.ndarray, qhat: np.ndarray, chat: np.ndarray, lams: np.ndarray,
          lhat: np.ndarray | None = None, mu: float = 0.0) -> list[dict]:
    """The router's (cost, quality) over the lambda sweep, with each model's share of calls."""
    rows = np.arange(len(Q))
    out = []
    for lam in lams:
        pick = choose(qhat, chat, lam, lhat, mu)
        out.append({
            "lambda": None if np.isinf(lam) else float(lam),
            "cost": float(C[rows, pick].mean()),
            "quality": float(Q[rows, pick].mean()),
            "shares": np.bincount(pick, minlength=Q.shape[1]) / len(pick),
        })
    return out


def singles(Q: np.ndarray, C: np.ndarray) -> list[tuple[float, float]]:
    return [(float(C[:, j].mean()), float(Q[:, j].mean())) for j in range(Q.shape[1])]


def oracle(Q: np.ndarray, C: np.ndarray) -> tuple[float, float]:
    """Every case to its best model (cheapest among equals): (cost, quality)."""
    pick = choose(Q, C, 0.0)
    rows = np.arange(len(Q))
    return float(C[rows, pick].mean()), float(Q[rows, pick].mean())


# ---- hulls and AIQ ----------------------------------------------------------------------------


def nondecreasing_hull(points) -> list[tuple[float, float]]:
    """Vertices of R(c): the upper convex hull of the points up to its highest point, then flat."""
    pts = sorted({(float(c), float(q)) for c, q in points})
    if not pts:
        return []
    hull: list[tuple[float, float]] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point when it lies on or below the segment from x1 to p
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    # keep the rising part: running maximum of a concave chain
    out = [hull[0]]
    for p in hull[1:]:
        if p[1] > out[-1][1]:
            out.append(p)
    return out


def hull_value(hull: list[tuple[float, float]], c: np.ndarray) -> np.ndarray:
    """R(c) on an array of costs; 0 below the hull's cheapest point, flat after its top."""
    c = np.asarray(c, dtype=float)
    xs = np.array([p[0] for p in hull])
    ys = np.array([p[1] for p in hull])
    v = np.interp(c, xs, ys)
    return np.where(c < xs[0] - 1e-15, 0.0, v)


def aiq(points, c_min: float, c_max: float) -> float:
    """RouterBench's Average Improvement in Quality: the mean of R(c) over [c_min, c_max]."""
    hull = nondecreasing_hull(points)
    if not hull:
        return float("nan")
    if c_max <= c_min:
        return float(hull_value(hull, np.array([c_max]))[0])
    # exact integral of a piecewise-linear function over its breakpoints; 0 before its start
    start = hull[0][0]
    if start >= c_max:
        return 0.0
    lo = max(c_min, start)
    xs = np.array(sorted({lo, c_max, *[p[0] for p in hull if lo < p[0] < c_max]}))
    area = np.trapezoid(hull_value(hull, xs), xs)
    return float(area / (c_max - c_min))


# ---- RouteLLM's APGR / CPT --------------------------------------------------------------------


def strong_curve(score: np.ndarray, q_weak: np.ndarray, q_strong: np.ndarray,
                 fractions: np.ndarray = FRACTIONS) -> np.ndarray:
    """Expected accuracy when the top `f` of cases by `score` go to the strong model; cases with
    equal scores share the strong calls evenly (the mean over random tie-breaking)."""
    n = len(score)
    order = np.argsort(-score, kind="stable")
    s = score[order]
    gain = (q_strong - q_weak)[order].astype(float)
    # replace each tied run's gains by the run's mean gain
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], n]
    sums = np.add.reduceat(gain, starts) if n else np.zeros(0)
    gain = np.repeat(sums / (ends - starts), ends - starts)
    cum = np.r_[0.0, np.cumsum(gain)]
    k = fractions * n
    g = np.interp(k, np.arange(n + 1), cum)
    return q_weak.mean() + g / n


def pgr(acc: np.ndarray, acc_weak: float, acc_strong: float) -> np.ndarray:
    return (acc - acc_weak) / (acc_strong - acc_weak)


def apgr(pgr_values: np.ndarray, fractions: np.ndarray = FRACTIONS) -> float:
    return float(np.trapezoid(pgr_values, fractions))


def cpt(pgr_values: np.ndarray, target: float, fractions: np.ndarray = FRACTIONS) -> float:
    """Smallest strong-call fraction where PGR first reaches `target` (linear in between)."""
    for i, v in enumerate(pgr_values):
        if v >= target - 1e-12:
            if i == 0:
                return float(fractions[0])
            v0 = pgr_values[i - 1]
            t = (target - v0) / (v - v0) if v != v0 else 1.0
            return float(fractions[i - 1] + t * (fractions[i] - fractions[i - 1]))
    return float("nan")


def pair_metrics(score: np.ndarray, q_weak: np.ndarray, q_strong: np.ndarray) -> dict:
    """APGR, CPT(50%), CPT(80%) and the PGR curve of one scoring of the cases."""
    acc_w, acc_s = float(q_weak.mean()), float(q_strong.mean())
    if acc_s == acc_w:
        return {"apgr": float("nan"), "cpt50": float("nan"), "cpt80": float("nan"), "pgr": []}
    p = pgr(strong_curve(score, q_weak, q_strong), acc_w, acc_s)
    return {"apgr": apgr(p), "cpt50": cpt(p, 0.5), "cpt80": cpt(p, 0.8), "pgr": [float(v) for v in p]}


# ---- budgets ----------------------------------------------------------------------------------


def quality_at_budgets(points: list[dict], budgets_per_1k: list[float]) -> list[dict]:
    """The best quality a sweep point reaches without its mean cost per 1,000 calls exceeding
    each budget (no mixing of points); None when no point fits."""
    out = []
    for b in budgets_per_1k:
        fit = [p for p in points if p["cost"] * 1000 <= b + 1e-12]
        best = max(fit, key=lambda p: (p["quality"], -p["cost"])) if fit else None
        out.append({"budget_per_1k": b, "quality": best["quality"] if best else None,
                    "cost_per_1k": best["cost"] * 1000 if best else None,
                    "lambda": best["lambda"] if best else None})
    return out
