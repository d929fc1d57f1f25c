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

from .intervals import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Interval,
    bootstrap_mean,
    bootstrap_mean_counts,
    paired_bootstrap_diff,
    paired_bootstrap_quantile_diffs,
    percentile_interval,
    resample_indices,
    resample_sums,
    wilson_interval,
)
from .significance import (
    holm,
    mcnemar_exact,
    paired_bootstrap_statistic,
    paired_bootstrap_test,
    paired_permutation_test,
    sign_test,
)

__all__ = [
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "Interval",
    "bootstrap_mean",
    "bootstrap_mean_counts",
    "holm",
    "mcnemar_exact",
    "paired_bootstrap_diff",
    "paired_bootstrap_quantile_diffs",
    "paired_bootstrap_statistic",
    "paired_bootstrap_test",
    "paired_permutation_test",
    "percentile_interval",
    "resample_indices",
    "resample_sums",
    "sign_test",
    "wilson_interval",
]
