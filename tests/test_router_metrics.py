"""AIQ, APGR, CPT, hulls and the oracle against values computed by hand on tiny tables."""

from __future__ import annotations

import numpy as np
import pytest

from evalseed.router import evaluate as E


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


def test_quality_at_budget_takes_the_best_point_that_fits():
    pts = [{"lambda": 0.0, "cost": 0.002, "quality": 0.9}, {"lambda": 9.0, "cost": 0.0005, "quality": 0.7}]
    got = E.quality_at_budgets(pts, [0.1, 1.0, 5.0])
    assert [g["quality"] for g in got] == [None, 0.7, 0.9]
