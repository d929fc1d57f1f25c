"""How good is a router: curves and the numbers RouterBench and RouteLLM report.

Definitions (also in docs/routing.md):

- A router's *curve*: for each lambda, every held-out case goes to the model that maximises
  predicted `quality - lambda * cost` (minus `mu * latency`); the point is the mean *true* cost
  per call and mean *true* quality of those choices. `Frontier` gives the curve at every lambda
  exactly; `curve` evaluates a given list of lambdas.
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
  bins). CPT(x) is exact: the smallest fraction of strong calls at which PGR reaches x on the
  whole curve (PGR is linear between k/n and (k+1)/n strong calls, n cases).
- *Exact frontier*: every case's choice changes only at the cost weights where two of its models'
  predicted utilities cross, so the policy has finitely many distinct operating points;
  `frontier` finds them all (no lambda grid), and AIQ is computed on them.
- *Quality at a budget* (RouterBench): R(budget) on the non-decreasing hull, i.e. a random mix of
  the two neighbouring hull points whose mean cost is the budget (never above it).
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
        u = qhat - lam * chat
        if lhat is not None and mu:
            u = u - mu * lhat
        if slo_ms is None:
            # the highest utility, exactly; among equals the cheapest (as `Frontier` does)
            top = u == u.max(axis=-1, keepdims=True)
            return np.argmin(np.where(top, chat, np.inf), axis=-1)
        u = u - 1e-9 * chat
    if slo_ms is not None and lhat is not None:
        slow = lhat > slo_ms
        all_slow = slow.all(axis=-1, keepdims=True)
        u = np.where(slow & ~all_slow, -np.inf, u)
        u = np.where(all_slow, -lhat, u)
    return np.argmax(u, axis=-1)


def text_fraction(text: str) -> float:
    """A prompt's fixed place in [0, 1): a mixed objective sends the prompts below its `mix` to
    its dearer operating point (deterministic, so a prompt always gets the same model)."""
    import hashlib

    h = hashlib.blake2b((text or "").encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def operate(qhat: np.ndarray, chat: np.ndarray, lhat: np.ndarray | None, objective: dict, kinds, suites,
            texts) -> np.ndarray:
    """The model index per row that a router with this objective picks.

    - `near-best` (the default): the cheapest model predicted within the task's tolerance of the
      best predicted quality (`objective["tolerance"]`, per suite, kind, or overall);
    - `lambda` / `latency`: the highest `quality - lambda * cost - mu * latency`;
    - `budget`: `lambda`, with the share `mix` of prompts (by `text_fraction`) at `lambda_dearer`.
    A latency SLO (`slo_ms`) removes models predicted slower than it in every kind."""
    kind = objective.get("kind", "lambda")
    slo = objective.get("slo_ms")
    mu = float(objective.get("mu") or 0.0)
    lam = objective.get("lambda")
    lam = float("inf") if lam is None else float(lam)
    if kind == "near-best":
        from .fit import tolerance_for

        tol = np.array([tolerance_for(objective.get("tolerance") or {}, k, s) for k, s in zip(kinds, suites)])
        q = qhat
        if slo is not None and lhat is not None:
            slow = lhat > slo
            slow = slow & ~slow.all(axis=1, keepdims=True)
            q = np.where(slow, -np.inf, qhat)
        ok = q >= q.max(axis=1, keepdims=True) - tol[:, None] - 1e-12
        key = np.where(ok, chat - 1e-12 * q.clip(-1, 2), np.inf)
        return np.argmin(key, axis=1)
    pick = choose(qhat, chat, lam, lhat, mu, slo)
    mix = float(objective.get("mix") or 0.0)
    if kind == "budget" and mix > 0 and objective.get("lambda_dearer") is not None:
        dear = choose(qhat, chat, float(objective["lambda_dearer"]), lhat, mu, slo)
        use = np.array([text_fraction(t) < mix for t in texts], dtype=bool)
        pick = np.where(use, dear, pick)
    return pick


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


class Frontier:
    """Every operating point of a policy as the cost weight lambda goes from 0 to infinity.

    Case i's utility of model m is the line `a[i, m] - lambda * chat[i, m]` with `a = qhat - mu *
    lhat`; at lambda = 0 the case goes to the highest `a` (the cheapest among equals), and as
    lambda grows it moves to cheaper models at the crossings of the upper envelope of its lines.
    Those crossings (events) are found for all cases at once, at most m - 1 per case."""

    def __init__(self, qhat: np.ndarray, chat: np.ndarray, lhat: np.ndarray | None = None, mu: float = 0.0):
        a = np.asarray(qhat, dtype=float)
        c = np.asarray(chat, dtype=float)
        if lhat is not None and mu:
            a = a - mu * np.asarray(lhat, dtype=float)
        n, m = a.shape
        rows = np.arange(n)
        top = a == a.max(axis=1, keepdims=True)
        cur = np.argmin(np.where(top, c, np.inf), axis=1)
        self.start = cur.copy()
        lam = np.zeros(n)
        ev_lam, ev_case, ev_from, ev_to = [], [], [], []
        with np.errstate(divide="ignore", invalid="ignore"):
            for _ in range(m - 1):
                ccur, acur = c[rows, cur], a[rows, cur]
                cheaper = c < ccur[:, None]
                lk = np.where(cheaper, (acur[:, None] - a) / (ccur[:, None] - c), np.inf)
                lmin = lk.min(axis=1)
                has = np.isfinite(lmin)
                if not has.any():
                    break
                k = np.argmin(np.where(lk == lmin[:, None], c, np.inf), axis=1)
                at = np.maximum(lmin, lam)
                ev_lam.append(at[has])
                ev_case.append(rows[has])
                ev_from.append(cur[has])
                ev_to.append(k[has])
                cur = np.where(has, k, cur)
                lam = np.where(has, at, lam)
        def cat(xs: list, t) -> np.ndarray:
            return np.concatenate(xs).astype(t) if xs else np.zeros(0, dtype=t)

        lam_all = cat(ev_lam, np.float64)
        order = np.argsort(lam_all, kind="stable")
        self.lam: np.ndarray = lam_all[order]
        self.case: np.ndarray = cat(ev_case, np.int64)[order]
        self.src: np.ndarray = cat(ev_from, np.int64)[order]
        self.dst: np.ndarray = cat(ev_to, np.int64)[order]
        self.models = m

    def _sweep(self, Q: np.ndarray, C: np.ndarray, weights: np.ndarray | None):
        """The case weights and their total, the starting policy's weighted cost and quality, the
        running sums of each event's change in them, and the last event at each distinct lambda."""
        n = len(Q)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        tot = w.sum()
        rows = np.arange(n)
        c0 = float((w * C[rows, self.start]).sum())
        q0 = float((w * Q[rows, self.start]).sum())
        we = w[self.case]
        dc = np.cumsum(we * (C[self.case, self.dst] - C[self.case, self.src]))
        dq = np.cumsum(we * (Q[self.case, self.dst] - Q[self.case, self.src]))
        ends = np.flatnonzero(np.r_[self.lam[1:] != self.lam[:-1], True]) if self.lam.size else np.zeros(0, int)
        return w, tot, c0, q0, dc, dq, ends

    def arrays(self, Q: np.ndarray, C: np.ndarray, weights: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lambda, cost, quality) of the operating points as arrays (what `points` lists)."""
        w, tot, c0, q0, dc, dq, ends = self._sweep(Q, C, weights)
        if not self.lam.size:
            return np.zeros(1), np.array([c0 / tot]), np.array([q0 / tot])
        return (np.r_[0.0, self.lam[ends]], np.r_[c0, c0 + dc[ends]] / tot, np.r_[q0, q0 + dq[ends]] / tot)

    def points(self, Q: np.ndarray, C: np.ndarray, weights: np.ndarray | None = None,
               shares: bool = False) -> list[dict]:
        """The distinct operating points in order of lambda: each is the policy on every lambda
        from its `lambda` up to the next one's (the events at one lambda are applied together,
        ties going to the cheaper model as `choose` does). `weights` counts each case (a bootstrap
        resample) and defaults to 1."""
        w, tot, c0, q0, dc, dq, ends = self._sweep(Q, C, weights)
        out = [{"lambda": 0.0, "cost": c0 / tot, "quality": q0 / tot}]
        for e in ends:
            out.append({"lambda": float(self.lam[e]), "cost": (c0 + dc[e]) / tot, "quality": (q0 + dq[e]) / tot})
        if shares:
            cnt = np.bincount(self.start, weights=w, minlength=self.models).astype(float)
            share_rows = [cnt / tot]
            for a, b in zip(np.r_[0, ends[:-1] + 1] if ends.size else [], ends):
                np.add.at(cnt, self.src[a:b + 1], -w[self.case[a:b + 1]])
                np.add.at(cnt, self.dst[a:b + 1], w[self.case[a:b + 1]])
                share_rows.append(cnt / tot)
            for p, sh in zip(out, share_rows):
                p["shares"] = sh.copy()
        return out

    def aiq(self, Q: np.ndarray, C: np.ndarray, c_min: float, c_max: float,
            weights: np.ndarray | None = None) -> float:
        _, c, q = self.arrays(Q, C, weights)
        return aiq(pareto(c, q), c_min, c_max)


def pareto(cost: np.ndarray, quality: np.ndarray) -> list[tuple[float, float]]:
    """The points no cheaper-or-equal point matches in quality (the only ones the non-decreasing
    hull can use), found with one sort: far fewer for the hull to walk."""
    order = np.lexsort((-quality, cost))
    c, q = cost[order], quality[order]
    best = np.maximum.accumulate(q)
    keep = np.r_[True, q[1:] > best[:-1]]
    return list(zip(c[keep].tolist(), q[keep].tolist()))


def frontier_points(Q, C, qhat, chat, lhat=None, mu: float = 0.0, shares: bool = False) -> list[dict]:
    """The policy's exact operating points (see `Frontier`)."""
    return Frontier(qhat, chat, lhat, mu).points(Q, C, shares=shares)


def oracle_aiq(Q: np.ndarray, C: np.ndarray, c_min: float, c_max: float, weights: np.ndarray | None = None) -> float:
    """The oracle's AIQ, one definition everywhere: the exact frontier of the policy that knows
    every case's true quality and cost (`qhat = Q`, `chat = C`), over the singles' cost range."""
    return Frontier(Q, C).aiq(Q, C, c_min, c_max, weights)


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
    p = np.asarray(pgr_values, dtype=float)
    hit = p >= target - 1e-12
    if not hit.any():
        return float("nan")
    i = int(np.argmax(hit))
    if i == 0:
        return float(fractions[0])
    v0, v = p[i - 1], p[i]
    t = (target - v0) / (v - v0) if v != v0 else 1.0
    return float(fractions[i - 1] + t * (fractions[i] - fractions[i - 1]))


def pgr_exact(score: np.ndarray, q_weak: np.ndarray, q_strong: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fractions, PGR) at every k/n strong calls, k = 0..n: the whole curve, linear in between."""
    n = len(score)
    fr = np.arange(n + 1) / max(n, 1)
    acc_w, acc_s = float(q_weak.mean()), float(q_strong.mean())
    return fr, pgr(strong_curve(score, q_weak, q_strong, fr), acc_w, acc_s)


def cpt_exact(score: np.ndarray, q_weak: np.ndarray, q_strong: np.ndarray, target: float) -> float:
    """CPT(target) on the exact PGR curve (not the 11-point one)."""
    fr, p = pgr_exact(score, q_weak, q_strong)
    return cpt(p, target, fr)


def pair_metrics(score: np.ndarray, q_weak: np.ndarray, q_strong: np.ndarray) -> dict:
    """APGR (RouteLLM's 11 points), exact CPT(50%) and CPT(80%), and the 11-point PGR curve."""
    acc_w, acc_s = float(q_weak.mean()), float(q_strong.mean())
    if acc_s == acc_w:
        return {"apgr": float("nan"), "cpt50": float("nan"), "cpt80": float("nan"), "pgr": []}
    p = pgr(strong_curve(score, q_weak, q_strong), acc_w, acc_s)
    fr, pe = pgr_exact(score, q_weak, q_strong)
    return {"apgr": apgr(p), "cpt50": cpt(pe, 0.5, fr), "cpt80": cpt(pe, 0.8, fr), "pgr": [float(v) for v in p]}


# ---- budgets ----------------------------------------------------------------------------------


def hull_points(points: list[dict]) -> list[dict]:
    """The points (dicts with cost, quality, lambda) that are vertices of the non-decreasing hull."""
    hull = nondecreasing_hull([(p["cost"], p["quality"]) for p in points])
    best: dict[tuple[float, float], dict] = {}
    for p in points:
        best.setdefault((float(p["cost"]), float(p["quality"])), p)
    return [best[v] for v in hull]


def quality_at_budgets(points: list[dict], budgets_per_1k: list[float]) -> list[dict]:
    """RouterBench's quality at a budget: R(budget) on the non-decreasing hull of the points, i.e.
    the two neighbouring hull points mixed (a share `mix` of calls at the dearer one) so that the
    mean cost per call is the budget; the top point when the budget exceeds it; None below the
    cheapest point. The cost never exceeds the budget."""
    hull = hull_points(points)
    out = []
    for b in budgets_per_1k:
        B = b / 1000.0
        row: dict = {"budget_per_1k": b, "quality": None, "cost_per_1k": None, "lambda": None,
                     "lambda_dearer": None, "mix": 0.0}
        if hull and B >= hull[0]["cost"] * (1 - 1e-12):
            i = max(j for j, p in enumerate(hull) if p["cost"] <= B * (1 + 1e-12))
            lo = hull[i]
            row.update(quality=float(lo["quality"]), cost_per_1k=float(lo["cost"]) * 1000, **{"lambda": lo["lambda"]})
            if i + 1 < len(hull) and B > lo["cost"]:
                hi = hull[i + 1]
                t = (B - lo["cost"]) / (hi["cost"] - lo["cost"])
                row.update(quality=float(lo["quality"] + t * (hi["quality"] - lo["quality"])),
                           cost_per_1k=float((1 - t) * lo["cost"] + t * hi["cost"]) * 1000,
                           lambda_dearer=hi["lambda"], mix=float(t))
        out.append(row)
    return out
