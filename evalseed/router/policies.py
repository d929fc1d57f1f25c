"""Routing policies, simplest first. Each predicts a quality per model for a case; costs and
latencies come from `LinearByGroup` models shared by all policies. The choice of model is the
objective's job (`router.choose`), not the policy's.

- `GlobalPolicy`: one mean quality per model (always the same model at a given lambda).
- `TablePolicy`: per-suite means shrunk toward per-kind means, shrunk toward the global means.
- `KnnPolicy`: similarity-weighted mean quality of the k nearest training prompts (hashed
  character n-grams), shrunk toward the table.
- `LogisticPolicy`: per-model logistic regression of P(pass) on text features, suite / kind /
  tag indicators and prompt length.

Every policy serialises to plain JSON (`to_json` / `from_json`); arrays too large to read are
stored as base64 float16/float32 blobs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from . import features as F
from .data import Outcomes


# ---- inputs -----------------------------------------------------------------------------------


class Batch:
    """Prompts to predict for, with their text features computed once and shared by policies."""

    def __init__(self, texts, kinds, suites, tags, featurizer: F.TextFeaturizer, x: np.ndarray | None = None):
        self.texts, self.kinds, self.suites, self.tags = list(texts), list(kinds), list(suites), list(tags)
        self.fz = featurizer
        self._x: np.ndarray | None = x
        self._xk: np.ndarray | None = None

    @classmethod
    def of(cls, data: Outcomes, featurizer: F.TextFeaturizer, x: np.ndarray | None = None) -> "Batch":
        return cls(data.texts, data.kinds, data.suites, data.tags, featurizer, x)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def chars(self) -> np.ndarray:
        return np.array([len(t or "") for t in self.texts], dtype=np.float64)

    @property
    def x(self) -> np.ndarray:
        if self._x is None:
            self._x = self.fz.transform(self.texts)
        return self._x

    @property
    def xk(self) -> np.ndarray:
        if self._xk is None:
            self._xk = F.fold(self.x).astype(np.float32)
        return self._xk


def pack_array(a: np.ndarray, dtype=np.float32) -> dict:
    """An array for router.json as base64 of its raw bytes: far smaller and faster to load than
    a JSON list of numbers. `unpack_array` reads it back as float32."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return {"dtype": np.dtype(dtype).name, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}


def unpack_array(d: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["b64"]), dtype=d["dtype"]).reshape(d["shape"]).astype(np.float32)


def _nanmean0(q: np.ndarray, axis=0) -> tuple[np.ndarray, np.ndarray]:
    ok = ~np.isnan(q)
    n = ok.sum(axis=axis)
    s = np.where(ok, q, 0.0).sum(axis=axis)
    return s, n


# ---- the group table (also the prior of the richer policies) ---------------------------------


class GroupTable:
    """Per-model means by suite, shrunk toward the kind's, shrunk toward the global mean:
    estimate = (sum + alpha * parent) / (count + alpha). An unseen suite falls back to its kind,
    an unseen kind to the global means."""

    def __init__(self, alpha: float = 5.0):
        self.alpha = alpha
        self.global_: np.ndarray = np.zeros(0)
        self.kinds: dict[str, dict] = {}
        self.suites: dict[str, dict] = {}

    def fit(self, values: np.ndarray, kinds: list[str], suites: list[str]) -> "GroupTable":
        s, n = _nanmean0(values)
        self.global_ = np.where(n > 0, s / np.maximum(n, 1), 0.0)
        for name, keys, store in (("kind", kinds, self.kinds), ("suite", suites, self.suites)):
            groups: dict[str, list[int]] = {}
            for i, k in enumerate(keys):
                groups.setdefault(k, []).append(i)
            for k, idx in groups.items():
                gs, gn = _nanmean0(values[idx])
                store[k] = {"sum": gs, "n": gn}
                if name == "suite":
                    store[k]["kind"] = kinds[idx[0]]
        return self

    def _kind(self, kind: str) -> np.ndarray:
        g = self.kinds.get(kind)
        if g is None:
            return self.global_
        return (g["sum"] + self.alpha * self.global_) / (g["n"] + self.alpha)

    def one(self, kind: str | None, suite: str | None) -> np.ndarray:
        g = self.suites.get(suite) if suite is not None else None
        if g is None:
            return self._kind(kind or "")
        parent = self._kind(kind if kind in self.kinds else g["kind"])
        return (g["sum"] + self.alpha * parent) / (g["n"] + self.alpha)

    def predict(self, kinds: list[str], suites: list[str]) -> np.ndarray:
        cache: dict[tuple, np.ndarray] = {}
        out = np.empty((len(kinds), len(self.global_)))
        for i, key in enumerate(zip(kinds, suites)):
            v = cache.get(key)
            if v is None:
                v = cache[key] = self.one(*key)
            out[i] = v
        return out

    def to_json(self) -> dict:
        def grp(g):
            d = {"n": [int(x) for x in g["n"]], "mean": [float(x) for x in g["sum"] / np.maximum(g["n"], 1)]}
            if "kind" in g:
                d["kind"] = g["kind"]
            return d

        return {"alpha": self.alpha, "global": [float(x) for x in self.global_],
                "kinds": {k: grp(g) for k, g in self.kinds.items()},
                "suites": {k: grp(g) for k, g in self.suites.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "GroupTable":
        t = cls(d["alpha"])
        t.global_ = np.array(d["global"], dtype=np.float64)

        def grp(g):
            n = np.array(g["n"], dtype=np.float64)
            out = {"n": n, "sum": np.array(g["mean"], dtype=np.float64) * n}
            if "kind" in g:
                out["kind"] = g["kind"]
            return out

        t.kinds = {k: grp(g) for k, g in d["kinds"].items()}
        t.suites = {k: grp(g) for k, g in d["suites"].items()}
        return t


class LinearByGroup:
    """Cost or latency per model: a line in prompt length (longer prompts cost more) plus the
    suite's mean residual (shrunk), never below zero. Unknown everywhere -> 0."""

    def __init__(self, alpha: float = 5.0):
        self.a = np.zeros(0)
        self.b = np.zeros(0)
        self.table = GroupTable(alpha)

    def fit(self, values: np.ndarray, chars: np.ndarray, kinds, suites) -> "LinearByGroup":
        m = values.shape[1]
        self.a, self.b = np.zeros(m), np.zeros(m)
        resid = np.full_like(values, np.nan)
        for j in range(m):
            ok = ~np.isnan(values[:, j])
            if not ok.any():
                continue
            x, y = chars[ok], values[ok, j]
            if ok.sum() >= 2 and np.ptp(x) > 0:
                b, a = np.polyfit(x, y, 1)
            else:
                a, b = float(y.mean()), 0.0
            self.a[j], self.b[j] = a, b
            resid[ok, j] = y - (a + b * x)
        self.table.fit(resid, kinds, suites)
        return self

    def predict(self, chars: np.ndarray, kinds, suites) -> np.ndarray:
        base = self.a[None, :] + self.b[None, :] * np.asarray(chars, dtype=np.float64)[:, None]
        return np.maximum(base + self.table.predict(kinds, suites), 0.0)

    def one(self, chars: float, kind, suite) -> np.ndarray:
        return np.maximum(self.a + self.b * chars + self.table.one(kind, suite), 0.0)

    def to_json(self) -> dict:
        return {"intercept": self.a.tolist(), "per_char": self.b.tolist(),
                "suite_residuals": self.table.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> "LinearByGroup":
        x = cls()
        x.a, x.b = np.array(d["intercept"]), np.array(d["per_char"])
        # older files also hold a "known" list per model; nothing reads it
        x.table = GroupTable.from_json(d["suite_residuals"])
        return x


# ---- policies ---------------------------------------------------------------------------------


@dataclass
class FitContext:
    """What every policy may use while fitting: the training data, its features, and the table."""

    data: Outcomes
    batch: Batch
    table: GroupTable


class Policy:
    name = "policy"

    def fit(self, ctx: FitContext) -> "Policy":
        return self

    def predict(self, batch: Batch, table: GroupTable) -> np.ndarray:
        raise NotImplementedError

    def one(self, x: np.ndarray | None, chars: float, kind, suite, tags, table: GroupTable) -> np.ndarray:
        raise NotImplementedError

    needs_text = False

    def params(self) -> dict:
        return {}

    def to_json(self) -> dict:
        return {"name": self.name, **self.params()}


class GlobalPolicy(Policy):
    name = "global"

    def predict(self, batch, table):
        return np.tile(table.global_, (len(batch), 1))

    def one(self, x, chars, kind, suite, tags, table):
        return table.global_


class TablePolicy(Policy):
    name = "table"

    def predict(self, batch, table):
        return table.predict(batch.kinds, batch.suites)

    def one(self, x, chars, kind, suite, tags, table):
        return table.one(kind, suite)


class KnnPolicy(Policy):
    """Similarity-weighted neighbours' qualities, with the table as `alpha` pseudo-neighbours."""

    name = "knn"
    needs_text = True

    # A pick scans every reference vector; beyond ~2,000 the scan alone passes 1 ms on one core,
    # so larger training sets keep an evenly spaced sample of references.
    MAX_REFS = 2000

    def __init__(self, k: int = 50, alpha: float = 2.0):
        self.k, self.alpha = k, alpha
        self.xk = np.zeros((0, F.KNN_DIM), dtype=np.float32)
        self.q = np.zeros((0, 0), dtype=np.float32)

    def fit(self, ctx: FitContext) -> "KnnPolicy":
        prior = ctx.table.predict(ctx.data.kinds, ctx.data.suites)
        q = np.where(np.isnan(ctx.data.Q), prior, ctx.data.Q).astype(np.float32)
        keep = np.arange(len(q))
        if len(keep) > self.MAX_REFS:
            keep = np.linspace(0, len(q) - 1, self.MAX_REFS).round().astype(int)
        # rounded as router.json stores them, so the saved router is the one that was evaluated
        self.q = np.ascontiguousarray(q[keep].astype(np.float16).astype(np.float32))
        self.xk = np.ascontiguousarray(ctx.batch.xk[keep].astype(np.float16).astype(np.float32))
        return self

    def _combine(self, sims: np.ndarray, prior: np.ndarray) -> np.ndarray:
        k = min(self.k, sims.shape[1])
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        w = np.maximum(np.take_along_axis(sims, idx, axis=1), 0.0)
        num = np.einsum("nk,nkm->nm", w, self.q[idx]) + self.alpha * prior
        return num / (w.sum(axis=1, keepdims=True) + self.alpha)

    def predict(self, batch, table):
        prior = table.predict(batch.kinds, batch.suites)
        out = np.empty_like(prior)
        for s in range(0, len(batch), 2048):
            sims = batch.xk[s:s + 2048] @ self.xk.T
            out[s:s + 2048] = self._combine(sims, prior[s:s + 2048])
        return out

    def one(self, x, chars, kind, suite, tags, table):
        xk = F.fold(x).astype(np.float32)
        sims = (self.xk @ xk)[None, :]
        return self._combine(sims, table.one(kind, suite)[None, :])[0]

    def params(self):
        return {"k": self.k, "alpha": self.alpha}

    def to_json(self):
        return {"name": self.name, **self.params(), "train_vectors": pack_array(self.xk, np.float16),
                "train_quality": pack_array(self.q, np.float16)}

    @classmethod
    def from_json(cls, d):
        p = cls(d["k"], d["alpha"])
        p.xk, p.q = unpack_array(d["train_vectors"]), unpack_array(d["train_quality"])
        return p


class LogisticPolicy(Policy):
    """One logistic regression per model on [text TF-IDF, suite/kind/tag indicators, length].
    Qualities in 0..1 are soft labels; missing (case, model) pairs are masked out. Fitted by
    full-batch Adam with an L2 penalty."""

    name = "logistic"
    needs_text = True

    def __init__(self, l2: float = 1e-3, iters: int = 100, lr: float = 0.05, text_dim: int = F.DIM):
        self.l2, self.iters, self.lr, self.text_dim = l2, iters, lr, text_dim
        self.vocab: dict[str, int] = {}
        self.W = np.zeros((0, 0), dtype=np.float32)
        self.b = np.zeros(0, dtype=np.float32)

    def _groups(self, kinds, suites, tags) -> np.ndarray:
        g = np.zeros((len(kinds), len(self.vocab)), dtype=np.float32)
        for i, (k, s, tg) in enumerate(zip(kinds, suites, tags)):
            for key in (f"kind:{k}", f"suite:{s}", *(f"tag:{t}" for t in tg or ())):
                j = self.vocab.get(key)
                if j is not None:
                    g[i, j] = 1.0
        return g

    def _design(self, x, chars, kinds, suites, tags) -> np.ndarray:
        if x.shape[1] != self.text_dim:
            x = F.fold(x, self.text_dim)
        return np.concatenate([x.astype(np.float32), self._groups(kinds, suites, tags),
                               F.length_features(chars)], axis=1)

    def fit(self, ctx: FitContext) -> "LogisticPolicy":
        d = ctx.data
        for k, s, tg in zip(d.kinds, d.suites, d.tags):
            for key in (f"kind:{k}", f"suite:{s}", *(f"tag:{t}" for t in tg or ())):
                self.vocab.setdefault(key, len(self.vocab))
        X = self._design(ctx.batch.x, d.chars, d.kinds, d.suites, d.tags)
        Y = d.Q.astype(np.float32)
        mask = (~np.isnan(Y)).astype(np.float32)
        Y = np.nan_to_num(Y)
        n, p = X.shape
        m = Y.shape[1]
        cnt = np.maximum(mask.sum(axis=0), 1.0)
        base = np.clip((Y * mask).sum(axis=0) / cnt, 1e-3, 1 - 1e-3)
        W = np.zeros((p, m), dtype=np.float32)
        b = np.log(base / (1 - base)).astype(np.float32)
        mw, vw = np.zeros_like(W), np.zeros_like(W)
        mb, vb = np.zeros_like(b), np.zeros_like(b)
        b1, b2, eps = 0.9, 0.999, 1e-8
        for t in range(1, self.iters + 1):
            z = X @ W + b
            P = 1.0 / (1.0 + np.exp(-z))
            G = (P - Y) * mask / cnt
            gW = X.T @ G + self.l2 * W
            gb = G.sum(axis=0)
            mw = b1 * mw + (1 - b1) * gW
            vw = b2 * vw + (1 - b2) * gW * gW
            mb = b1 * mb + (1 - b1) * gb
            vb = b2 * vb + (1 - b2) * gb * gb
            lr_t = self.lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            W -= lr_t * mw / (np.sqrt(vw) + eps)
            b -= lr_t * mb / (np.sqrt(vb) + eps)
        self.W, self.b = W, b
        return self

    @staticmethod
    def _link(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-z))

    def predict(self, batch, table):
        X = self._design(batch.x, batch.chars, batch.kinds, batch.suites, batch.tags)
        return self._link(X @ self.W + self.b)

    def one(self, x, chars, kind, suite, tags, table):
        # The design row built sparsely: a pick must not allocate the whole feature vector.
        if x.shape[0] != self.text_dim:
            x = F.fold(x, self.text_dim)
        nx = x.shape[0]
        z = x @ self.W[:nx] + self.b
        for key in (f"kind:{kind}", f"suite:{suite}", *(f"tag:{t}" for t in tags or ())):
            j = self.vocab.get(key)
            if j is not None:
                z = z + self.W[nx + j]
        z = z + F.length_features(np.array([chars]))[0] @ self.W[nx + len(self.vocab):]
        return self._link(z)

    def params(self):
        return {"l2": self.l2, "iters": self.iters, "lr": self.lr, "text_dim": self.text_dim}

    def to_json(self):
        return {"name": self.name, **self.params(), "vocab": self.vocab, "weights": pack_array(self.W),
                "bias": [float(v) for v in self.b]}

    @classmethod
    def from_json(cls, d):
        p = cls(d["l2"], d["iters"], d["lr"], d.get("text_dim", F.DIM))
        p.vocab = dict(d["vocab"])
        p.W = unpack_array(d["weights"])
        p.b = np.array(d["bias"], dtype=np.float32)
        return p


ORDER = ["global", "table", "knn", "linear", "logistic"]


def policy_from_json(d: dict) -> Policy:
    name = d["name"]
    if name == "global":
        return GlobalPolicy()
    if name == "table":
        return TablePolicy()
    if name == "knn":
        return KnnPolicy.from_json(d)
    if name == "logistic":
        return LogisticPolicy.from_json(d)
    if name == "linear":
        return LinearPolicy.from_json(d)
    raise ValueError(f"unknown policy {name!r}")


class LinearPolicy(LogisticPolicy):  # shares the design matrix
    """Per-model ridge regression of quality (a linear probability model) on the same design as
    the logistic policy, with text folded to `text_dim` buckets. The ridge penalty is chosen per
    model by generalised cross-validation from one eigendecomposition of X'X, so fitting is a
    few dense matrix products, no iterations, and no penalty tuned by hand on any data set."""

    name = "linear"
    needs_text = True
    PENALTIES = tuple(10.0 ** np.arange(-2, 4.01, 0.25))

    def __init__(self, text_dim: int = 1024):
        super().__init__()
        self.text_dim = text_dim
        self.penalties: list[float] = []

    def fit(self, ctx: FitContext) -> "LinearPolicy":
        d = ctx.data
        for k, s, tg in zip(d.kinds, d.suites, d.tags):
            for key in (f"kind:{k}", f"suite:{s}", *(f"tag:{t}" for t in tg or ())):
                self.vocab.setdefault(key, len(self.vocab))
        X = self._design(ctx.batch.x, d.chars, d.kinds, d.suites, d.tags)
        p, m = X.shape[1], d.Q.shape[1]
        self.W = np.zeros((p, m), dtype=np.float32)
        self.b = np.zeros(m, dtype=np.float32)
        self.penalties = []
        cache: dict[bytes, tuple] = {}
        for j in range(m):
            ok = ~np.isnan(d.Q[:, j])
            if ok.sum() < 2:
                self.b[j] = float(np.nanmean(d.Q[:, j])) if ok.any() else 0.0
                self.penalties.append(float("nan"))
                continue
            ck = np.packbits(ok).tobytes()
            if ck not in cache:
                # models answered on the same cases share one decomposition; with fewer cases
                # than features, decompose the n x n kernel instead of the p x p Gram matrix
                Xj = X[ok]
                mu = Xj.mean(axis=0)
                Xc = Xj - mu
                dual = Xc.shape[0] < Xc.shape[1]
                evals, evecs = np.linalg.eigh(Xc @ Xc.T if dual else Xc.T @ Xc)
                cache[ck] = (mu, Xc, np.maximum(evals, 0.0).astype(np.float64), evecs, dual)
            mu, Xc, evals, evecs, dual = cache[ck]
            y = d.Q[ok, j].astype(np.float64)
            yc = (y - y.mean()).astype(np.float32)
            z = (evecs.T @ (yc if dual else Xc.T @ yc)).astype(np.float64)
            n = len(y)
            best = None
            for lam in self.PENALTIES:
                coef = (z / (evals + lam)).astype(np.float32)
                fit = evecs @ (evals.astype(np.float32) * coef) if dual else Xc @ (evecs @ coef)
                resid = yc - fit
                dof = float((evals / (evals + lam)).sum())
                gcv = float(resid @ resid) / n / max(1.0 - dof / n, 1e-6) ** 2
                if best is None or gcv < best[0]:
                    best = (gcv, lam, coef)
            assert best is not None
            _, lam, coef = best
            w = Xc.T @ (evecs @ coef) if dual else evecs @ coef
            self.W[:, j] = w
            self.b[j] = float(y.mean() - mu @ w)
            self.penalties.append(float(lam))
        return self

    @staticmethod
    def _link(z: np.ndarray) -> np.ndarray:
        return np.clip(z, 0.0, 1.0)

    def params(self):
        return {"text_dim": self.text_dim}

    def to_json(self):
        return {"name": self.name, **self.params(), "penalties": self.penalties, "vocab": self.vocab,
                "weights": pack_array(self.W), "bias": [float(v) for v in self.b]}

    @classmethod
    def from_json(cls, d):
        p = cls(d["text_dim"])
        p.penalties = list(d.get("penalties", []))
        p.vocab = dict(d["vocab"])
        p.W = unpack_array(d["weights"])
        p.b = np.array(d["bias"], dtype=np.float32)
        return p
