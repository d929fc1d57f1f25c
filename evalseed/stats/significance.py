"""Paired tests and their correction: exact McNemar, the sign test for scores, the paired
permutation and bootstrap tests, a bootstrap of any statistic of summed counts, Holm."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .intervals import (
    BLOCK_ELEMENTS,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    MULTINOMIAL_MAX_DISTINCT,
    Interval,
    percentile_interval,
    resample_indices,
    resample_sums,
)


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
    block = max(1, BLOCK_ELEMENTS // d.size)
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
    means = resample_sums(d, n_resamples, rng) / d.size
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
    case profiles, as `resample_sums` does for pass rates), else by index (`resample_indices`)."""
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
    if profiles.shape[0] <= MULTINOMIAL_MAX_DISTINCT and profiles.shape[0] < n:
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
    return percentile_interval(observed, draws, confidence), min(1.0, (1 + hits) / (1 + draws.size))


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
