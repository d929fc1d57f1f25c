"""Intervals: Wilson for a pass rate, the bootstrap (one resampling for every bootstrap in
evalseed, the router's included) for means, paired differences and quantiles."""


from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 20261126
# Bootstrap resamples are drawn in blocks so memory stays bounded (about 16 MB of int64 indices
# per block) whatever the number of cases.
BLOCK_ELEMENTS = 2_000_000
# Up to this many distinct values, bootstrap means draw multinomial counts instead of indices.
MULTINOMIAL_MAX_DISTINCT = 64


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided interval at `confidence`."""

    estimate: float
    low: float
    high: float
    confidence: float = 0.95

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "confidence": self.confidence}

def _z(confidence: float) -> float:
    from statistics import NormalDist

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval (no continuity correction) for a pass rate `successes / n`.

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0/n and n/n, which
    small suites hit often. `n == 0` gives estimate NaN and the interval [0, 1] (nothing known).
    Matches `scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return Interval(math.nan, 0.0, 1.0, confidence)
    z = _z(confidence)
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Clamp: rounding can leave the bound a hair on the wrong side of 0/n or n/n.
    return Interval(p, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)), confidence)


def resample_indices(rng, n: int, n_resamples: int) -> Iterator[np.ndarray]:
    """Bootstrap draws: index matrices of shape (block, n), drawn with replacement from range(n),
    `n_resamples` rows in all. Row i is always `rng.integers(0, n, size=n)` of the i-th draw,
    whatever the block size, so a caller that walks the rows one by one (a statistic that is not
    vectorised, like the router's validation score) sees exactly the plain loop's resamples."""
    block = max(1, min(n_resamples, BLOCK_ELEMENTS // max(n, 1)))
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def _resample_stat(rng, n: int, n_resamples: int, stat) -> np.ndarray:
    """`stat(idx)` over every block of `resample_indices`, concatenated."""
    import numpy as np

    return np.concatenate([stat(idx) for idx in resample_indices(rng, n, n_resamples)])


def resample_sums(x, n_resamples: int, rng) -> np.ndarray:
    """Sums of `n_resamples` bootstrap resamples of `x`.

    Pass rates take few distinct values (0/1, or k/r with repeats). Then a resample is fully
    described by how many times it drew each distinct value, which is Multinomial(n, frequencies):
    the same distribution as drawing n indices, at O(distinct) instead of O(n) per resample.
    Other data (latencies, costs) is resampled by index.
    """
    import numpy as np

    values, counts = np.unique(x, return_counts=True)
    if values.size <= MULTINOMIAL_MAX_DISTINCT and values.size < x.size:
        draws = rng.multinomial(x.size, counts / x.size, size=n_resamples)
        return draws @ values
    return _resample_stat(rng, x.size, n_resamples, lambda idx: x[idx].sum(axis=1))


def percentile_interval(estimate: float, stats, confidence: float) -> Interval:
    import numpy as np

    a = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [a, 1 - a])
    return Interval(float(estimate), float(lo), float(hi), confidence)


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """Percentile bootstrap interval of the mean of `values` (NaNs are an error: drop them first).

    Data with many distinct values is resampled by index: resample i draws
    `rng.integers(0, n, size=n)` in order from `numpy.random.default_rng(seed)`, so a plain loop
    with the same seed reproduces it exactly. Data with few distinct values (pass/fail) draws the
    equivalent multinomial counts instead (same distribution, far cheaper). Empty input gives
    NaNs; a single value gives a zero-width interval.
    """
    import numpy as np

    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError("values must be one-dimensional")
    if x.size == 0:
        return Interval(math.nan, math.nan, math.nan, confidence)
    if np.isnan(x).any():
        raise ValueError("values contain NaN")
    rng = np.random.default_rng(seed)
    return percentile_interval(x.mean(), resample_sums(x, n_resamples, rng) / x.size, confidence)


def bootstrap_mean_counts(
    values: Sequence[float],
    counts: Sequence[int],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    round_to: int | None = None,
) -> Interval:
    """`bootstrap_mean` of the sample in which `values[i]` occurs `counts[i]` times, without
    building that sample when it is large (a 100,000-row report hands over distinct values).

    Up to `MULTINOMIAL_MAX_DISTINCT` distinct values this is exactly `bootstrap_mean` of the
    expanded sample. With more, and `round_to` set, the resamples draw multinomial counts of the
    values rounded to that many decimals (2: at most 101 distinct values in [0, 1]), and the
    interval is moved by the rounding's shift of the mean: the estimate stays exact and the width
    is off by far less than a page's three decimals. Without `round_to` the expanded sample is
    resampled by index.
    """
    import numpy as np

    v = np.asarray(values, dtype=float)
    c = np.asarray(counts, dtype=np.int64)
    if v.shape != c.shape or v.ndim != 1:
        raise ValueError("values and counts must be one-dimensional and of equal length")
    if (c < 0).any():
        raise ValueError("counts must be >= 0")
    v, c = v[c > 0], c[c > 0]
    n = int(c.sum())
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, confidence)
    if np.isnan(v).any():
        raise ValueError("values contain NaN")
    if round_to is None or np.unique(v).size <= MULTINOMIAL_MAX_DISTINCT:
        return bootstrap_mean(np.repeat(v, c), confidence=confidence, n_resamples=n_resamples, seed=seed)
    est = float((v * c).sum() / n)
    keys, inverse = np.unique(np.round(v, round_to), return_inverse=True)
    kc = np.bincount(inverse, weights=c).astype(np.int64)
    rng = np.random.default_rng(seed)
    means = rng.multinomial(n, kc / n, size=n_resamples) @ keys / n
    shift = est - float((keys * kc).sum() / n)
    iv = percentile_interval(est, means, confidence)
    return Interval(est, iv.low + shift, iv.high + shift, confidence)


def paired_bootstrap_diff(
    base: Sequence[float],
    cand: Sequence[float],
    *,
    strata: Sequence | None = None,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """Paired percentile bootstrap interval of `mean(cand) - mean(base)`.

    `base[i]` and `cand[i]` are the same case measured on each side; a resample draws cases (not
    sides), so the correlation between the two sides is kept and the interval is much narrower
    than two independent intervals would suggest. With `strata` (e.g. the suite of each case),
    cases are resampled within their stratum, keeping each stratum's size: the right interval for
    an overall figure pooled over suites of fixed size. Without strata it equals
    `bootstrap_mean(cand - base)` with the same seed.
    """
    import numpy as np

    b = np.asarray(base, dtype=float)
    c = np.asarray(cand, dtype=float)
    if b.shape != c.shape or b.ndim != 1:
        raise ValueError("base and cand must be one-dimensional and of equal length")
    d = c - b
    if d.size == 0:
        return Interval(math.nan, math.nan, math.nan, confidence)
    if np.isnan(d).any():
        raise ValueError("paired values contain NaN")
    if strata is None:
        return bootstrap_mean(d, confidence=confidence, n_resamples=n_resamples, seed=seed)
    s = np.asarray(strata)
    if s.shape != d.shape:
        raise ValueError("strata must have one label per pair")
    rng = np.random.default_rng(seed)
    totals = np.zeros(n_resamples)
    for label in sorted(set(s.tolist()), key=str):
        totals += resample_sums(d[s == label], n_resamples, rng)
    return percentile_interval(d.mean(), totals / d.size, confidence)


def _order_stat_quantiles(x, idx, qs: Sequence[float]) -> list:
    """np.quantile(x[idx], q, axis=1) (linear interpolation) for every q, without sorting: count
    how often each rank of x was drawn, then read order statistics off the cumulative counts.
    Linear in the block size, where a partition per row is several times slower."""
    import numpy as np

    n = x.size
    order = np.argsort(x, kind="stable")
    xs = x[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    rows = idx.shape[0]
    offsets = np.arange(rows, dtype=np.int64) * n
    cum = np.bincount((rank[idx] + offsets[:, None]).ravel(), minlength=rows * n).reshape(rows, n).cumsum(axis=1)
    # Each row's cumulative counts run 0..n; shifting row r by r*(n+1) makes the whole array
    # sorted, so one searchsorted finds, per row, the first rank whose count passes k.
    shift = np.arange(rows, dtype=np.int64) * (n + 1)
    flat = (cum + shift[:, None]).ravel()

    def order_stat(k: int):
        pos = np.searchsorted(flat, shift + k, side="right") - offsets
        return xs[pos]

    out = []
    for q in qs:
        h = (n - 1) * q
        lo = int(math.floor(h))
        t = h - lo
        a = order_stat(lo)
        if t == 0 or lo + 1 >= n:
            out.append(a)
            continue
        b = order_stat(lo + 1)
        out.append(a + (b - a) * t)
    return out


def paired_bootstrap_quantile_diffs(
    base: Sequence[float],
    cand: Sequence[float],
    qs: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> list[Interval]:
    """Paired percentile bootstrap intervals of `quantile(cand, q) - quantile(base, q)` for each
    q in `qs`, all from the same resamples (the interval for each q is what
    `paired_bootstrap_quantile_diffs(base, cand, [q], seed=seed)` gives).

    Used for p50/p95 latency and TTFT: cases are resampled jointly by index (resample i draws
    `rng.integers(0, n, size=n)`), the quantile (numpy's default linear interpolation) is taken
    on each side. Percentile bootstraps of high quantiles are rough on small samples (few values
    above the 95th percentile): read the p95 interval of a 20-case suite as a hint.
    """
    import numpy as np

    for q in qs:
        if not 0 <= q <= 1:
            raise ValueError(f"q must be in [0, 1], not {q}")
    b = np.asarray(base, dtype=float)
    c = np.asarray(cand, dtype=float)
    if b.shape != c.shape or b.ndim != 1:
        raise ValueError("base and cand must be one-dimensional and of equal length")
    if b.size == 0:
        return [Interval(math.nan, math.nan, math.nan, confidence) for _ in qs]
    if np.isnan(b).any() or np.isnan(c).any():
        raise ValueError("paired values contain NaN")
    rng = np.random.default_rng(seed)
    k = len(qs)

    def stat(idx):
        diffs = [qc - qb for qc, qb in zip(_order_stat_quantiles(c, idx, qs), _order_stat_quantiles(b, idx, qs))]
        return np.stack(diffs, axis=1)

    # Each block yields (rows, k); _resample_stat concatenates along rows.
    per_q = _resample_stat(rng, b.size, n_resamples, stat).reshape(n_resamples, k)
    return [
        percentile_interval(np.quantile(c, q) - np.quantile(b, q), per_q[:, j], confidence)
        for j, q in enumerate(qs)
    ]
