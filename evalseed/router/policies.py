"""Routing policies, simplest first. Each predicts a quality per model for a case; costs and
latencies come from `LinearByGroup` models shared by all policies. The choice of model is the
objective's job (`router.choose`), not the policy's.

- `GlobalPolicy`: one mean quality per model (always the same model at a given lambda).
- `TablePolicy`: per-suite means shrunk toward per-kind means, shrunk toward the global means.
- `KnnPolicy`: similarity-weighted mean quality of the k nearest training prompts (hashed
  character n-grams), shrunk toward the table.
- `LogisticPolicy`: per-model logistic regression of P(pass) on text features, suite / kind /
  tag indicators and prompt length.

Their inputs and the shared tables live in `router.tables`. Every policy serialises to plain JSON (`to_json` / `from_json`); arrays too large to read are
stored as base64 float16/float32 blobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import features as F
from .data import Outcomes
from .tables import Batch, GroupTable, pack_array, unpack_array


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

    def _learn_vocab(self, d: Outcomes) -> None:
        """A column per kind, suite and tag seen in training (the indicators of the design)."""
        for k, s, tg in zip(d.kinds, d.suites, d.tags):
            for key in (f"kind:{k}", f"suite:{s}", *(f"tag:{t}" for t in tg or ())):
                self.vocab.setdefault(key, len(self.vocab))

    def _design(self, x, chars, kinds, suites, tags) -> np.ndarray:
        if x.shape[1] != self.text_dim:
            x = F.fold(x, self.text_dim)
        return np.concatenate([x.astype(np.float32), self._groups(kinds, suites, tags),
                               F.length_features(chars)], axis=1)

    def fit(self, ctx: FitContext) -> "LogisticPolicy":
        d = ctx.data
        self._learn_vocab(d)
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

    def _load_weights(self, d: dict) -> "LogisticPolicy":
        """The fitted vocabulary, weights and biases from router.json."""
        self.vocab = dict(d["vocab"])
        self.W = unpack_array(d["weights"])
        self.b = np.array(d["bias"], dtype=np.float32)
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
        return p._load_weights(d)


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
        self._learn_vocab(d)
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
        return p._load_weights(d)
