"""The routing policies' inputs and shared tables: a `Batch` of prompts with their text features,
the per-group quality table (the global / table policies, and the prior of the richer ones), the
per-group linear cost and latency models, and router.json's packed arrays."""

from __future__ import annotations

import base64

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
