"""evalseed.stats against scipy's reference implementations and plain reference loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalseed import stats

scipy_stats = pytest.importorskip("scipy.stats")


# ---- Wilson -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 20), (7, 20), (20, 20), (173, 400), (399, 400), (5000, 9999)])
@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k, n, conf):
    ours = stats.wilson_interval(k, n, conf)
    ref = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=conf, method="wilson")
    assert ours.estimate == pytest.approx(k / n)
    assert ours.low == pytest.approx(ref.low, abs=1e-12)
    assert ours.high == pytest.approx(ref.high, abs=1e-12)


@settings(deadline=None)
@given(st.integers(0, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_estimate_and_stays_in_unit_interval(kn):
    k, n = kn
    iv = stats.wilson_interval(k, n)
    if n == 0:
        assert (iv.low, iv.high) == (0.0, 1.0) and math.isnan(iv.estimate)
    else:
        assert 0.0 <= iv.low <= iv.estimate <= iv.high <= 1.0


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError):
        stats.wilson_interval(5, 4)


# ---- McNemar / sign test ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "b,c", [(0, 0), (0, 1), (1, 0), (3, 15), (15, 3), (10, 10), (10, 11), (0, 12), (40, 0), (480, 560), (1300, 1500)]
)
def test_mcnemar_matches_scipy_binomtest(b, c):
    ref = scipy_stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    assert stats.mcnemar_exact(b, c) == pytest.approx(ref, rel=1e-9, abs=1e-300)


@settings(max_examples=200, deadline=None)  # shared CPU: timing is not what is tested
@given(st.integers(0, 1500), st.integers(0, 1500))
def test_mcnemar_matches_scipy_everywhere(b, c):
    ref = scipy_stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    # abs: below ~1e-300 scipy underflows to 0 where we still return a tiny positive p.
    assert stats.mcnemar_exact(b, c) == pytest.approx(ref, rel=1e-8, abs=1e-250)
    assert stats.mcnemar_exact(b, c) == stats.mcnemar_exact(c, b)


def test_sign_test_on_binary_pairs_is_mcnemar():
    base = [1, 1, 1, 0, 0, 1, 0, 1, 1, 1]
    cand = [0, 0, 1, 0, 1, 0, 0, 1, 0, 1]
    p, worse, better = stats.sign_test(base, cand)
    assert (worse, better) == (4, 1)
    assert p == stats.mcnemar_exact(4, 1) == pytest.approx(scipy_stats.binomtest(4, 5, 0.5).pvalue)


def test_sign_test_counts_fractional_means_and_drops_ties():
    p, worse, better = stats.sign_test([1.0, 2 / 3, 0.5, 0.0], [2 / 3, 2 / 3, 1.0, 0.0])
    assert (worse, better) == (1, 1) and p == 1.0


# ---- bootstrap --------------------------------------------------------------------------------


def _reference_bootstrap(x, n_resamples, seed, conf):
    """The textbook loop, drawing the same indices in the same order."""
    rng = np.random.default_rng(seed)
    means = [x[rng.integers(0, len(x), size=len(x))].mean() for _ in range(n_resamples)]
    a = (1 - conf) / 2
    return np.quantile(means, [a, 1 - a])


def test_bootstrap_mean_equals_reference_loop_exactly():
    x = np.random.default_rng(1).normal(size=123)
    iv = stats.bootstrap_mean(x, n_resamples=3000, seed=42)
    lo, hi = _reference_bootstrap(x, 3000, 42, 0.95)
    assert (iv.low, iv.high) == (lo, hi)
    assert iv.estimate == pytest.approx(x.mean())


@pytest.mark.parametrize("kind", ["binary", "thirds"])
def test_multinomial_path_matches_index_path(monkeypatch, kind):
    rng = np.random.default_rng(6)
    x = rng.binomial(1, 0.7, size=300).astype(float) if kind == "binary" else rng.integers(0, 4, 300) / 3
    fast = stats.bootstrap_mean(x, n_resamples=20000, seed=1)
    for module in (stats.intervals, stats.significance):  # force resampling by index
        monkeypatch.setattr(module, "MULTINOMIAL_MAX_DISTINCT", 0)
    slow = stats.bootstrap_mean(x, n_resamples=20000, seed=1)
    lo, hi = _reference_bootstrap(x, 20000, 1, 0.95)
    assert (slow.low, slow.high) == (lo, hi)
    # Same distribution, different draws: endpoints agree to Monte-Carlo error.
    assert fast.low == pytest.approx(slow.low, abs=0.006) and fast.high == pytest.approx(slow.high, abs=0.006)
    assert fast.estimate == slow.estimate


@settings(deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=40), st.integers(0, 2**32 - 1))
def test_order_statistic_quantiles_equal_numpy(xs, seed):
    x = np.asarray(xs, dtype=float) * 1.5  # many ties
    idx = np.random.default_rng(seed).integers(0, x.size, size=(7, x.size))
    qs = [0.0, 0.05, 0.5, 0.9, 0.95, 1.0]
    for q, got in zip(qs, stats.intervals._order_stat_quantiles(x, idx, qs)):
        assert got == pytest.approx(np.quantile(x[idx], q, axis=1))


def test_quantile_diffs_share_draws_with_single_calls():
    rng = np.random.default_rng(15)
    b, c = rng.random(90), rng.random(90)
    both = stats.paired_bootstrap_quantile_diffs(b, c, [0.5, 0.95], n_resamples=500, seed=4)
    assert both[0] == stats.paired_bootstrap_quantile_diffs(b, c, [0.5], n_resamples=500, seed=4)[0]
    assert both[1] == stats.paired_bootstrap_quantile_diffs(b, c, [0.95], n_resamples=500, seed=4)[0]


def test_bootstrap_blocks_do_not_change_the_draws(monkeypatch):
    x = np.random.default_rng(2).normal(size=500)
    whole = stats.bootstrap_mean(x, n_resamples=2000, seed=3)
    for module in (stats.intervals, stats.significance):
        monkeypatch.setattr(module, "BLOCK_ELEMENTS", 500 * 7)  # blocks of 7 resamples
    assert stats.bootstrap_mean(x, n_resamples=2000, seed=3) == whole


def test_resample_indices_are_the_plain_loops_draws():
    n, rng = 37, np.random.default_rng(8)
    loop = [rng.integers(0, n, size=n) for _ in range(50)]
    blocks = [i for block in stats.resample_indices(np.random.default_rng(8), n, 50) for i in block]
    assert len(blocks) == 50 and all((a == b).all() for a, b in zip(loop, blocks))


def test_bootstrap_of_counts_is_the_bootstrap_of_the_expanded_sample():
    values, counts = [0.0, 1 / 3, 2 / 3, 1.0], [5, 7, 0, 11]
    got = stats.bootstrap_mean_counts(values, counts, n_resamples=3000, seed=5, round_to=2)
    assert got == stats.bootstrap_mean(np.repeat(values, counts), n_resamples=3000, seed=5)


def test_rounded_bootstrap_of_counts_agrees_with_the_index_bootstrap():
    # Same distribution, different draws: the intervals must agree to Monte-Carlo precision.
    values = [i / 997 for i in range(997)]  # more distinct values than the multinomial path takes
    counts = [1 + (i % 3) for i in range(997)]
    mine = stats.bootstrap_mean_counts(values, counts, n_resamples=2000, round_to=2)
    ref = stats.bootstrap_mean(np.repeat(values, counts), n_resamples=20_000)
    assert mine.estimate == pytest.approx(ref.estimate)
    assert mine.low == pytest.approx(ref.low, abs=0.015) and mine.high == pytest.approx(ref.high, abs=0.015)


def test_bootstrap_mean_agrees_with_scipy_percentile_bootstrap():
    x = np.random.default_rng(7).binomial(1, 0.62, size=400).astype(float)
    iv = stats.bootstrap_mean(x, n_resamples=20000, seed=11)
    ref = scipy_stats.bootstrap((x,), np.mean, n_resamples=20000, method="percentile", random_state=11)
    # Different random draws: the endpoints agree to Monte-Carlo error (~0.003 here).
    assert iv.low == pytest.approx(ref.confidence_interval.low, abs=0.006)
    assert iv.high == pytest.approx(ref.confidence_interval.high, abs=0.006)


def test_paired_bootstrap_agrees_with_scipy_paired():
    rng = np.random.default_rng(9)
    base = rng.binomial(1, 0.8, size=400).astype(float)
    cand = base.copy()
    flip = rng.choice(400, size=50, replace=False)
    cand[flip] = 1 - cand[flip]
    iv = stats.paired_bootstrap_diff(base, cand, n_resamples=20000, seed=5)
    ref = scipy_stats.bootstrap(
        (base, cand),
        lambda b, c, axis=-1: c.mean(axis=axis) - b.mean(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=20000,
        method="percentile",
        random_state=5,
    )
    assert iv.estimate == pytest.approx(cand.mean() - base.mean())
    assert iv.low == pytest.approx(ref.confidence_interval.low, abs=0.006)
    assert iv.high == pytest.approx(ref.confidence_interval.high, abs=0.006)


def test_paired_interval_is_narrower_than_unpaired_for_correlated_sides():
    rng = np.random.default_rng(4)
    base = rng.binomial(1, 0.7, size=300).astype(float)
    cand = base.copy()
    cand[:12] = 0.0  # a few regressions on otherwise identical answers
    paired = stats.paired_bootstrap_diff(base, cand, seed=1)
    b = stats.bootstrap_mean(base, seed=1)
    c = stats.bootstrap_mean(cand, seed=2)
    assert (paired.high - paired.low) < 0.5 * ((b.high - b.low) + (c.high - c.low)) / 2


def test_paired_bootstrap_without_strata_is_bootstrap_of_differences():
    rng = np.random.default_rng(12)
    base, cand = rng.random(80), rng.random(80)
    assert stats.paired_bootstrap_diff(base, cand, seed=8, n_resamples=1000) == stats.bootstrap_mean(
        cand - base, seed=8, n_resamples=1000
    )


def test_stratified_bootstrap_matches_reference_loop():
    rng = np.random.default_rng(13)
    d = rng.normal(size=60)
    strata = np.array(["a"] * 10 + ["b"] * 50)
    iv = stats.paired_bootstrap_diff(np.zeros(60), d, strata=strata, n_resamples=500, seed=21)
    # Reference: the same per-stratum draws, done one resample at a time.
    r = np.random.default_rng(21)
    da, db = d[:10], d[10:]
    sa = np.array([da[r.integers(0, 10, size=10)].sum() for _ in range(500)])
    sb = np.array([db[r.integers(0, 50, size=50)].sum() for _ in range(500)])
    lo, hi = np.quantile((sa + sb) / 60, [0.025, 0.975])
    assert iv.low == pytest.approx(lo) and iv.high == pytest.approx(hi)
    assert iv.estimate == pytest.approx(d.mean())


def test_quantile_diff_matches_reference_loop():
    rng = np.random.default_rng(14)
    base = rng.lognormal(6, 0.4, size=150)
    cand = base * 1.3 + rng.normal(0, 10, size=150)
    (iv,) = stats.paired_bootstrap_quantile_diffs(base, cand, [0.95], n_resamples=800, seed=2)
    r = np.random.default_rng(2)
    ref = []
    for _ in range(800):
        idx = r.integers(0, 150, size=150)
        ref.append(np.quantile(cand[idx], 0.95) - np.quantile(base[idx], 0.95))
    lo, hi = np.quantile(ref, [0.025, 0.975])
    assert iv.low == pytest.approx(lo) and iv.high == pytest.approx(hi)
    assert iv.estimate == pytest.approx(np.quantile(cand, 0.95) - np.quantile(base, 0.95))
    assert iv.low > 0  # a 30% slowdown is visible


def test_bootstrap_is_reproducible_and_seed_dependent():
    x = np.random.default_rng(0).random(50)
    assert stats.bootstrap_mean(x, seed=1) == stats.bootstrap_mean(x, seed=1)
    assert stats.bootstrap_mean(x, seed=1) != stats.bootstrap_mean(x, seed=2)


def test_bootstrap_edge_cases():
    assert math.isnan(stats.bootstrap_mean([]).estimate)
    one = stats.bootstrap_mean([0.5])
    assert (one.estimate, one.low, one.high) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        stats.bootstrap_mean([1.0, float("nan")])
    with pytest.raises(ValueError):
        stats.paired_bootstrap_diff([1.0, 2.0], [1.0])


# ---- Holm -------------------------------------------------------------------------------------


def test_holm_worked_example():
    # Sorted: 0.01*4=0.04, 0.03*3=0.09, 0.04*2=0.08 -> 0.09 (monotone), 0.5*1=0.5
    assert stats.holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_holm_caps_at_one_and_keeps_nan():
    out = stats.holm([0.6, float("nan"), 0.7])
    assert out[0] == 1.0 and out[2] == 1.0 and math.isnan(out[1])


@settings(deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_holm_properties(ps):
    adj = stats.holm(ps)
    m = len(ps)
    for p, a in zip(ps, adj):
        assert p <= a + 1e-15 <= 1 + 1e-15
        assert a <= min(1.0, m * p) + 1e-12  # never worse than Bonferroni
    # Monotone in the raw p-values.
    pairs = sorted(zip(ps, adj))
    assert all(a1 <= a2 + 1e-15 for (_, a1), (_, a2) in zip(pairs, pairs[1:]))


def test_paired_permutation_test_is_exact_mcnemar_and_exact_on_repeat_lattices():
    import itertools

    import numpy as np

    from evalseed import stats

    rng = np.random.default_rng(4)
    b, c = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    assert stats.paired_permutation_test(b, c) == stats.sign_test(b, c)[0]
    for _ in range(5):
        # base 1 repeat, candidate 3: every sign assignment enumerated by brute force
        b = rng.integers(0, 2, 13).astype(float)
        c = rng.integers(0, 4, 13) / 3
        d = (c - b)[np.abs(c - b) > 1e-12]
        hits = sum(abs(np.dot(s, d)) >= abs(d.sum()) - 1e-9 for s in itertools.product([-1, 1], repeat=d.size))
        assert stats.paired_permutation_test(b, c) == pytest.approx(hits / 2 ** d.size, abs=1e-12)
    # Continuous scores: Monte Carlo, close to the exact figure of the same differences scaled to a lattice.
    b, c = rng.random(40), rng.random(40)
    exact = stats.paired_permutation_test(np.round(b * 20) / 20, np.round(c * 20) / 20)
    mc = stats.paired_permutation_test(np.round(b * 20) / 20 + 1e-7 * rng.random(40), np.round(c * 20) / 20,
                                       n_resamples=20_000)
    assert mc == pytest.approx(exact, abs=0.02)
    assert stats.paired_permutation_test([1, 0], [1, 0]) == 1.0
