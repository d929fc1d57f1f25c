"""Intervals and paired tests for comparing runs and models (numpy only, imported lazily).

Everything random takes a `seed` and draws from its own `numpy.random.Generator`, so the same
data always gives the same interval: a CI verdict must not change when the job is re-run.

Functions:
- `wilson_interval`      confidence interval of a pass rate k/n
- `resample_indices`     the bootstrap's draws: index vectors drawn with replacement, in blocks
                          (every bootstrap in evalseed, the router's included, draws through it)
- `bootstrap_mean`       percentile bootstrap interval of a mean
- `bootstrap_mean_counts` the same from distinct values and their counts (aggregated in SQL)
- `paired_bootstrap_diff` paired percentile bootstrap of mean(cand) - mean(base), optionally
                          stratified (resampling within each suite)
- `paired_bootstrap_quantile_diffs` the same for quantiles (p50/p95 latency)
- `mcnemar_exact`        exact McNemar test: two-sided binomial test on the discordant pairs
- `sign_test`            McNemar's generalisation to paired scores in [0, 1] (repeats > 1)
- `paired_bootstrap_test` paired bootstrap p-value of a mean difference (per-case scores)
- `paired_bootstrap_statistic` paired bootstrap interval and p-value of a statistic of summed
                          per-case counts (macro-F1), resampling cases
- `holm`                 Holm step-down adjustment of a family of p-values
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

if TYPE_CHECKING:
    import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 20261126
# Bootstrap resamples are drawn in blocks so memory stays bounded (about 16 MB of int64 indices
# per block) whatever the number of cases.
_BLOCK_ELEMENTS = 2_000_000
# Up to this many distinct values, bootstrap means draw multinomial counts instead of indices.
_MULTINOMIAL_MAX_DISTINCT = 64


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


def resample_indices(rng, n: int, n_resamples: int) -> Iterator["np.ndarray"]:
    """Bootstrap draws: index matrices of shape (block, n), drawn with replacement from range(n),
    `n_resamples` rows in all. Row i is always `rng.integers(0, n, size=n)` of the i-th draw,
    whatever the block size, so a caller that walks the rows one by one (a statistic that is not
    vectorised, like the router's validation score) sees exactly the plain loop's resamples."""
    block = max(1, min(n_resamples, _BLOCK_ELEMENTS // max(n, 1)))
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def _resample_stat(rng, n: int, n_resamples: int, stat) -> "np.ndarray":
    """`stat(idx)` over every block of `resample_indices`, concatenated."""
    import numpy as np

    return np.concatenate([stat(idx) for idx in resample_indices(rng, n, n_resamples)])


def _resample_sums(x, n_resamples: int, rng) -> "np.ndarray":
    """Sums of `n_resamples` bootstrap resamples of `x`.

    Pass rates take few distinct values (0/1, or k/r with repeats). Then a resample is fully
    described by how many times it drew each distinct value, which is Multinomial(n, frequencies):
    the same distribution as drawing n indices, at O(distinct) instead of O(n) per resample.
    Other data (latencies, costs) is resampled by index.
    """
    import numpy as np

    values, counts = np.unique(x, return_counts=True)
    if values.size <= _MULTINOMIAL_MAX_DISTINCT and values.size < x.size:
        draws = rng.multinomial(x.size, counts / x.size, size=n_resamples)
        return draws @ values
    return _resample_stat(rng, x.size, n_resamples, lambda idx: x[idx].sum(axis=1))


def _percentile_interval(estimate: float, stats, confidence: float) -> Interval:
    import numpy as np

    a = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [a, 1 - a])
    return Interval(float(estimate), float(lo), float(hi), confidence)


def bootstrap_mean(
    values: "Sequence[float] | np.ndarray",
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
    return _percentile_interval(x.mean(), _resample_sums(x, n_resamples, rng) / x.size, confidence)


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

    Up to `_MULTINOMIAL_MAX_DISTINCT` distinct values this is exactly `bootstrap_mean` of the
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
    if round_to is None or np.unique(v).size <= _MULTINOMIAL_MAX_DISTINCT:
        return bootstrap_mean(np.repeat(v, c), confidence=confidence, n_resamples=n_resamples, seed=seed)
    est = float((v * c).sum() / n)
    keys, inverse = np.unique(np.round(v, round_to), return_inverse=True)
    kc = np.bincount(inverse, weights=c).astype(np.int64)
    rng = np.random.default_rng(seed)
    means = rng.multinomial(n, kc / n, size=n_resamples) @ keys / n
    shift = est - float((keys * kc).sum() / n)
    iv = _percentile_interval(est, means, confidence)
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
        totals += _resample_sums(d[s == label], n_resamples, rng)
    return _percentile_interval(d.mean(), totals / d.size, confidence)


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
        _percentile_interval(np.quantile(c, q) - np.quantile(b, q), per_q[:, j], confidence)
        for j, q in enumerate(qs)
    ]


def _binom_two_sided_half(k: int, n: int) -> float:
    """Two-sided p of `k` successes in `n` trials at p = 1/2: twice the smaller tail, capped at 1.
    (At p = 1/2 the distribution is symmetric, so this equals the 'sum of outcomes no more likely
    than the observed one' definition scipy uses.)"""
    if n == 0:
        return 1.0
    m = min(k, n - k)
    if 2 * m == n:
        return 1.0
    if n <= 1000:
        exact = sum(math.comb(n, i) for i in range(m + 1))
        # Exact integer arithmetic, one rounding at the end.
        return min(1.0, 2 * exact / 2**n)
    # Large n: sum the tail in log space (terms grow towards the mode, so add from the top).
    log_half_n = -n * math.log(2.0)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n for i in range(m + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(v - top) for v in logs)
    return min(1.0, 2 * tail)


def mcnemar_exact(pass_to_fail: int, fail_to_pass: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pair counts.

    Under "no difference" each discordant pair is equally likely to go either way, so the count of
    pass->fail among the `pass_to_fail + fail_to_pass` discordant pairs is Binomial(n, 1/2).
    Concordant pairs carry no information about the difference and do not enter. No discordant
    pairs gives p = 1. Matches `scipy.stats.binomtest(pass_to_fail, n, 0.5).pvalue`.
    """
    if pass_to_fail < 0 or fail_to_pass < 0:
        raise ValueError("counts must be >= 0")
    return _binom_two_sided_half(pass_to_fail, pass_to_fail + fail_to_pass)


def sign_test(base: Sequence[float], cand: Sequence[float]) -> tuple[float, int, int]:
    """Exact two-sided sign test on paired values: `(p, worse, better)` where `worse` counts pairs
    with cand < base and `better` pairs with cand > base; ties are dropped.

    For 0/1 values this *is* `mcnemar_exact` (worse = pass->fail, better = fail->pass), so one code
    path serves single runs and the per-case mean pass rates of repeated runs.
    """
    if len(base) != len(cand):
        raise ValueError("base and cand must have equal length")
    worse = sum(1 for b, c in zip(base, cand) if c < b)
    better = sum(1 for b, c in zip(base, cand) if c > b)
    return mcnemar_exact(worse, better), worse, better


def _binom_half_pmf(k: int):
    """Binomial(k, 1/2) probabilities of 0..k (log-space, so large k does not overflow)."""
    import numpy as np

    j = np.arange(1, k + 1, dtype=float)
    logc = np.concatenate([[0.0], np.cumsum(np.log(k - j + 1) - np.log(j))])
    return np.exp(logc - k * math.log(2.0))


def _convolve(a, b):
    import numpy as np

    if min(a.size, b.size) < 64:
        return np.convolve(a, b)
    n = a.size + b.size - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(a, size) * np.fft.rfft(b, size), size)[:n]


# Per-case differences are multiples of 1/L when each side's values are pass rates over r repeats
# (L = lcm of the repeat counts); up to this L the sign-flip distribution is computed exactly.
_MAX_LATTICE = 60


def paired_permutation_test(base: Sequence[float], cand: Sequence[float], *, n_resamples: int = DEFAULT_RESAMPLES,
                            seed: int = DEFAULT_SEED) -> float:
    """Two-sided paired sign-flip permutation test of the mean difference `mean(cand - base)`.

    Under "no difference" each case's difference is as likely to have either sign, so the null
    distribution of the sum of differences is that of sum(+-|d_i|). With 0/1 values this *is* the
    exact McNemar test (`mcnemar_exact`, used for it, so it agrees with scipy). When the values
    are pass rates over repeats, the differences lie on a lattice (multiples of 1/L) and the
    distribution is computed exactly by convolving one Binomial(k, 1/2) per distinct |d| (FFT;
    p-values below ~1e-12 are then accurate only to floating error, far below any alpha/m).
    Otherwise (continuous scores) `n_resamples` random sign flips give p = (1 + hits) / (1 + n).

    Why not the sign test for repeats: with unequal repeat counts (base 1, candidate 3) the
    per-case difference is not symmetric even with no change (a case passing 90% of the time
    looks "worse" on 24% of cases and "better" on 10%), so counting signs is lopsided (the issue
    measured 12% false alarms at alpha 5%). The *mean* difference is still 0 under no change and
    the sign-flip distribution of the sum has the right variance (sum of d_i^2), so this test is
    valid asymptotically there and exact with equal repeat counts (d_i then symmetric).
    benchmarks/bench_gate.py measures its false-alarm rate for both.
    """
    import numpy as np

    b = np.asarray(base, dtype=float)
    c = np.asarray(cand, dtype=float)
    if b.shape != c.shape or b.ndim != 1:
        raise ValueError("base and cand must be one-dimensional and of equal length")
    d = c - b
    d = d[np.abs(d) > 1e-12]
    if d.size == 0:
        return 1.0
    lattice = next((q for q in range(1, _MAX_LATTICE + 1) if np.allclose(d * q, np.round(d * q), atol=1e-9)), None)
    if lattice is not None:
        k = np.round(d * lattice).astype(np.int64)
        a = np.abs(k)
        values, counts = np.unique(a, return_counts=True)
        if values.size == 1:
            worse = int((k < 0).sum())
            return mcnemar_exact(worse, int(k.size) - worse)
        dist = np.array([1.0])
        for v, n in zip(values.tolist(), counts.tolist()):
            arr = np.zeros(2 * v * n + 1)
            arr[:: 2 * v] = _binom_half_pmf(n)
            dist = _convolve(dist, arr)
        dist = np.clip(dist, 0.0, None)
        total = int(a.sum())
        sums = np.arange(-total, total + 1)
        return float(min(1.0, dist[np.abs(sums) >= abs(int(k.sum()))].sum() / dist.sum()))
    rng = np.random.default_rng(seed)
    observed = abs(d.sum())
    hits = 0
    block = max(1, _BLOCK_ELEMENTS // d.size)
    done = 0
    while done < n_resamples:
        m = min(block, n_resamples - done)
        signs = rng.integers(0, 2, size=(m, d.size)) * 2 - 1
        hits += int((np.abs(signs @ d) >= observed - 1e-12).sum())
        done += m
    return (1 + hits) / (1 + n_resamples)


def paired_bootstrap_test(base: Sequence[float], cand: Sequence[float], *, n_resamples: int = DEFAULT_RESAMPLES,
                          seed: int = DEFAULT_SEED) -> float:
    """Two-sided paired bootstrap p-value of `mean(cand - base) = 0`, for per-case scores (field
    F1, a kind's `score`) that are no lattice: resample cases, centre the resampled means on the
    observed one (the null distribution's shape, shifted to zero), count how often they are at
    least as far from zero as the observed mean: p = (1 + hits) / (1 + n_resamples).
    (Efron and Tibshirani, An Introduction to the Bootstrap, 16.4.)"""
    import numpy as np

    b = np.asarray(base, dtype=float)
    c = np.asarray(cand, dtype=float)
    if b.shape != c.shape or b.ndim != 1:
        raise ValueError("base and cand must be one-dimensional and of equal length")
    d = c - b
    if d.size == 0 or np.all(np.abs(d) < 1e-12):
        return 1.0
    rng = np.random.default_rng(seed)
    means = _resample_sums(d, n_resamples, rng) / d.size
    observed = float(d.mean())
    hits = int((np.abs(means - observed) >= abs(observed) - 1e-12).sum())
    return (1 + hits) / (1 + n_resamples)


def paired_bootstrap_statistic(base_counts, cand_counts, stat, *, confidence: float = 0.95,
                               n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> tuple[Interval, float]:
    """Paired bootstrap of a statistic that is no mean over cases (macro-F1): `base_counts[i]` and
    `cand_counts[i]` are case i's count vectors on each side (e.g. its rows per (expected,
    answered) cell), `stat(counts)` the statistic of summed counts (None when undefined). A
    resample draws cases (both sides together), sums their vectors and takes `stat` of each side.
    Returns the percentile interval of stat(cand) - stat(base) and the centred two-sided p-value of
    "no difference", as `paired_bootstrap_test` does for means: p = (1 + hits) / (1 + n_resamples).

    Cases with equal count vectors are drawn as one value (multinomial counts over the distinct
    case profiles, as `_resample_sums` does for pass rates), else by index (`resample_indices`)."""
    import numpy as np

    b = np.asarray(base_counts, dtype=np.int64)
    c = np.asarray(cand_counts, dtype=np.int64)
    if b.ndim != 2 or c.ndim != 2 or b.shape[0] != c.shape[0]:
        raise ValueError("base_counts and cand_counts must be (cases, cells) arrays with one row per case each")
    n = b.shape[0]
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, confidence), 1.0

    def diff(bs, cs):
        x, y = stat(bs), stat(cs)
        return math.nan if x is None or y is None else float(y) - float(x)

    observed = diff(b.sum(axis=0), c.sum(axis=0))
    if math.isnan(observed):
        return Interval(math.nan, math.nan, math.nan, confidence), math.nan
    rng = np.random.default_rng(seed)
    joint = np.concatenate([b, c], axis=1)
    profiles, counts = np.unique(joint, axis=0, return_counts=True)
    if profiles.shape[0] <= _MULTINOMIAL_MAX_DISTINCT and profiles.shape[0] < n:
        sums = [rng.multinomial(n, counts / n, size=n_resamples) @ profiles]
    else:
        def block_sums(idx):
            # How often each case was drawn in each resample, then their count vectors summed.
            rows = idx.shape[0]
            offsets = np.arange(rows, dtype=np.int64)[:, None] * n
            drawn = np.bincount((idx + offsets).ravel(), minlength=rows * n).reshape(rows, n)
            return drawn @ joint

        sums = [block_sums(idx) for idx in resample_indices(rng, n, n_resamples)]
    k = b.shape[1]
    draws = np.array([diff(row[:k], row[k:]) for block in sums for row in block])
    draws = draws[~np.isnan(draws)]
    if draws.size == 0:
        return Interval(observed, math.nan, math.nan, confidence), math.nan
    hits = int((np.abs(draws - observed) >= abs(observed) - 1e-12).sum()) if abs(observed) > 1e-12 else draws.size
    return _percentile_interval(observed, draws, confidence), min(1.0, (1 + hits) / (1 + draws.size))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order.

    Sort ascending; the i-th smallest (0-based) is multiplied by (m - i); running maximum keeps the
    adjusted values monotone; capped at 1. Rejecting where adjusted p < alpha controls the
    family-wise error rate at alpha under any dependence between the tests. NaN inputs (no test
    possible) stay NaN and do not count towards m.
    """
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    for i in idx:
        if not 0 <= pvalues[i] <= 1:
            raise ValueError(f"p-value out of [0, 1]: {pvalues[i]}")
    order = sorted(idx, key=lambda i: pvalues[i])
    m = len(order)
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
