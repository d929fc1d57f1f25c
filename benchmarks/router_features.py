"""Issue 21 item 7, a first try (an experiment, not a policy: run as
`python benchmarks/router_features.py DB.duckdb`, figures in docs/routing.md): does the logistic policy gain from features beyond character
n-grams? Variants add (a) surface features of the prompt, (b) hashed word 1-2-grams. Same 5
grouped 50/50 splits (seeds 0-4) as `route eval --splits`; APGR (11 points) and exact AIQ on each
held-out half; paired differences against the plain logistic per split."""
import re
import sys
import zlib

import numpy as np

from evalseed.router import evaluate as E
from evalseed.router import features as F
from evalseed.router import policies as P
from evalseed.router.data import load_outcomes, select_runs, split_mask
from evalseed.router.fit import Fitted, featurize, model_pair
from evalseed.router.tables import Batch
from evalseed.store import open_db

WORD = re.compile(r"[a-z0-9]+")


def surface(texts):
    out = np.zeros((len(texts), 8), dtype=np.float32)
    for i, t in enumerate(texts):
        w = t.split()
        out[i] = [np.log1p(sum(ch.isdigit() for ch in t)), sum(ch.isdigit() for ch in t) / max(len(t), 1),
                  np.log1p(t.count("$")), np.log1p(sum(t.count(c) for c in "+-*/=^")), np.log1p(t.count("?")),
                  np.log1p(len(w)), np.mean([len(x) for x in w]) / 10 if w else 0, np.log1p(t.count("\n"))]
    return out


def words(texts, dim=1024):
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        toks = WORD.findall(t.lower())
        grams = toks + [a + " " + b for a, b in zip(toks, toks[1:])]
        for g in grams:
            h = zlib.crc32(g.encode())
            out[i, h % dim] += 1.0 if (h >> 16) & 1 else -1.0
        n = np.linalg.norm(out[i])
        if n:
            out[i] /= n
    return out


TEXTS: dict = {}  # feature matrix id -> its texts (the policy's design function sees only the matrix)


def make(extra):
    class Logit(P.LogisticPolicy):
        def _design(self, x, chars, kinds, suites, tags):
            base = super()._design(x, chars, kinds, suites, tags)
            key = id(x)
            ex = [f(TEXTS[key]) for f in extra]
            if "surface" in [f.__name__ for f in extra]:
                j = [f.__name__ for f in extra].index("surface")
                if not hasattr(self, "mu_s"):
                    self.mu_s, self.sd_s = ex[j].mean(0), ex[j].std(0) + 1e-6
                ex[j] = (ex[j] - self.mu_s) / self.sd_s
            return np.concatenate([base] + ex, axis=1)
    return Logit


def main(db):
    con = open_db(db, read_only=True)
    data = load_outcomes(con, select_runs(con, None, None))
    con.close()
    weak, strong = model_pair(data, None, None)
    wi, si = data.models.index(weak), data.models.index(strong)
    variants = {"logistic": [], "+surface": [surface], "+words": [words], "+surface+words": [surface, words]}
    res = {v: {"apgr": [], "aiq": []} for v in variants}
    for s in range(5):
        mask = split_mask(data, 0.5, s)
        train = data.subset(np.flatnonzero(~mask))
        test = data.subset(np.flatnonzero(mask)).complete()
        fz, tx = featurize(train.texts)
        batch = Batch.of(test, fz)
        Q, C = test.Q, np.nan_to_num(test.C)
        cs = [c for c, _ in E.singles(Q, C)]
        for v, extra in variants.items():
            TEXTS.clear()
            TEXTS[id(tx)] = train.texts
            TEXTS[id(batch.x)] = test.texts
            f = Fitted(train, make(extra)(), fz, tx)
            q, c, _ = f.predict(batch)
            res[v]["apgr"].append(E.pair_metrics(q[:, si] - q[:, wi], Q[:, wi], Q[:, si])["apgr"])
            res[v]["aiq"].append(E.Frontier(q, c).aiq(Q, C, min(cs), max(cs)))
        print(s, {v: round(r["apgr"][-1], 4) for v, r in res.items()}, flush=True)
    base = res["logistic"]
    for v, r in res.items():
        da = np.subtract(r["apgr"], base["apgr"])
        dq = np.subtract(r["aiq"], base["aiq"])
        print(f"{v:<16} APGR {np.mean(r['apgr']):.4f} (vs logistic {da.mean():+.4f}, splits {da.min():+.4f}..{da.max():+.4f})"
              f"  AIQ {np.mean(r['aiq']):.4f} ({dq.mean():+.4f}, {dq.min():+.4f}..{dq.max():+.4f})")


main(sys.argv[1])
