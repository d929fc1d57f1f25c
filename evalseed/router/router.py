"""A trained router in the request path: `Router.load(path).pick(text, kind=..., suite=...)`.

Loading parses the JSON once; a pick is one feature vector (when the policy reads text), one
small matrix product and an argmax, well under a millisecond (benchmarks/bench_router.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from . import evaluate as E
from . import features as F
from .fit import FORMAT
from .policies import policy_from_json
from .tables import GroupTable, LinearByGroup, unpack_array


@dataclass(frozen=True)
class Pick:
    """The chosen model with the router's predictions for it, and every model's predictions."""

    model: str
    quality: float
    cost_usd: float
    latency_ms: float
    policy: str
    predictions: dict[str, dict[str, float]]


class Router:
    def __init__(self, spec: dict):
        self.spec = spec
        self.models: list[str] = list(spec["models"])
        self.policy = policy_from_json(spec["policy"])
        self.table = GroupTable.from_json(spec["table"])
        self.cost = LinearByGroup.from_json(spec["cost"])
        self.latency = LinearByGroup.from_json(spec["latency"])
        fz = spec.get("featurizer")
        self.fz = F.TextFeaturizer(fz["dim"], unpack_array(fz["idf"])) if fz else None
        obj = spec.get("objective") or {}
        self.objective: dict = dict(obj)
        lam = obj.get("lambda", 0.0)
        self.lam = float("inf") if lam is None else float(lam)
        self.mu = float(obj.get("mu") or 0.0)
        self.slo_ms = obj.get("slo_ms")

    @classmethod
    def load(cls, path: str | Path) -> "Router":
        """Read a router JSON written by `evalseed route train`."""
        p = Path(path)
        if not p.exists():
            raise UsageError(f"{path}: no such router file; train one with `evalseed route train --out {path}`.")
        try:
            spec = json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: not a router JSON file ({e}).") from None
        if not isinstance(spec, dict) or spec.get("format") != FORMAT:
            raise UsageError(f"{path}: not an evalseed router (expected format {FORMAT!r}); retrain it with `evalseed route train`.")
        try:
            return cls(spec)
        except (KeyError, TypeError, ValueError) as e:
            raise UsageError(f"{path}: the router file is incomplete or damaged ({e!r}); retrain it.") from None

    def predict(self, text: str, *, kind: str | None = None, suite: str | None = None,
                tags: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted (quality, cost USD, latency ms) per model, in `self.models` order."""
        x = self.fz.one(text) if (self.fz is not None and self.policy.needs_text) else None
        chars = float(len(text or ""))
        q = self.policy.one(x, chars, kind, suite, tags, self.table)
        return q, self.cost.one(chars, kind, suite), self.latency.one(chars, kind, suite)

    def pick(self, text: str, *, kind: str | None = None, suite: str | None = None, tags: list[str] | None = None,
             lam: float | None = None, mu: float | None = None, slo_ms: float | None = None) -> Pick:
        """The model the trained objective picks (`evalseed.router.evaluate.operate`): by default
        the cheapest model predicted within the task's tolerance of the best. Passing `lam` or
        `mu` switches to maximising predicted quality - lambda * cost - mu * latency; `slo_ms`
        drops models predicted slower than it."""
        q, c, lat = self.predict(text, kind=kind, suite=suite, tags=tags)
        obj = dict(self.objective)
        if lam is not None or mu is not None:
            obj.update(kind="lambda", mix=0.0)
            obj["lambda"] = self.lam if lam is None else lam
            obj["mu"] = self.mu if mu is None else mu
        if slo_ms is not None:
            obj["slo_ms"] = slo_ms
        j = int(E.operate(q[None], c[None], lat[None], obj, [kind], [suite], [text])[0])
        preds = {m: {"quality": float(q[i]), "cost_usd": float(c[i]), "latency_ms": float(lat[i])}
                 for i, m in enumerate(self.models)}
        return Pick(self.models[j], float(q[j]), float(c[j]), float(lat[j]), self.policy.name, preds)
