"""Training a router: grouped split, policy selection on an inner validation split, the saved
JSON; and `experiment`, the repeated-split comparison behind `route eval --splits`.

Selection rule: policies are tried simplest first (global, table, knn, logistic); a richer one is
kept only if it beats the one kept so far on the validation cases (by AIQ, or by mean APGR over
model pairs when costs cannot separate them).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np

from .. import stats
from . import evaluate as E
from . import features as F
from .data import Outcomes, split_mask
from .policies import ORDER, FitContext, GlobalPolicy, KnnPolicy, LinearPolicy, LogisticPolicy, Policy, TablePolicy
from .tables import Batch, GroupTable, LinearByGroup, pack_array

FORMAT = "evalseed-router/1"


class Fitted:
    """Everything a policy needs at prediction time, fitted on one training set."""

    def __init__(self, train: Outcomes, policy: Policy, featurizer: F.TextFeaturizer | None = None,
                 train_x: np.ndarray | None = None):
        self.models = train.models
        if featurizer is None and policy.needs_text:
            featurizer, train_x = featurize(train.texts)
        self.fz = featurizer or F.TextFeaturizer()
        self.table = GroupTable().fit(train.Q, train.kinds, train.suites)
        self.cost = LinearByGroup().fit(train.C, train.chars, train.kinds, train.suites)
        self.latency = LinearByGroup().fit(train.L, train.chars, train.kinds, train.suites)
        self.policy = policy
        lens: dict[str, list[float]] = {}
        for suite, n in zip(train.suites, train.chars):
            lens.setdefault(suite, []).append(n)
        self.suite_chars = {k: float(np.mean(v)) for k, v in lens.items()}
        batch = Batch.of(train, self.fz, train_x)
        policy.fit(FitContext(train, batch, self.table))

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = self.policy.predict(batch, self.table)
        c = self.cost.predict(batch.chars, batch.kinds, batch.suites)
        lat = self.latency.predict(batch.chars, batch.kinds, batch.suites)
        return q, c, lat


def featurize(texts: list[str]) -> tuple[F.TextFeaturizer, np.ndarray]:
    """A featurizer fitted on `texts` and their feature rows (counted once)."""
    fz = F.TextFeaturizer()
    counts = fz.counts(texts)
    fz.fit(texts, counts)
    return fz, fz.weigh(counts)


def make_policy(name: str, **kw) -> Policy:
    return {"global": GlobalPolicy, "table": TablePolicy, "knn": KnnPolicy, "logistic": LogisticPolicy,
            "linear": LinearPolicy}[name](**kw)


def _score(Q: np.ndarray, C: np.ndarray, q: np.ndarray, c: np.ndarray) -> float:
    """The validation number policies compete on (higher is better): AIQ, or, when the models'
    costs are equal, the mean APGR over model pairs (how well the policy ranks differences)."""
    C = np.nan_to_num(C)
    cs = [cst for cst, _ in E.singles(Q, C)]
    if max(cs) - min(cs) > 1e-15:
        return E.Frontier(q, c).aiq(Q, C, min(cs), max(cs))
    vals = []
    m = Q.shape[1]
    for a in range(m):
        for b in range(m):
            if a != b and Q[:, b].mean() > Q[:, a].mean():
                vals.append(E.pair_metrics(q[:, b] - q[:, a], Q[:, a], Q[:, b])["apgr"])
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float(np.mean(Q[np.arange(len(Q)), np.argmax(q, axis=1)]))


def select_policy(train: Outcomes, candidates: list[str], seed: int, val_fraction: float = 0.25,
                  boot: int = 100, confidence: float = 0.9, log=None) -> tuple[str, dict, dict]:
    """Pick the policy by the simplest-first rule on an inner split of the training cases: a
    richer policy replaces the one kept so far only if it scores higher on at least `confidence`
    of `boot` paired bootstrap resamples of the validation cases (a noisy win keeps the simpler
    policy). Returns (name, validation scores, tuned parameters)."""
    val = split_mask(train, val_fraction, seed + 7919)
    inner, held = train.subset(np.flatnonzero(~val)), train.subset(np.flatnonzero(val)).complete()
    if len(held) < 10 or len(inner) < 10:
        return ("table" if "table" in candidates else candidates[0]), {}, {}
    fz, inner_x = featurize(inner.texts)
    hb = Batch.of(held, fz)
    scores: dict[str, float] = {}
    params: dict[str, dict] = {}
    preds: dict[str, tuple] = {}
    for name in candidates:
        options: list[dict] = [{}]
        if name == "knn":
            options = [{"k": k} for k in (10, 30, 100)]
        best: tuple | None = None
        for opt in options:
            fitted = Fitted(inner, make_policy(name, **opt), fz, inner_x)
            q, c, _ = fitted.predict(hb)
            s = _score(held.Q, held.C, q, c)
            if best is None or s > best[0]:
                best = (s, opt, q, c)
        assert best is not None
        scores[name], params[name], preds[name] = best[0], best[1], (best[2], best[3])
        if log:
            log(f"  validation {name}: {best[0]:.4f} {best[1] or ''}")
    draws = [idx for block in stats.resample_indices(np.random.default_rng(seed), len(held), boot) for idx in block]
    boot_scores = {n: np.array([_score(held.Q[i], held.C[i], q[i], c[i]) for i in draws])
                   for n, (q, c) in preds.items()}
    kept: str | None = None
    for name in scores:  # in ORDER, simplest first
        if kept is None:
            kept = name
            continue
        wins = float(np.mean(boot_scores[name] > boot_scores[kept]))
        if log:
            log(f"  {name} beats {kept} on {100 * wins:.0f}% of validation resamples")
        if wins >= confidence:
            kept = name
    assert kept is not None
    return kept, scores, params.get(kept, {})


def routes_table(fitted: Fitted, objective: dict) -> list[dict]:
    """Which model each suite goes to at the operating point, by the table's estimates (what a
    person reads to understand the router; text-based policies may override per prompt)."""
    out = []
    for suite, g in sorted(fitted.table.suites.items()):
        kind = g["kind"]
        q = fitted.table.one(kind, suite)
        chars = fitted.suite_chars.get(suite, 0.0)  # a typical prompt of the suite
        c = fitted.cost.one(chars, kind, suite)
        lat = fitted.latency.one(chars, kind, suite)
        obj = {**objective, "mix": 0.0}
        j = int(E.operate(q[None], c[None], lat[None], obj, [kind], [suite], [""])[0])
        out.append({"suite": suite, "kind": kind, "cases": int(g["n"].max()), "model": fitted.models[j],
                    "quality": {m: round(float(v), 4) for m, v in zip(fitted.models, q)}})
    return out


def budget_mix(q: np.ndarray, c: np.ndarray, C: np.ndarray, budget_per_1k: float) -> dict:
    """The operating point that spends the budget on the training cases: the policy's exact
    points in order of lambda, the first whose mean true cost per 1,000 calls fits, mixed with the
    one before it (a share `mix` of prompts, chosen by a hash of their text, at `lambda_dearer`)
    so that the mean cost is the budget. Lambdas are the middles of the points' intervals."""
    pts = E.Frontier(q, c).points(np.zeros_like(C), np.nan_to_num(C))
    lams = [p["lambda"] for p in pts] + [float("inf")]
    mid = [(lams[i] + lams[i + 1]) / 2 if np.isfinite(lams[i + 1]) else float("inf") for i in range(len(pts))]
    if len(pts) > 1:
        mid[0] = lams[1] / 2
    B = budget_per_1k / 1000
    fit = [i for i, p in enumerate(pts) if p["cost"] <= B * (1 + 1e-12)]
    if not fit:
        return {"lambda": float("inf"), "lambda_dearer": None, "mix": 0.0}
    i = fit[0]
    if i == 0:
        return {"lambda": 0.0, "lambda_dearer": None, "mix": 0.0}
    lo, hi = pts[i], pts[i - 1]
    t = (B - lo["cost"]) / (hi["cost"] - lo["cost"]) if hi["cost"] > lo["cost"] else 0.0
    return {"lambda": mid[i], "lambda_dearer": mid[i - 1], "mix": float(min(max(t, 0.0), 1.0))}


def lambda_for_budget(q: np.ndarray, c: np.ndarray, budget_per_1k: float) -> float:
    """The smallest lambda whose predicted mean cost per 1,000 calls fits the budget (no mixing)."""
    m = budget_mix(q, c, c, budget_per_1k)
    return m["lambda"]


def near_best_tolerance(train: Outcomes) -> dict:
    """The default objective's tolerance per suite (and per kind, and overall): how far below the
    best model's mean quality its 95% bootstrap interval reaches (`stats.bootstrap_mean`). A model
    whose predicted quality is within it of the best is as good as the data can tell: the report's
    rule (the cheapest entrant inside the best one's interval), per task."""

    def tol(rows: np.ndarray) -> float | None:
        Q = train.Q[rows]
        if not len(Q):
            return None
        means = np.array([np.nanmean(Q[:, j]) if np.isfinite(Q[:, j]).any() else -np.inf for j in range(Q.shape[1])])
        v = Q[:, int(np.argmax(means))]
        v = v[np.isfinite(v)]
        if v.size < 2:
            return None
        iv = stats.bootstrap_mean(v, n_resamples=2000, seed=0)
        return float(max(iv.estimate - iv.low, 0.0))

    suites = np.array(train.suites)
    kinds = np.array(train.kinds)
    out: dict = {"suite": {}, "kind": {}}
    for s in sorted(set(train.suites)):
        t = tol(np.flatnonzero(suites == s))
        if t is not None:
            out["suite"][s] = t
    for k in sorted(set(train.kinds)):
        t = tol(np.flatnonzero(kinds == k))
        if t is not None:
            out["kind"][k] = t
    out["default"] = tol(np.arange(len(train))) or 0.0
    return out


def tolerance_for(tol: dict, kind: str | None, suite: str | None) -> float:
    if suite is not None and suite in tol.get("suite", {}):
        return float(tol["suite"][suite])
    if kind is not None and kind in tol.get("kind", {}):
        return float(tol["kind"][kind])
    return float(tol.get("default", 0.0))


def case_keys(data: Outcomes) -> np.ndarray:
    """A 64-bit key per case: a hash of its prompt text (of suite and case id when it has none).
    The router stores its training cases' keys, so evaluation anywhere leaves out exactly the
    prompts it learned from."""
    import hashlib

    out = np.empty(len(data), dtype=np.uint64)
    for i, (s, c, t) in enumerate(zip(data.suites, data.case_ids, data.texts)):
        key = ("t\x00" + t) if t else f"c\x00{s}\x00{c}"
        out[i] = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")
    return out


def pack_keys(keys: np.ndarray) -> dict:
    import base64

    k = np.unique(np.asarray(keys, dtype=np.uint64))
    return {"dtype": "uint64", "count": int(k.size), "b64": base64.b64encode(k.astype(">u8").tobytes()).decode()}


def unpack_keys(d: dict) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(d["b64"]), dtype=">u8").astype(np.uint64)


OBJECTIVE_KINDS = ("near-best", "lambda", "budget", "latency")


def train_router(data: Outcomes, *, policy: str = "auto", seed: int = 0, test_fraction: float = 0.5,
                 objective: dict | None = None, log=None, split: dict | None = None) -> dict:
    """Fit on the training side of the grouped split (all of `data` when `test_fraction` is 0)
    and return the router as a JSON-able dict. `split` describes an explicit split (the caller
    passed only the training runs) and is stored as given."""
    from .. import __version__
    from ..errors import UsageError

    t0 = time.perf_counter()
    test = split_mask(data, test_fraction, seed) if test_fraction > 0 else np.zeros(len(data), dtype=bool)
    train = data.subset(np.flatnonzero(~test))
    if len(train) < 2:
        raise UsageError(f"only {len(train)} training case(s) after the split; lower --test-fraction or add runs.")
    if policy == "auto":
        chosen, scores, params = select_policy(train, ORDER, seed, log=log)
    else:
        chosen, scores, params = policy, {}, {}
    fitted = Fitted(train, make_policy(chosen, **params))
    obj = dict(objective or {})
    obj.setdefault("kind", "near-best")
    obj.setdefault("lambda", 0.0)
    obj.setdefault("mu", 0.0)
    if obj["kind"] == "near-best":
        obj["tolerance"] = near_best_tolerance(train)
    if obj["kind"] == "budget":
        q, c, _ = fitted.predict(Batch.of(train, fitted.fz))
        obj.update(budget_mix(q, c, train.C, float(obj["budget_per_1k"])))
    router = {
        "format": FORMAT,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "evalseed_version": __version__,
        "models": data.models,
        "selected_policy": chosen,
        "validation_scores": scores,
        "objective": {k: (None if isinstance(v, float) and np.isinf(v) else v) for k, v in obj.items()},
        "split": {**(split or {"kind": "hash"}), "seed": seed, "test_fraction": test_fraction,
                  "train_cases": len(train), "test_cases": int(test.sum())},
        "train_keys": pack_keys(case_keys(train)),
        "training": train.summary(),
        "routes": routes_table(fitted, obj),
        "featurizer": {"dim": fitted.fz.dim, "ngrams": list(F.NGRAMS), "idf": pack_array(fitted.fz.idf)}
        if fitted.policy.needs_text else None,
        "table": fitted.table.to_json(),
        "cost": fitted.cost.to_json(),
        "latency": fitted.latency.to_json(),
        "policy": fitted.policy.to_json(),
        "fit_seconds": round(time.perf_counter() - t0, 3),
    }
    return router


# ---- repeated splits --------------------------------------------------------------------------


def _interval(xs) -> dict:
    xs = np.asarray([x for x in xs if np.isfinite(x)], dtype=float)
    if not xs.size:
        return {"mean": None, "lo": None, "hi": None}
    return {"mean": float(xs.mean()), "lo": float(np.percentile(xs, 2.5)), "hi": float(np.percentile(xs, 97.5))}


def experiment(data: Outcomes, *, policies: list[str], splits: int = 5, seed: int = 0,
               test_fraction: float = 0.5, boot: int = 200, weak: str | None = None,
               strong: str | None = None, log=None, test_data: Outcomes | None = None) -> dict:
    """Fit every policy on `splits` grouped splits and score each on its held-out half (or, with
    `test_data`, fit once on all of `data` and score on all of `test_data`).

    Intervals are percentiles over (split x bootstrap resample of the held-out cases), so they
    carry both the split-to-split and the test-sampling variation. AIQ is exact (`Frontier`) on
    every resample. Beside each policy's AIQ: `aiq_mean_cost`, its quality predictions with one
    mean training cost per model (what it learned about quality), and for all policies together
    `cost_only`, the training mean quality per model with per-prompt cost predictions (what cost
    prediction alone buys)."""
    models = data.models
    weak, strong = model_pair(data if test_data is None else test_data, weak, strong)
    wi, si = models.index(weak), models.index(strong)
    rng = np.random.default_rng(seed)
    names = list(policies) + ["random", "oracle"]
    keys = ("apgr", "cpt50", "cpt80", "aiq", "aiq_mean_cost")
    draws: dict[str, dict[str, list]] = {n: {k: [] for k in keys} for n in names + ["zero", "cost_only"]}
    gaps: list[float] = []
    per_split: list[dict] = []
    rounds = 1 if test_data is not None else splits
    for s in range(rounds):
        if test_data is not None:
            train, test = data, test_data.complete()
        else:
            mask = split_mask(data, test_fraction, seed + s)
            train = data.subset(np.flatnonzero(~mask))
            test = data.subset(np.flatnonzero(mask)).complete()
        Q, C = test.Q, np.nan_to_num(test.C)
        fz, train_x = featurize(train.texts) if any(make_policy(p).needs_text for p in policies) else (None, None)
        batch = Batch.of(test, fz or F.TextFeaturizer())
        mean_c = np.nan_to_num(np.nanmean(train.C, axis=0)) if np.isfinite(train.C).any() else np.zeros(len(models))
        mean_q = np.nan_to_num(np.nanmean(train.Q, axis=0))
        scores: dict[str, np.ndarray] = {}
        fronts: dict[str, tuple] = {}
        row: dict = {"split": s, "train_cases": len(train), "test_cases": len(test)}
        c_any = None
        for name in policies:
            t0 = time.perf_counter()
            fitted = Fitted(train, make_policy(name), fz, train_x)
            q, c, _ = fitted.predict(batch)
            c_any = c
            scores[name] = q[:, si] - q[:, wi]
            fronts[name] = (E.Frontier(q, c), E.Frontier(q, np.broadcast_to(mean_c, c.shape)))
            row[name] = {**{k: v for k, v in E.pair_metrics(scores[name], Q[:, wi], Q[:, si]).items() if k != "pgr"},
                         "seconds": round(time.perf_counter() - t0, 2)}
        if c_any is None:
            c_any = np.broadcast_to(mean_c, Q.shape)
        cost_only = E.Frontier(np.broadcast_to(mean_q, Q.shape), c_any)
        oracle_front = E.Frontier(Q, C)
        scores["random"] = np.zeros(len(test))
        scores["oracle"] = Q[:, si] - Q[:, wi]
        for name in ("random", "oracle"):
            row[name] = {k: v for k, v in E.pair_metrics(scores[name], Q[:, wi], Q[:, si]).items() if k != "pgr"}

        def aiqs(w):
            tot = w.sum()
            cs = (w @ C) / tot
            qs = (w @ Q) / tot
            cmin, cmax = float(cs.min()), float(cs.max())
            out = {"zero": E.aiq(list(zip(cs, qs)), cmin, cmax), "oracle": oracle_front.aiq(Q, C, cmin, cmax, w),
                   "cost_only": cost_only.aiq(Q, C, cmin, cmax, w)}
            for name, (f, fm) in fronts.items():
                out[name] = (f.aiq(Q, C, cmin, cmax, w), fm.aiq(Q, C, cmin, cmax, w))
            return out

        whole = aiqs(np.ones(len(test)))
        for name in policies:
            row[name]["aiq"], row[name]["aiq_mean_cost"] = whole[name]
            if log:
                log(f"  split {s} {name}: APGR {row[name]['apgr']:.3f} AIQ {row[name]['aiq']:.4f} "
                    f"(one mean cost per model: {row[name]['aiq_mean_cost']:.4f})")
        row.update(zero_aiq=whole["zero"], oracle_aiq=whole["oracle"], cost_only_aiq=whole["cost_only"])
        per_split.append(row)
        if boot == 0:  # no resampling: the intervals are over splits only
            for name in names:
                for k in ("apgr", "cpt50", "cpt80"):
                    draws[name][k].append(row[name][k])
            for name in policies:
                draws[name]["aiq"].append(whole[name][0])
                draws[name]["aiq_mean_cost"].append(whole[name][1])
            for name in ("zero", "oracle", "cost_only"):
                draws[name]["aiq"].append(whole[name])
            gaps.append(float(Q[:, si].mean() - Q[:, wi].mean()))
        for idx in (i for block in stats.resample_indices(rng, len(test), boot) for i in block):
            qw, qs = Q[idx, wi], Q[idx, si]
            gaps.append(float(qs.mean() - qw.mean()))
            for name in names:
                m = E.pair_metrics(scores[name][idx], qw, qs)
                for k in ("apgr", "cpt50", "cpt80"):
                    draws[name][k].append(m[k])
            a = aiqs(np.bincount(idx, minlength=len(test)).astype(float))
            for name in policies:
                draws[name]["aiq"].append(a[name][0])
                draws[name]["aiq_mean_cost"].append(a[name][1])
            for name in ("zero", "oracle", "cost_only"):
                draws[name]["aiq"].append(a[name])
    summary = {n: {k: _interval(v) for k, v in d.items() if v} for n, d in draws.items()}
    # paired: every draw scores all policies on the same resample, so differences are per draw
    base = policies[0]
    vs = {n: _interval(np.subtract(draws[n]["apgr"], draws[base]["apgr"])) for n in policies[1:]}
    vs_aiq = {n: _interval(np.subtract(draws[n]["aiq"], draws[base]["aiq"])) for n in policies[1:]}
    gain = {n: {"quality": _interval(np.subtract(draws[n]["aiq_mean_cost"], draws["zero"]["aiq"])),
                "cost": _interval(np.subtract(draws["cost_only"]["aiq"], draws["zero"]["aiq"])),
                "total": _interval(np.subtract(draws[n]["aiq"], draws["zero"]["aiq"]))} for n in policies}
    gap = _interval(gaps)
    return {"weak": weak, "strong": strong, "splits": rounds, "test_fraction": test_fraction if test_data is None else None,
            "bootstrap": boot, "seed": seed, "cases": len(data), "summary": summary, "apgr_minus_" + base: vs,
            "aiq_minus_" + base: vs_aiq, "aiq_gain_over_zero": gain,
            "pair_gap": {**gap, "meaningful": bool(gap["lo"] is not None and gap["lo"] > 0)},
            "test_data": "separate" if test_data is not None else "held-out splits", "per_split": per_split}


def model_pair(data: Outcomes, weak: str | None, strong: str | None) -> tuple[str, str]:
    """Default pair: the lowest- and highest-quality models."""
    from ..errors import UsageError

    for m in (weak, strong):
        if m is not None and m not in data.models:
            raise UsageError(f"model {m!r} is not in the data; it has {', '.join(data.models)}.")
    means = np.nanmean(data.Q, axis=0)
    order = [data.models[j] for j in np.argsort(means)]
    weak = weak or order[0]
    strong = strong or order[-1]
    if weak == strong:
        raise UsageError("the weak and the strong model are the same; pass --weak and --strong.")
    return weak, strong
