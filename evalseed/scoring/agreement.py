"""How far a model judge agrees with people: raw agreement and Cohen's kappa on pass/fail, with a
percentile bootstrap interval for kappa drawn through `evalseed.stats.resample_indices` (the one
bootstrap every interval in evalseed draws from, same seed, so the same labels always give the
same interval)."""

from __future__ import annotations

from typing import Any, Sequence


def cohen_kappa(human: Sequence[int], judge: Sequence[int]) -> float | None:
    """Cohen's kappa of two binary raters; None when chance agreement is total (both always say
    the same one thing), where kappa is undefined."""
    n = len(human)
    if n == 0:
        return None
    po = sum(h == j for h, j in zip(human, judge)) / n
    ph, pj = sum(human) / n, sum(judge) / n
    pe = ph * pj + (1 - ph) * (1 - pj)
    return None if pe >= 1.0 else (po - pe) / (1 - pe)


def agreement(human: Sequence[int], judge: Sequence[int], confidence: float = 0.95) -> dict[str, Any]:
    """`n`, `accuracy` (share of pairs that agree), `kappa` with `kappa_low` / `kappa_high` (a
    percentile bootstrap over the pairs; resamples where kappa is undefined are left out), and
    `human_pass_rate` / `judge_pass_rate`."""
    import numpy as np

    from ..stats import DEFAULT_RESAMPLES, DEFAULT_SEED, resample_indices

    n = len(human)
    if n != len(judge):
        raise ValueError("human and judge labels differ in length")
    if n == 0:
        return {"n": 0, "accuracy": None, "kappa": None, "kappa_low": None, "kappa_high": None,
                "human_pass_rate": None, "judge_pass_rate": None}
    h = np.asarray(human, dtype=float)
    j = np.asarray(judge, dtype=float)
    kappa = cohen_kappa(list(map(int, h)), list(map(int, j)))
    low = high = None
    if kappa is not None:
        rng = np.random.default_rng(DEFAULT_SEED)
        stats = []
        for idx in resample_indices(rng, n, DEFAULT_RESAMPLES):
            hh, jj = h[idx], j[idx]
            po = (hh == jj).mean(axis=1)
            ph, pj = hh.mean(axis=1), jj.mean(axis=1)
            pe = ph * pj + (1 - ph) * (1 - pj)
            with np.errstate(divide="ignore", invalid="ignore"):
                stats.append(np.where(pe < 1.0, (po - pe) / (1 - pe), np.nan))
        k = np.concatenate(stats)
        k = k[~np.isnan(k)]
        if k.size:
            a = (1 - confidence) / 2
            lo, hi = np.quantile(k, [a, 1 - a])
            low, high = float(min(lo, kappa)), float(max(hi, kappa))
    return {"n": n, "accuracy": float((h == j).mean()), "kappa": kappa, "kappa_low": low, "kappa_high": high,
            "human_pass_rate": float(h.mean()), "judge_pass_rate": float(j.mean())}

