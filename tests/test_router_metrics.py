"""AIQ, APGR, CPT, hulls and the oracle against values computed by hand on tiny tables."""

from __future__ import annotations

import numpy as np
import pytest

from evalseed.router import evaluate as E
from strategies import quality_cost_tables


def test_zero_router_aiq_is_the_mean_of_the_line_between_two_models():
    # cheap model (cost 1, quality 0.5), dear model (cost 3, quality 0.9): mixing traces the line
    assert E.aiq([(1, 0.5), (3, 0.9)], 1, 3) == pytest.approx(0.7)


def test_aiq_of_a_concave_router_curve():
    # hull (1,.5) (2,.85) (3,.9): area .675 + .875 = 1.55 over a range of 2
    assert E.aiq([(1, 0.5), (2, 0.85), (3, 0.9)], 1, 3) == pytest.approx(0.775)


def test_points_under_the_hull_do_not_count():
    assert E.aiq([(1, 0.5), (2, 0.6), (3, 0.9)], 1, 3) == pytest.approx(0.7)


def test_hull_is_non_decreasing():
    # a cheaper point with higher quality makes the curve flat at its quality
    assert E.nondecreasing_hull([(1, 0.9), (3, 0.5)]) == [(1.0, 0.9)]
    assert E.aiq([(1, 0.9), (3, 0.5)], 1, 3) == pytest.approx(0.9)


def test_cost_range_before_the_router_starts_counts_zero():
    # the router cannot get below cost 2: [1,2] counts 0, [2,3] averages .85
    assert E.aiq([(2, 0.8), (3, 0.9)], 1, 3) == pytest.approx(0.425)


def test_equal_costs_aiq_is_the_best_quality():
    assert E.aiq([(1, 0.5), (1, 0.7)], 1, 1) == pytest.approx(0.7)


def test_apgr_and_cpt_by_hand():
    q_weak = np.array([1, 0, 0, 1.0])
    q_strong = np.array([1, 1, 1, 0.0])
    # acc_weak .5, acc_strong .75; ranking by score: case1, case2, case3, case0 with gains 1, 1, -1, 0
    score = np.array([0, 3, 2, 1.0])
    m = E.pair_metrics(score, q_weak, q_strong)
    # PGR(f) = G(4f) with G through (0,0) (1,1) (2,2) (3,1) (4,1)
    expected = [0, 0.4, 0.8, 1.2, 1.6, 2.0, 1.6, 1.2, 1.0, 1.0, 1.0]
    assert m["pgr"] == pytest.approx(expected)
    assert m["apgr"] == pytest.approx(0.1 * (sum(expected[1:-1]) + expected[-1] / 2))
    assert m["apgr"] == pytest.approx(1.13)
    assert m["cpt50"] == pytest.approx(0.125)
    assert m["cpt80"] == pytest.approx(0.2)


def test_ties_split_calls_evenly_so_a_constant_score_is_random():
    rng = np.random.default_rng(1)
    q_weak = rng.integers(0, 2, 50).astype(float)
    q_strong = np.maximum(q_weak, rng.integers(0, 2, 50))
    if q_strong.mean() == q_weak.mean():
        q_strong[0], q_weak[0] = 1.0, 0.0
    m = E.pair_metrics(np.zeros(50), q_weak, q_strong)
    assert m["pgr"] == pytest.approx(list(np.linspace(0, 1, 11)))
    assert m["apgr"] == pytest.approx(0.5)
    assert m["cpt50"] == pytest.approx(0.5)
    assert m["cpt80"] == pytest.approx(0.8)


def test_oracle_sends_each_case_to_its_best_and_cheapest_model():
    Q = np.array([[1, 1], [0, 1], [0, 0], [1, 0.0]])
    C = np.array([[1, 5], [1, 5], [1, 5], [1, 5.0]])
    cost, quality = E.oracle(Q, C)
    assert quality == pytest.approx(0.75)
    assert cost == pytest.approx((1 + 5 + 1 + 1) / 4)


def test_choose_respects_lambda_and_latency_slo():
    q = np.array([[0.9, 0.8]])
    c = np.array([[0.01, 0.001]])
    lat = np.array([[2000.0, 100.0]])
    assert E.choose(q, c, 0.0)[0] == 0
    assert E.choose(q, c, 100.0)[0] == 1  # 0.1 quality is not worth 0.009 USD at lambda 100
    assert E.choose(q, c, np.inf)[0] == 1
    assert E.choose(q, c, 0.0, lat, 0.0, slo_ms=500)[0] == 1
    assert E.choose(q, c, 0.0, lat, 0.0, slo_ms=50)[0] == 1  # all too slow: the fastest


def test_quality_at_budget_mixes_the_two_neighbouring_points():
    pts = [{"lambda": 0.0, "cost": 0.002, "quality": 0.9}, {"lambda": 9.0, "cost": 0.0005, "quality": 0.7}]
    got = E.quality_at_budgets(pts, [0.1, 0.5, 1.0, 5.0])
    # $1 per 1,000 calls: a third of the calls at lambda 0 ($2), two thirds at lambda 9 ($0.5)
    assert [g["quality"] for g in got] == pytest.approx([None, 0.7, 0.7 + 0.2 / 3, 0.9], abs=1e-12)
    assert got[2]["cost_per_1k"] == pytest.approx(1.0) and got[2]["mix"] == pytest.approx(1 / 3)
    assert (got[2]["lambda"], got[2]["lambda_dearer"]) == (9.0, 0.0)
    assert got[3]["cost_per_1k"] == pytest.approx(2.0) and got[3]["mix"] == 0.0


# ---- exact curves: properties on random point sets (issue 21, item 3) ---------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402







@settings(max_examples=200, deadline=None)
@given(quality_cost_tables(), st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=30))
def test_every_lambda_lands_on_an_exact_frontier_point_and_exact_aiq_is_at_least_sampled(t, lams):
    Q, C, qhat, chat = t
    pts = E.frontier_points(Q, C, qhat, chat)
    exact = {(round(p["cost"], 9), round(p["quality"], 9)) for p in pts}
    sampled = E.curve(Q, C, qhat, chat, np.array(sorted(lams) + [np.inf]))
    for p in sampled:
        assert (round(p["cost"], 9), round(p["quality"], 9)) in exact
    cs = [c for c, _ in E.singles(Q, C)]
    a_exact = E.aiq([(p["cost"], p["quality"]) for p in pts], min(cs), max(cs))
    a_sampled = E.aiq([(p["cost"], p["quality"]) for p in sampled], min(cs), max(cs))
    assert a_exact >= a_sampled - 1e-9


@settings(max_examples=200, deadline=None)
@given(quality_cost_tables())
def test_frontier_points_are_the_policy_between_its_breakpoints(t):
    Q, C, qhat, chat = t
    pts = E.frontier_points(Q, C, qhat, chat, shares=True)
    lams = [p["lambda"] for p in pts]
    assert lams == sorted(lams) and lams[0] == 0.0
    for a, b in zip(pts, pts[1:] + [None]):
        # anywhere between two breakpoints the policy is the earlier point
        mid = a["lambda"] + 1.0 if b is None else (a["lambda"] + b["lambda"]) / 2
        # (breakpoints closer than rounding, e.g. 0.25 / 0.02 and 0.125 / (0.04 - 0.03), are skipped)
        pick = E.choose(qhat, chat, mid) if b is None or b["lambda"] - a["lambda"] > 1e-9 * (1 + a["lambda"]) else None
        if pick is not None:
            rows = np.arange(len(Q))
            assert C[rows, pick].mean() == pytest.approx(a["cost"], abs=1e-9)
            assert Q[rows, pick].mean() == pytest.approx(a["quality"], abs=1e-9)
            assert np.bincount(pick, minlength=Q.shape[1]) / len(Q) == pytest.approx(a["shares"])
    # the last point is the cheapest predicted model per case
    rows = np.arange(len(Q))
    last = E.choose(qhat, chat, 1e12)
    assert C[rows, last].mean() == pytest.approx(pts[-1]["cost"], abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(quality_cost_tables(), st.lists(st.integers(0, 11), min_size=1, max_size=24))
def test_weighted_frontier_is_the_frontier_of_the_resample(t, idx):
    Q, C, qhat, chat = t
    idx = np.array([i % len(Q) for i in idx])
    w = np.bincount(idx, minlength=len(Q))
    f = E.Frontier(qhat, chat)
    got = [(p["cost"], p["quality"]) for p in f.points(Q, C, w)]
    want = [(p["cost"], p["quality"]) for p in E.frontier_points(Q[idx], C[idx], qhat[idx], chat[idx])]
    # the same policy on the same multiset of cases: the same hull (points may repeat where a
    # case left out by the resample would have moved)
    # (compared as functions: collinear vertices may be kept or dropped by rounding)
    hg, hw = E.nondecreasing_hull(got), E.nondecreasing_hull(want)
    xs = np.linspace(0, 1.1, 301)
    assert np.allclose(E.hull_value(hg, xs), E.hull_value(hw, xs), atol=1e-9, rtol=0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10, allow_nan=False), st.floats(0, 1, allow_nan=False)), min_size=1, max_size=20),
       st.lists(st.floats(0, 12000, allow_nan=False), min_size=1, max_size=10))
def test_quality_at_a_budget_never_exceeds_it_and_is_the_hull(pts, budgets):
    points = [{"lambda": float(i), "cost": c / 1000, "quality": q} for i, (c, q) in enumerate(pts)]
    hull = E.nondecreasing_hull([(p["cost"], p["quality"]) for p in points])
    for b in E.quality_at_budgets(points, budgets):
        if b["quality"] is None:
            assert b["budget_per_1k"] / 1000 < hull[0][0]
            continue
        assert b["cost_per_1k"] <= b["budget_per_1k"] * (1 + 1e-9) + 1e-12
        assert b["quality"] == pytest.approx(float(E.hull_value(hull, np.array([b["budget_per_1k"] / 1000]))[0]),
                                             abs=1e-9)
        # no single point within the budget is better than the mix
        fit = [p["quality"] for p in points if p["cost"] * 1000 <= b["budget_per_1k"] * (1 + 1e-12)]
        assert b["quality"] >= max(fit, default=0.0) - 1e-9


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 40).flatmap(lambda n: st.tuples(
    hnp.arrays(float, n, elements=st.sampled_from([0.0, 1.0])),
    hnp.arrays(float, n, elements=st.sampled_from([0.0, 1.0])),
    hnp.arrays(float, n, elements=st.integers(-3, 3).map(float)))),
    st.sampled_from([0.5, 0.8]))
def test_exact_cpt_is_the_first_fraction_reaching_the_target(t, target):
    qw, qs, score = t
    if qs.mean() <= qw.mean():
        return
    n = len(score)
    got = E.cpt_exact(score, qw, qs, target)
    # brute force on a fine grid of fractions: PGR reaches the target at got, and not before
    fine = np.linspace(0, 1, 20 * n + 1)
    p = E.pgr(E.strong_curve(score, qw, qs, fine), qw.mean(), qs.mean())
    reached = fine[np.flatnonzero(p >= target - 1e-9)]
    assert reached.size and got <= reached[0] + 1e-12
    at = E.pgr(E.strong_curve(score, qw, qs, np.array([got])), qw.mean(), qs.mean())[0]
    assert at >= target - 1e-9
    # the 11-point CPT is never below the exact one by more than the grid's interpolation error
    assert E.pair_metrics(score, qw, qs)["cpt50" if target == 0.5 else "cpt80"] == pytest.approx(got)


def test_oracle_aiq_is_one_definition():
    rng = np.random.default_rng(3)
    Q = rng.integers(0, 2, (300, 3)).astype(float)
    C = rng.uniform(0.001, 0.01, (300, 3))
    cs = [c for c, _ in E.singles(Q, C)]
    a = E.oracle_aiq(Q, C, min(cs), max(cs))
    assert a == pytest.approx(E.Frontier(Q, C).aiq(Q, C, min(cs), max(cs)))
    # at least every single model, the Zero router and the quality-only oracle point
    zero = E.aiq(E.singles(Q, C), min(cs), max(cs))
    assert a >= E.aiq([E.oracle(Q, C)] + E.singles(Q, C), min(cs), max(cs)) - 1e-12 and a > zero
