"""evalseed compare: pairing, counting rules, the gate, and its outputs, on real DuckDB files
built through the store (no engine needed)."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from evalseed import compare, stats, store
from evalseed.cli import app
from evalseed.errors import UsageError

_T0 = datetime(2026, 11, 26, 12, 0, 0)


def _row(run_id, suite, case_id, model, passed, *, repeat=0, status="ok", latency=400.0, ttft=None, cost=0.001,
         output=None, expected="yes", error=None):
    return {
        "run_id": run_id, "suite": suite, "case_id": case_id, "kind": "classification", "model": model,
        "provider": "test", "repeat": repeat, "status": status, "error": error,
        "input_text": f"input {case_id}", "request": {"model": model}, "response": {},
        "output_text": output if output is not None else ("yes" if passed else "no"),
        "score": (1.0 if passed else 0.0) if status == "ok" else None,
        "passed": bool(passed) if status == "ok" else None,
        "details": {"expected": expected}, "latency_ms": latency if status == "ok" else None,
        "ttft_ms": ttft, "output_tps": None, "prompt_tokens": 10, "completion_tokens": 1,
        "reasoning_tokens": None, "cached_tokens": None, "images": None, "cost_usd": cost,
        "attempts": 1, "replayed": False, "started_at": _T0, "finished_at": _T0,
    }


def add_run(con, run_id, rows, *, minutes=0, status="finished"):
    store.insert_run(con, run_id, label=run_id, git_sha=None, version="test", config={})
    con.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", [_T0 + timedelta(minutes=minutes), run_id])
    w = store.ResultWriter(con, run_id)
    for r in rows:
        w.add(dict(r, run_id=run_id))
    w.flush()
    store.finish_run(con, run_id, status)


def binary_rows(values, *, suite="s", model="seed-1-6-250915", prefix="c", **kw):
    return [_row(None, suite, f"{prefix}{i:04d}", model, v, **kw) for i, v in enumerate(values)]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "e.duckdb"
    con = store.open_db(path)
    yield path, con
    con.close()


def _cmp(con, a, b, **kw):
    kw.setdefault("n_resamples", 2000)
    return compare.compare_runs(con, a, b, **kw)


# ---- statistics wired correctly ----------------------------------------------------------------


def test_accuracy_diff_mcnemar_and_flips(db):
    _, con = db
    rng = np.random.default_rng(0)
    base = rng.binomial(1, 0.8, size=200)
    cand = base.copy()
    down = np.flatnonzero(base == 1)[:30]
    up = np.flatnonzero(base == 0)[:5]
    cand[down] = 0
    cand[up] = 1
    add_run(con, "base", binary_rows(base))
    add_run(con, "cand", binary_rows(cand, model="seed-1-6-260301"), minutes=1)
    c = _cmp(con, "base", "cand")
    assert c.failed and len(c.units) == 1 and c.overall is None
    u = c.units[0]
    assert (u.base_model, u.cand_model) == ("seed-1-6-250915", "seed-1-6-260301")
    assert u.n_pairs == 200 and (u.worse, u.better) == (30, 5)
    assert u.base_accuracy.estimate == pytest.approx(base.mean())
    assert u.cand_accuracy.estimate == pytest.approx(cand.mean())
    assert u.p_value == stats.mcnemar_exact(30, 5)
    assert u.p_holm == u.p_value  # a family of one
    assert u.diff.estimate == pytest.approx(-25 / 200)
    assert u.diff.low < -0.125 < u.diff.high < 0
    ref = stats.wilson_interval(int(base.sum()), 200)
    assert (u.base_accuracy.low, u.base_accuracy.high) == (ref.low, ref.high)
    assert {f.case_id for f in u.flips["regressed"]} == {f"c{i:04d}" for i in down}
    assert {f.case_id for f in u.flips["improved"]} == {f"c{i:04d}" for i in up}
    f = u.flips["regressed"][0]
    assert (f.base, f.cand, f.base_output, f.cand_output, f.expected) == (1.0, 0.0, "yes", "no", "yes")
    assert u.verdict == "regression" and "significant at alpha=0.05" in u.reasons[0]
    assert any("new version of seed-1-6" in n for n in c.notes)


def test_small_drop_is_within_tolerance(db):
    # 1.5-point drop on 2000 cases: 30 pass->fail vs 0: significant, but below --min-drop 0.02.
    _, con = db
    base = np.ones(2000, dtype=int)
    cand = base.copy()
    cand[:30] = 0
    add_run(con, "a", binary_rows(base))
    add_run(con, "b", binary_rows(cand), minutes=1)
    u = _cmp(con, "a", "b").units[0]
    assert u.p_value < 1e-6 and not u.failed
    assert "within the allowed drop" in u.reasons[0]
    assert _cmp(con, "a", "b", min_drop=0.01).failed


def test_holm_across_suites_and_overall(db):
    _, con = db
    rows_a, rows_b = [], []
    rng = np.random.default_rng(3)
    for s, k in (("alpha", 12), ("beta", 0), ("gamma", 2)):
        base = rng.binomial(1, 0.7, size=150)
        cand = base.copy()
        cand[np.flatnonzero(base == 1)[:k]] = 0
        rows_a += binary_rows(base, suite=s)
        rows_b += binary_rows(cand, suite=s)
    add_run(con, "a", rows_a)
    add_run(con, "b", rows_b, minutes=1)
    c = _cmp(con, "a", "b")
    assert [u.name for u in c.units] == ["alpha", "beta", "gamma"]
    assert c.overall is not None and c.overall.n_pairs == 450
    raw = [u.p_value for u in c.units] + [c.overall.p_value]
    assert [u.p_holm for u in c.units] + [c.overall.p_holm] == pytest.approx(stats.holm(raw))
    assert (c.overall.worse, c.overall.better) == (14, 0)
    # alpha: 12 vs 0 gives p=0.00049, Holm x4 = 0.002 < 0.05 and an 8-point drop: regression.
    assert c.units[0].failed and not c.units[1].failed and not c.units[2].failed
    assert c.failed


def test_overall_bootstrap_is_stratified_by_suite(db):
    _, con = db
    rows_a, rows_b = [], []
    for s, n in (("big", 300), ("small", 20)):
        rows_a += binary_rows([1] * n, suite=s)
        rows_b += binary_rows([1] * (n - 10) + [0] * 10, suite=s)
    add_run(con, "a", rows_a)
    add_run(con, "b", rows_b, minutes=1)
    o = _cmp(con, "a", "b").overall
    # Stratified: the suite sizes stay fixed, so the estimate is exact and the CI is tight.
    strata = ["big"] * 300 + ["small"] * 20
    d = np.array([0] * 290 + [-1] * 10 + [0] * 10 + [-1] * 10, dtype=float)
    seed = stats.DEFAULT_SEED + __import__("zlib").crc32(b"overall")
    ref = stats.paired_bootstrap_diff(np.zeros(320), d, strata=strata, n_resamples=2000, seed=seed)
    assert (o.diff.low, o.diff.high) == (ref.low, ref.high)
    assert o.diff.estimate == pytest.approx(-20 / 320)


# ---- counting rules ---------------------------------------------------------------------------


def test_errors_and_skips_count_as_documented(db):
    _, con = db
    a = [_row(None, "s", f"c{i}", "m-250101", True) for i in range(6)]
    b = [
        _row(None, "s", "c0", "m-260101", True),
        _row(None, "s", "c1", "m-260101", None, status="error", error="APITimeoutError: timed out"),
        _row(None, "s", "c2", "m-260101", None, status="skipped", error="too long for the context window"),
        _row(None, "s", "c3", "m-260101", True),
        _row(None, "s", "c4", "m-260101", True),
        # c5 missing in the candidate; c6 only in the candidate
        _row(None, "s", "c6", "m-260101", True),
    ]
    a.append(_row(None, "s", "c7", "m-250101", None, status="skipped"))
    b.append(_row(None, "s", "c7", "m-260101", None, status="skipped"))
    add_run(con, "a", a)
    add_run(con, "b", b, minutes=1)
    with pytest.raises(UsageError, match=r"does not cover .*1 of the 7 cases of suite s \(c5\)"):
        _cmp(con, "a", "b")
    cmp = _cmp(con, "a", "b", allow_partial=True)
    assert cmp.partial == ["the candidate lacks 1 of the 7 cases of suite s (c5)"]
    u = cmp.units[0]
    assert u.n_pairs == 5  # c0..c4
    assert u.excluded == {"both_skipped": 1, "only_in_base": 1, "only_in_cand": 1}
    # The quality test sees c0, c3, c4 (answered on both sides): no change there. c1 (error) and
    # c2 (skipped) are left out of it, counted by why, and compared as the unanswered rate.
    assert u.n_answered == 3 and (u.worse, u.better) == (0, 0) and u.diff.estimate == 0
    assert u.left_out == {"base_error": 0, "base_skipped": 0, "cand_error": 1, "cand_skipped": 1}
    assert u.unanswered["cand_rate"] == pytest.approx(2 / 5) and u.unanswered["base_rate"] == 0
    assert (u.unanswered["more"], u.unanswered["fewer"]) == (2, 0)
    assert u.status_counts["cand"] == {"ok": 3, "error": 1, "skipped": 1, "filtered": 0}
    # Each side's accuracy stays the metrics' figure over its paired rows: the candidate's error
    # c1 is a failure, its skipped c2 is left out (3 of 4 asked cases passed).
    assert u.skipped_one_side == {"base": 0, "cand": 1}
    assert (u.base_accuracy.estimate, u.cand_accuracy.estimate) == (1.0, 3 / 4)
    m = u.cand_metrics
    assert (m["cases"], m["ok"], m["errors"], m["skipped"], m["accuracy"]) == (5, 3, 1, 1, 3 / 4)


def test_repeats_pair_on_case_means_and_report_noise(db):
    _, con = db
    a, b = [], []
    for i in range(40):
        for r in range(3):
            a.append(_row(None, "s", f"c{i}", "m", True if i < 30 else r == 0, repeat=r))
            b.append(_row(None, "s", f"c{i}", "m", (r != 2) if i < 10 else True, repeat=r))
    add_run(con, "a", a)
    add_run(con, "b", b, minutes=1)
    u = _cmp(con, "a", "b").units[0]
    assert u.repeats == {"base": 3, "cand": 3} and u.accuracy_method == "bootstrap"
    assert u.n_pairs == 40
    # base: c30..c39 pass 1 of 3; cand: c0..c9 pass 2 of 3.
    assert u.base_accuracy.estimate == pytest.approx((30 + 10 / 3) / 40)
    assert u.cand_accuracy.estimate == pytest.approx((30 + 20 / 3) / 40)
    assert (u.worse, u.better) == (10, 10)
    nb, nc = u.noise["base"], u.noise["cand"]
    assert (nb.cases, nb.unstable_cases) == (40, 10)
    assert nb.pairwise_disagreement == pytest.approx(10 * (2 * 1 * 2 / 6) / 40)
    assert nc.unstable_cases == 10
    assert {f.case_id for f in u.flips["regressed"]} == {f"c{i}" for i in range(10)}


# ---- cost and latency -------------------------------------------------------------------------


def test_cost_and_latency_deltas_and_limits(db):
    _, con = db
    rng = np.random.default_rng(5)
    lat = rng.lognormal(6, 0.3, size=300)
    a = [_row(None, "s", f"c{i}", "m", True, latency=float(lat[i]), ttft=float(lat[i]) / 4, cost=0.001)
         for i in range(300)]
    b = [_row(None, "s", f"c{i}", "m", True, latency=float(lat[i]) * 1.5, ttft=float(lat[i]) / 4, cost=0.0013)
         for i in range(300)]
    add_run(con, "a", a)
    add_run(con, "b", b, minutes=1)
    u = _cmp(con, "a", "b").units[0]
    assert u.cost.ratio == pytest.approx(0.3) and u.cost.diff.low > 0
    assert u.latency_p50.base == pytest.approx(np.quantile(lat, 0.5))
    assert u.latency_p95.cand == pytest.approx(np.quantile(lat * 1.5, 0.95))
    assert u.latency_p50.ratio == pytest.approx(0.5)
    assert u.ttft_p50.ratio == pytest.approx(0.0) and u.ttft_p50.diff.low <= 0 <= u.ttft_p50.diff.high
    assert not u.failed  # no limits given
    c = _cmp(con, "a", "b", max_cost_increase=0.2)
    assert c.failed and any("mean cost per case +30%" in r for r in c.units[0].reasons)
    assert not _cmp(con, "a", "b", max_cost_increase=0.5).failed
    assert _cmp(con, "a", "b", max_latency_increase=0.25).failed
    assert not _cmp(con, "a", "b", max_latency_increase=0.6).failed


def test_cost_only_failure_names_cost_in_junit_message(db):
    """Accuracy unchanged ("not significant at alpha" reason) but cost +30%: the JUnit failure
    message must give the cost reason, not the accuracy one."""
    from evalseed.compare import render_junit

    _, con = db
    add_run(con, "a", binary_rows([1, 0, 1, 1] * 25, cost=0.001))
    add_run(con, "b", binary_rows([1, 0, 1, 1] * 25, cost=0.0013), minutes=1)
    c = _cmp(con, "a", "b", max_cost_increase=0.2)
    u = c.units[0]
    assert c.failed and "not significant at alpha" in u.reasons[0]
    assert len(u.fail_reasons) == 1 and u.fail_reasons[0].startswith("mean cost per case +30%")
    assert c.to_dict()["units"][0]["fail_reasons"] == u.fail_reasons
    failure = ET.fromstring(render_junit(c).split("\n", 1)[1]).find(".//failure")
    assert failure is not None and failure.get("message") == f"{u.name}: {u.fail_reasons[0]}"
    assert "mean cost per case" in failure.get("message") and "accuracy" not in failure.get("message")


# ---- models and bad input ---------------------------------------------------------------------


def test_multi_model_runs_pair_by_name_and_family():
    pairs, notes = compare.match_models(
        ["seed-1-6-250915", "seed-1-6-flash-250715", "seed-1-8-251228"], ["seed-1-6-260301", "seed-1-8-251228"]
    )
    assert pairs == [("seed-1-6-250915", "seed-1-6-260301"), ("seed-1-8-251228", "seed-1-8-251228")]
    assert any("seed-1-6-flash-250715 has no counterpart" in n for n in notes)
    assert compare.family_of("seed-1-6-flash-250715") == "seed-1-6-flash"


def test_multi_model_units_are_named_by_candidate_model(db):
    _, con = db
    a = binary_rows([1] * 30, model="seed-1-6-250915") + binary_rows([1] * 30, model="seed-1-8-251228")
    b = binary_rows([1] * 30, model="seed-1-6-260301") + binary_rows([0] * 30, model="seed-1-8-251228")
    add_run(con, "a", a)
    add_run(con, "b", b, minutes=1)
    c = _cmp(con, "a", "b")
    assert [u.name for u in c.units] == ["s [seed-1-6-260301]", "s [seed-1-8-251228]"]
    assert not c.units[0].failed and c.units[1].failed
    only = _cmp(con, "a", "b", base_model="seed-1-6-250915", cand_model="seed-1-6-260301")
    assert [u.name for u in only.units] == ["s"] and not only.failed


def test_bad_input_is_a_usage_error(db):
    _, con = db
    add_run(con, "a", binary_rows([1, 0, 1], suite="x"))
    add_run(con, "b", binary_rows([1, 0, 1], suite="y"), minutes=1)
    with pytest.raises(UsageError, match="does not cover"):
        _cmp(con, "a", "b")
    with pytest.raises(UsageError, match="no cases in common"):
        _cmp(con, "a", "b", allow_partial=True)
    with pytest.raises(UsageError, match="no run 'zzz'"):
        _cmp(con, "a", "zzz")
    with pytest.raises(UsageError, match="--alpha"):
        _cmp(con, "a", "a", alpha=1.5)
    with pytest.raises(UsageError, match="--max-cost-increase"):
        _cmp(con, "a", "a", max_cost_increase=-1)
    with pytest.raises(UsageError, match="no results for model"):
        _cmp(con, "a", "a", cand_model="nope")


def test_to_dict_is_json_and_has_the_documented_keys(db):
    _, con = db
    add_run(con, "a", binary_rows([1, 1, 0, 1] * 10, suite="p") + binary_rows([1] * 5, suite="q"))
    add_run(con, "b", binary_rows([1, 0, 0, 1] * 10, suite="p") + binary_rows([1] * 5, suite="q"), minutes=1)
    d = _cmp(con, "a", "b").to_dict()
    text = json.dumps(d, allow_nan=False)  # NaN must have become null
    assert json.loads(text) == d
    assert set(d) == {"schema", "failed", "infra_failed", "verdict", "base", "cand", "settings", "units", "overall", "notes",
                      "partial", "new_suites"}
    u = d["units"][0]
    for key in ("name", "suite", "kind", "base_model", "cand_model", "n_pairs", "repeats", "excluded",
                "skipped_one_side", "status_counts", "base_accuracy", "cand_accuracy", "accuracy_method", "diff",
                "worse", "better", "base_metrics", "cand_metrics",
                "p_value", "p_holm", "noise", "flips", "cost", "latency_p50", "latency_p95", "ttft_p50",
                "ttft_p95", "verdict", "failed", "reasons"):
        assert key in u, key
    assert set(u["diff"]) == {"estimate", "low", "high", "confidence"}
    assert d["units"][1]["p_value"] == 1.0 and d["units"][1]["ttft_p50"]["diff"] is None
    assert d["overall"]["suite"] == "*"


def test_results_are_reproducible(db):
    _, con = db
    rng = np.random.default_rng(8)
    add_run(con, "a", binary_rows(rng.binomial(1, 0.6, 120)))
    add_run(con, "b", binary_rows(rng.binomial(1, 0.6, 120)), minutes=1)
    assert _cmp(con, "a", "b").to_dict() == _cmp(con, "a", "b").to_dict()


# ---- the gate, as properties ------------------------------------------------------------------

# EVALSEED_HYPOTHESIS_EXAMPLES=500 runs the properties harder (25 keeps the file quick).
_HSETTINGS = settings(max_examples=int(os.environ.get("EVALSEED_HYPOTHESIS_EXAMPLES", "25")), deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


@_HSETTINGS
@given(
    suites=st.lists(
        st.tuples(st.integers(1, 120), st.floats(0, 1), st.integers(1, 3)), min_size=1, max_size=4
    ),
    seed=st.integers(0, 2**31 - 1),
    with_errors=st.booleans(),
)
def test_a_run_compared_with_itself_never_fails(tmp_path_factory, suites, seed, with_errors):
    con = store.open_db(tmp_path_factory.mktemp("self") / "e.duckdb")
    rng = np.random.default_rng(seed)
    rows = []
    for si, (n, acc, reps) in enumerate(suites):
        for i in range(n):
            for r in range(reps):
                status = "error" if with_errors and rng.random() < 0.1 else "ok"
                rows.append(_row(None, f"s{si}", f"c{i}", "m", rng.random() < acc, repeat=r, status=status,
                                 latency=float(rng.lognormal(6, 1)), cost=float(rng.random() / 100)))
    add_run(con, "r", rows)
    c = compare.compare_runs(con, "r", "r", n_resamples=300, max_cost_increase=0.0, max_latency_increase=0.0)
    assert not c.failed and not c.infra_failed
    as_json = {u["name"]: u for u in c.to_dict()["units"] + [c.to_dict()["overall"] or {"name": None}]}
    for u in c.units + ([c.overall] if c.overall else []):
        assert u.worse == u.better == 0 and u.p_value == 1.0
        if u.n_answered:
            assert u.diff.estimate == 0
        else:  # every row of the suite is an error: no difference to measure, said so, not 0
            assert math.isnan(u.diff.estimate) and as_json[u.name]["diff"]["estimate"] is None
            assert any("no case answered on both sides" in r for r in u.reasons)
    con.close()


def test_a_suite_whose_only_row_is_an_error_compared_with_itself(db):
    """What hypothesis found: a suite with nothing answered on both sides made the difference NaN
    and the reason read `accuracy +nan pts`. It has no quality test, says so, and does not fail."""
    path, con = db
    add_run(con, "r", [_row(None, "lone", "c0", "m", None, status="error", error="InternalServiceError"),
                       _row(None, "other", "c0", "m", True)])
    c = _cmp(con, "r", "r", max_cost_increase=0.0, max_latency_increase=0.0)
    assert not c.failed and not c.infra_failed
    lone = next(u for u in c.units if u.name == "lone")
    assert lone.n_answered == 0 and math.isnan(lone.diff.estimate)
    assert not any("nan pts" in r for r in lone.reasons)
    assert "no case answered on both sides" in lone.reasons[0]
    assert json.loads(json.dumps(c.to_dict(), allow_nan=False))["units"][0]["diff"]["estimate"] is None
    assert c.overall is not None and c.overall.diff.estimate == 0


@_HSETTINGS
@given(
    base_acc=st.floats(0.3, 0.95),
    noise_flips=st.integers(0, 30),
    seed=st.integers(0, 2**31 - 1),
    errors_as_drop=st.booleans(),
)
def test_an_injected_ten_point_drop_on_400_cases_always_fails(tmp_path_factory, base_acc, noise_flips, seed,
                                                              errors_as_drop):
    con = store.open_db(tmp_path_factory.mktemp("drop") / "e.duckdb")
    rng = np.random.default_rng(seed)
    n = 400
    base = (rng.random(n) < base_acc).astype(int)
    while base.sum() < 40 + noise_flips:  # room for the drop
        base[rng.integers(0, n)] = 1
    cand = base.copy()
    passing = rng.permutation(np.flatnonzero(base == 1))
    failing = rng.permutation(np.flatnonzero(base == 0))
    drop = passing[:40 + noise_flips]  # 10 points net after the compensating noise below
    k = min(noise_flips, len(failing))
    cand[drop[: 40 + k]] = 0
    cand[failing[:k]] = 1
    assert base.sum() - cand.sum() == 40
    a = binary_rows(base)
    b = binary_rows(cand, model="seed-1-6-260301")
    if errors_as_drop:  # the same drop, half of it as API errors in the candidate
        for i in drop[:20]:
            b[i] = _row(None, "s", f"c{i:04d}", "seed-1-6-260301", None, status="error", error="InternalServiceError")
    add_run(con, "a", a)
    add_run(con, "b", b, minutes=1)
    c = compare.compare_runs(con, "a", "b", n_resamples=300)
    u = c.units[0]
    # The one accuracy counts the errors as failures: 10 points down either way.
    assert u.cand_accuracy.estimate == pytest.approx(u.base_accuracy.estimate - 0.10)
    if errors_as_drop:
        # 20 cases unanswered (5% of the rows) is the infrastructure verdict; the quality test
        # sees the other 20 lost cases among the 380 answered on both sides.
        assert c.infra_failed and u.infra_failed and u.n_answered == 380
        assert u.diff.estimate == pytest.approx(-20 / 380)
    else:
        assert c.failed and u.failed and not c.infra_failed
        assert u.diff.estimate == pytest.approx(-0.10)
    con.close()


# ---- the command line -------------------------------------------------------------------------


def _two_runs(path, con, drop=40):
    base = np.ones(400, dtype=int)
    base[:100] = 0
    cand = base.copy()
    cand[100:100 + drop] = 0
    add_run(con, "run-base", binary_rows(base, suite="sentiment") + binary_rows([1] * 50, suite="easy"))
    add_run(con, "run-cand", binary_rows(cand, suite="sentiment", model="seed-1-6-260301")
            + binary_rows([1] * 50, suite="easy", model="seed-1-6-260301"), minutes=1)
    con.close()


def test_cli_regression_writes_junit_and_markdown(db, tmp_path):
    path, con = db
    _two_runs(path, con)
    junit, md, js = tmp_path / "j.xml", tmp_path / "s.md", tmp_path / "c.json"
    res = CliRunner().invoke(app, ["compare", "run-base", "run-cand", "--db", str(path), "--junit", str(junit),
                                   "--markdown", str(md), "--json", str(js)])
    assert res.exit_code == 1, res.output
    assert "REGRESSION" in res.output and "sentiment" in res.output
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "3" and root.get("failures") == "2"  # sentiment, easy, overall
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert set(cases) == {"sentiment", "easy", "overall"}
    fail = cases["sentiment"].find("failure")
    assert fail is not None and "accuracy -10.0 pts" in fail.get("message")
    assert "c0100" in fail.text
    assert cases["easy"].find("failure") is None
    text = md.read_text()
    assert text.startswith("## evalseed compare: ❌ regression")
    assert "| **sentiment** |" in text and "40 pass→fail" in text
    assert json.loads(js.read_text())["failed"] is True


def test_markdown_shows_hostile_model_and_case_names_as_text(db, tmp_path):
    path, con = db
    evil = "m<img src=x onerror=alert(1)>[click](https://evil.example)`x`"
    add_run(con, "run-base", binary_rows([1] * 60, model=evil, prefix="c|<b>"))
    add_run(con, "run-cand", binary_rows([1] * 20 + [0] * 40, model=evil, prefix="c|<b>"), minutes=1)
    con.close()
    md = tmp_path / "s.md"
    res = CliRunner().invoke(app, ["compare", "run-base", "run-cand", "--db", str(path), "--markdown", str(md)])
    assert res.exit_code == 1, res.output
    text = md.read_text()
    assert "<img" not in text and "<b>" not in text and "](https://evil" not in text and "`x`" not in text
    assert "&lt;img src=x onerror=alert\\(1\\)>\\[click\\]\\(https://evil.example\\)\\`x\\`" in text
    # Every table row keeps its table's columns: no | from a name split a cell.
    cells = lambda line: len(re.findall(r"(?<!\\)\|", line)) - 1  # noqa: E731
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            header = cells(lines[i - 1])
            body = [row for row in lines[i + 1:] if row.startswith("| ")]
            body = body[:next((k for k, row in enumerate(lines[i + 1:]) if not row.startswith("|")), len(body))]
            assert body and all(cells(row) == header for row in body), (header, body[:2])


def test_cli_no_regression_exits_zero(db, tmp_path):
    path, con = db
    _two_runs(path, con, drop=0)
    md = tmp_path / "s.md"
    res = CliRunner().invoke(app, ["compare", "run-base", "latest", "--db", str(path), "--markdown", str(md)])
    assert res.exit_code == 0, res.output
    assert "no regression" in res.output and "✅ no regression" in md.read_text()


def test_cli_bad_input_exits_two_with_one_sentence(db, tmp_path):
    path, con = db
    _two_runs(path, con)
    runner = CliRunner()
    res = runner.invoke(app, ["compare", "run-base", "nope", "--db", str(path)])
    assert res.exit_code == 2 and "no run 'nope'" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["compare", "run-base", "run-cand", "--db", str(tmp_path / "missing.duckdb")])
    assert res.exit_code == 2 and "no such database" in res.output
    res = runner.invoke(app, ["compare", "run-base", "run-cand", "--db", str(path),
                              "--junit", str(tmp_path / "no" / "such" / "dir.xml")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_gate_after_run_returns_exit_code(db, capsys):
    path, con = db
    _two_runs(path, con)
    assert compare.gate_after_run(str(path), "run-base", "run-cand") == 1
    assert compare.gate_after_run(str(path), "run-cand", "run-base") == 0  # the other way: an improvement
    assert "verdict" in capsys.readouterr().out


# ---- end to end: two real runs against the stub server -----------------------------------------


def _e2e_suite(n: int) -> str:
    lines = [
        "name: polarity",
        "kind: classification",
        "labels: [positive, negative]",
        "params: {temperature: 0, max_tokens: 4}",
        "messages:",
        '  - {role: system, content: "Answer positive or negative."}',
        '  - {role: user, content: "{{ text }}"}',
        "cases:",
    ]
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        lines += [f"  - id: case-{i:03d}", f'    vars: {{text: "review number {i:03d} is {label}"}}',
                  f"    expected: {label}"]
    return "\n".join(lines) + "\n"


def _responder(wrong: set[int]):
    import re

    from evalseed.testing.stub_server import Reply, last_message_text

    def respond(body):
        m = re.search(r"review number (\d+) is (\w+)", last_message_text(body))
        i, label = int(m.group(1)), m.group(2)
        if i in wrong:
            label = "positive" if label == "negative" else "negative"
        return Reply(content=label.capitalize() + ".")

    return respond


def _run_ids(db):
    con = store.open_db(db, read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started_at").fetchall()]
    finally:
        con.close()


def test_end_to_end_version_bump_regression(cli, stub, tmp_path):
    from conftest import write_suite

    suite = write_suite(tmp_path / "suites", "polarity.yaml", _e2e_suite(60))
    db = tmp_path / "e.duckdb"
    good = stub(responder=_responder(set()))
    code, _, err = cli("run", suite, "--base-url", good.base_url, "--models", "seed-1-6-250915", "--db", db,
                       "--no-progress", "--label", "baseline")
    assert code == 0, err
    (base_id,) = _run_ids(db)

    # The new version answers 20 of the 60 cases wrongly. Its name is in no table: it inherits
    # seed-1-6-250915's window and prices, with a one-line notice.
    worse = stub(responder=_responder(set(range(20))))
    code, out, err = cli("run", suite, "--base-url", worse.base_url, "--models", "seed-1-6-260301", "--db", db,
                         "--no-progress", "--baseline", base_id, "--gate")
    assert code == 1, out + err
    assert "seed-1-6-260301 is not in the model table: using seed-1-6-250915's" in err
    assert "REGRESSION" in out
    cand_id = _run_ids(db)[-1]

    junit, md = tmp_path / "out" / "junit.xml", tmp_path / "out" / "summary.md"
    junit.parent.mkdir()
    code, out, err = cli("compare", base_id, cand_id, "--db", db, "--junit", junit, "--markdown", md)
    assert code == 1, out + err
    root = ET.parse(junit).getroot()
    (tc,) = list(root.iter("testcase"))
    assert tc.get("name") == "polarity"
    failure = tc.find("failure")
    assert failure is not None and "accuracy -33.3 pts" in failure.get("message")
    assert all(f"case-{i:03d}" in failure.text for i in range(20)) and "case-020" not in failure.text
    text = md.read_text()
    assert "❌ regression" in text and "seed-1-6-250915 -> seed-1-6-260301" in text
    assert "20 pass→fail" in text and "| case-000 | 1.00 | 0.00 | negative | Negative. | Positive. |" in text

    # The same bad model compared with itself, and a clean re-run of the baseline, pass the gate.
    assert cli("compare", cand_id, cand_id, "--db", db)[0] == 0
    code, out, err = cli("run", suite, "--base-url", good.base_url, "--models", "seed-1-6-260301", "--db", db,
                         "--no-progress", "--baseline", base_id, "--gate")
    assert code == 0, out + err
    assert "no regression" in out


# ---- version bumps need no configuration (config.Config.resolve_model) --------------------------


def _cfg(tmp_path, monkeypatch, yaml_text=None):
    from evalseed.config import load_config

    monkeypatch.chdir(tmp_path)
    if yaml_text is None:
        return load_config()
    p = tmp_path / "evalseed.yaml"
    p.write_text(yaml_text)
    return load_config(p)


def test_new_version_inherits_family_window_features_and_prices(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, monkeypatch)
    old = cfg.resolve_model("seed-1-6-250915")
    new = cfg.resolve_model("seed-1-6-260301")
    assert new.name == "seed-1-6-260301" and new.inherited_from == "seed-1-6-250915"
    assert (new.context_window, new.prices, new.family, new.kind) == (old.context_window, old.prices, "seed-1-6", "text")
    assert (new.structured_output, new.tools, new.thinking) == (old.structured_output, old.tools, old.thinking)
    assert cfg.notices == [
        "seed-1-6-260301 is not in the model table: using seed-1-6-250915's context window, features and prices."
    ]
    cfg.resolve_model("seed-1-6-260301")
    assert len(cfg.notices) == 1  # one line, not one per use
    flash = cfg.resolve_model("seed-1-6-flash-260101")
    assert flash.inherited_from == "seed-1-6-flash-250715" and flash.structured_output is False


def test_new_version_inherits_the_newest_member_of_its_family(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, monkeypatch, "models:\n  seed-1-6-251201:\n    family: seed-1-6\n    prices: {input: 0.3, output: 2.5}\n")
    assert cfg.resolve_model("seed-1-6-260301").inherited_from == "seed-1-6-251201"
    assert cfg.resolve_model("seed-1-6-260301").prices.input == 0.3


def test_user_defined_family_gets_version_bumps_too(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, monkeypatch, "models:\n  acme-7-250101:\n    context_window: 8192\n    prices: {input: 1, output: 2}\n")
    new = cfg.resolve_model("acme-7-260101")
    assert new.inherited_from == "acme-7-250101" and new.context_window == 8192


def test_new_version_keeps_provider_specific_window(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, monkeypatch)
    ark = cfg.provider("ark")
    old = cfg.effective_model(cfg.resolve_model("seed-1-8-251228"), ark)
    new = cfg.effective_model(cfg.resolve_model("seed-1-8-260601"), ark)
    assert old.context_window == new.context_window == 262_144


def test_unknown_family_is_still_an_error(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, monkeypatch)
    with pytest.raises(UsageError, match="unknown model 'gpt-9-260101'"):
        cfg.resolve_model("gpt-9-260101")


# ---- docs/ci.md: the workflows parse, name real options, and their shell steps work ------------

_VENV_BIN = str(Path(sys.executable).parent)


def _doc_workflows() -> dict:
    import re

    import yaml

    from conftest import ROOT

    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    return {wf["name"]: wf for wf in blocks if isinstance(wf, dict) and "jobs" in wf}


def _evalseed_invocations(script: str) -> list[list[str]]:
    import shlex

    joined = script.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        for part in line.split("|"):
            words = shlex.split(part.strip(), comments=True) if part.strip() else []
            if words[:1] == ["evalseed"]:
                out.append(words[1:])
    return out


def test_ci_doc_workflows_name_only_real_options():
    import typer.main

    wfs = {k: v for k, v in _doc_workflows().items() if k != "evalseed nightly shards"}  # tests/test_ci_shards.py
    assert set(wfs) == {"evalseed baseline", "evalseed gate"}
    commands = typer.main.get_command(app).commands
    seen = set()
    for wf in wfs.values():
        assert wf["defaults"]["run"]["shell"] == "bash"  # pipefail, so `run | tee` fails the step
        for step in next(iter(wf["jobs"].values()))["steps"]:
            for words in _evalseed_invocations(step.get("run", "")):
                cmd = commands[words[0]]
                known = {o for p in cmd.params for o in p.opts + p.secondary_opts}
                for w in words[1:]:
                    if w.startswith("--"):
                        assert w.split("=")[0] in known, f"{words[0]} has no option {w}"
                seen.add(words[0])
    assert seen == {"run", "compare", "report"}


def _step(wf: dict, name: str) -> dict:
    return next(s for s in next(iter(wf["jobs"].values()))["steps"] if s.get("name") == name)


def _run_step(wf: dict, name: str, cwd: Path, **env_extra: str):
    import os
    import subprocess

    step = _step(wf, name)
    env = dict(os.environ, PATH=f"{_VENV_BIN}:{os.environ.get('PATH', '')}", GITHUB_SHA="0123abcd",
               GITHUB_REPOSITORY="example/suites")
    env.pop("COLUMNS", None)
    env.update({k: str(v) for k, v in (wf.get("env") or {}).items()})
    # `${{ secrets.* }}` and friends exist only on GitHub: leave those variables unset.
    env.update({k: str(v) for k, v in (step.get("env") or {}).items() if "${{" not in str(v)})
    env.update(env_extra)
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_ci_doc_workflows_rehearse(stub, tmp_path):
    import shutil

    from conftest import write_suite

    wfs = _doc_workflows()
    base_wf, gate_wf = wfs["evalseed baseline"], wfs["evalseed gate"]
    main_ws, pr_ws = tmp_path / "main", tmp_path / "pr"
    for ws in (main_ws, pr_ws):
        write_suite(ws / "suites", "polarity.yaml", _e2e_suite(60))

    good = stub(responder=_responder(set()))
    r = _run_step(base_wf, "Run the suites on the current version", main_ws,
                  EVALSEED_RUN_FLAGS=f"--base-url {good.base_url}")
    assert r.returncode == 0, r.stdout + r.stderr
    base_id = (main_ws / "baseline" / "run-id.txt").read_text().strip()
    assert base_id and any((main_ws / "baseline" / "cassettes").rglob("*"))

    # "Fetch the newest baseline" downloads the artifact: here, a copy of the folder.
    shutil.copytree(main_ws / "baseline", pr_ws / "baseline")
    worse = stub(responder=_responder(set(range(20))))
    flags = f"--base-url {worse.base_url}"
    r = _run_step(gate_wf, "Run the suites on the new version", pr_ws, EVALSEED_RUN_FLAGS=flags)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "seed-1-6-260301 is not in the model table" in r.stderr
    sent = worse.count()
    assert sent >= 60

    r = _run_step(gate_wf, "Compare and gate", pr_ws)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REGRESSION" in r.stdout
    summary = pr_ws / "step-summary.md"
    r = _run_step(gate_wf, "Summary and HTML report", pr_ws, GITHUB_STEP_SUMMARY=str(summary))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "❌ regression" in summary.read_text()
    junit = ET.parse(pr_ws / "out" / "junit.xml").getroot()
    assert junit.get("failures") == "1"
    assert json.loads((pr_ws / "out" / "compare.json").read_text())["units"][0]["worse"] == 20
    assert list((pr_ws / "out" / "report").glob("*-vs-*.html"))

    # A re-run of the job finds the new version's cassettes (the cache) and sends nothing.
    (pr_ws / "evalseed.duckdb").unlink()
    r = _run_step(gate_wf, "Run the suites on the new version", pr_ws, EVALSEED_RUN_FLAGS=flags)
    assert r.returncode == 0, r.stdout + r.stderr
    assert worse.count() == sent
    assert _run_step(gate_wf, "Compare and gate", pr_ws).returncode == 1


def test_repeats_test_the_mean_not_the_case_counts(db):
    # 45 cases lose a little (1 -> 2/3), 20 cases gain a lot (0 -> 1): more cases worse, mean better
    # (+7.7 pts). The test is on the mean, so this is never a regression.
    _, con = db
    a, b = [], []
    for i in range(65):
        for r in range(3):
            a.append(_row(None, "s", f"c{i}", "m", i < 45, repeat=r))
            b.append(_row(None, "s", f"c{i}", "m", (r != 0) if i < 45 else True, repeat=r))
    add_run(con, "a", a)
    add_run(con, "b", b, minutes=1)
    u = _cmp(con, "a", "b").units[0]
    assert (u.worse, u.better) == (45, 20) and u.diff.estimate == pytest.approx(5 / 65)
    assert not u.failed and "sign-flip p" in u.reasons[0]


# ---- calibration: the real decision code on simulated noisy models ----------------------------


def _simulated(rng, n_suites, n_cases, drop, repeats=(1, 1)):
    """Pairs from a stochastic model: case i passes with its own probability p_i on each side
    independently (so the same model flips cases between runs); the candidate's p_i is lowered
    by `drop`. `repeats`: (base, candidate) repeat counts."""
    paired = []
    rb, rc = repeats
    for s in range(n_suites):
        p = rng.beta(2.0, 0.7, size=n_cases)
        b = rng.random((n_cases, rb)) < p[:, None]
        c = rng.random((n_cases, rc)) < np.clip(p - drop, 0, 1)[:, None]
        mk = lambda vs, i: [compare.Row(f"c{i}", "classification", r, "ok", None, bool(v), float(v),  # noqa: E731
                                        None, None, None) for r, v in enumerate(vs)]
        paired.append((f"s{s}", compare.Paired(
            f"s{s}", "classification", "m", "m", [f"c{i}" for i in range(n_cases)],
            [mk(v, i) for i, v in enumerate(b)], [mk(v, i) for i, v in enumerate(c)],
            {"both_skipped": 0, "only_in_base": 0, "only_in_cand": 0},
            {"base": {"ok": n_cases * rb}, "cand": {"ok": n_cases * rc}})))
    return paired


def _gate_fails(paired) -> bool:
    units, overall = compare.verdicts(paired, alpha=0.05, min_drop=0.02, max_cost_increase=None,
                                      max_latency_increase=None, n_resamples=50, seed=1)
    return any(u.failed for u in units + ([overall] if overall else []))


def test_false_alarm_rate_with_a_noisy_but_unchanged_model():
    rng = np.random.default_rng(2026)
    sims = 300
    alarms = sum(_gate_fails(_simulated(rng, 3, 150, drop=0.0)) for _ in range(sims))
    # Same model, run twice: about a quarter of the cases flip between runs here, yet the gate
    # must fail no more often than alpha. Measured: 5 of 300 (1.7%).
    assert alarms / sims <= 0.05, f"{alarms}/{sims} false alarms"


def test_power_against_a_real_ten_point_drop_under_the_same_noise():
    rng = np.random.default_rng(7)
    sims = 100
    caught = sum(_gate_fails(_simulated(rng, 1, 400, drop=0.10)) for _ in range(sims))
    # Per-case pass probabilities lowered by 0.10 (clipped at 0), answers sampled on both sides:
    # the observed drop itself varies around 9-10 points. Measured: 93 of 100 caught.
    assert caught / sims >= 0.85, f"caught {caught}/{sims}"


def test_markdown_stays_under_the_step_summary_limit(db, monkeypatch):
    from evalseed.compare import markdown as compare_output

    _, con = db
    a, b = [], []
    for s in range(30):
        a += binary_rows([1] * 40, suite=f"suite-{s:02d}", output="x" * 200)
        b += binary_rows([0] * 40, suite=f"suite-{s:02d}", output="y" * 200)
    add_run(con, "a", a)
    add_run(con, "b", b, minutes=1)
    c = _cmp(con, "a", "b", n_resamples=200)
    full = compare_output.render_markdown(c)
    assert full.count("<details>") == 30
    monkeypatch.setattr(compare_output, "MARKDOWN_BUDGET", len(full.encode()) // 2)
    cut = compare_output.render_markdown(c)
    assert 0 < cut.count("<details>") < 30 and cut.count("<details>") == cut.count("</details>")
    assert "1 MiB step-summary limit" in cut and len(cut.encode()) < len(full.encode())


def test_gate_checks_the_baseline_before_spending_and_pins_latest(cli, stub, tmp_path):
    from conftest import write_suite

    suite = write_suite(tmp_path / "suites", "polarity.yaml", _e2e_suite(30))
    db = tmp_path / "e.duckdb"
    srv = stub(responder=_responder(set()))
    args = ("run", suite, "--base-url", srv.base_url, "--models", "seed-1-6-250915", "--db", db, "--no-progress")
    code, _, err = cli(*args, "--baseline", "nope", "--gate")
    assert code == 2 and "no such database" in err and srv.count() == 0
    assert cli(*args)[0] == 0
    sent = srv.count()
    code, _, err = cli(*args, "--baseline", "nope", "--gate")
    assert code == 2 and "no run 'nope'" in err and srv.count() == sent
    # `latest` means the run before this one: a worse candidate must fail against it.
    worse = stub(responder=_responder(set(range(15))))
    code, out, err = cli("run", suite, "--base-url", worse.base_url, "--models", "seed-1-6-260301", "--db", db,
                         "--no-progress", "--baseline", "latest", "--gate")
    assert code == 1, out + err
    with pytest.raises(UsageError, match="is the run just made"):
        compare.gate_after_run(str(db), "latest", _run_ids(db)[-1])


# ---- completeness (issue 15, item 1): a candidate must cover the base --------------------------


def _set_floor(con, run_id, suite, floor):
    con.execute("UPDATE runs SET config = ? WHERE run_id = ?",
                [json.dumps({"suites": [{"name": suite, "gate": {"min_accuracy": floor}}]}), run_id])


def test_cli_aborted_candidate_with_half_its_cases_is_refused(db, tmp_path):
    # Before: exit 0 with a note "may be incomplete". An aborted run that answered well on the
    # half it reached says nothing about the other half.
    path, con = db
    add_run(con, "base", binary_rows([1] * 80, suite="polarity"))
    add_run(con, "cand", binary_rows([1] * 40, suite="polarity"), minutes=1, status="aborted")
    con.close()
    runner = CliRunner()
    res = runner.invoke(app, ["compare", "base", "cand", "--db", str(path)])
    assert res.exit_code == 2, res.output
    assert "did not finish (status 'aborted')" in res.output and "--allow-partial" in res.output
    assert "Traceback" not in res.output
    # A finished run with the same hole is refused for the hole, naming the missing cases.
    con = store.open_db(path)
    con.execute("UPDATE runs SET status = 'finished' WHERE run_id = 'cand'")
    con.close()
    res = runner.invoke(app, ["compare", "base", "cand", "--db", str(path)])
    assert res.exit_code == 2, res.output
    assert "40 of the 80 cases of suite polarity (c0040, c0041" in res.output


def test_cli_allow_partial_compares_the_intersection_and_says_so_everywhere(db, tmp_path):
    path, con = db
    add_run(con, "base", binary_rows([1] * 80, suite="polarity") + binary_rows([1] * 20, suite="gone"))
    add_run(con, "cand", binary_rows([1] * 40, suite="polarity"), minutes=1, status="aborted")
    con.close()
    junit, md, js = tmp_path / "j.xml", tmp_path / "s.md", tmp_path / "c.json"
    res = CliRunner().invoke(app, ["compare", "base", "cand", "--db", str(path), "--allow-partial",
                                   "--junit", str(junit), "--markdown", str(md), "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert "PARTIAL comparison" in res.output and "suite gone (20 cases)" in res.output
    assert "Partial comparison" in md.read_text()
    d = json.loads(js.read_text())
    assert d["settings"]["allow_partial"] is True
    assert any("did not finish" in p for p in d["partial"]) and any("suite gone" in p for p in d["partial"])
    assert d["units"][0]["n_pairs"] == 40
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert "suite gone" in props["partial"]


def test_cli_swapped_suite_failing_everything_fails_on_its_floor(db, tmp_path):
    # Before: the candidate dropped a suite and added one that fails 100%: exit 0. The dropped
    # suite is now a coverage error; with --allow-partial the new suite is held to its floor.
    path, con = db
    add_run(con, "base", binary_rows([1] * 50, suite="old") + binary_rows([1] * 50, suite="kept"))
    add_run(con, "cand", binary_rows([1] * 50, suite="kept") + binary_rows([0] * 30, suite="fresh"), minutes=1)
    _set_floor(con, "cand", "fresh", 0.9)
    con.close()
    runner = CliRunner()
    res = runner.invoke(app, ["compare", "base", "cand", "--db", str(path)])
    assert res.exit_code == 2 and "suite old (50 cases) missing" in res.output, res.output
    junit = tmp_path / "j.xml"
    res = runner.invoke(app, ["compare", "base", "cand", "--db", str(path), "--allow-partial", "--junit", str(junit)])
    assert res.exit_code == 1, res.output
    assert "new suite fresh: candidate accuracy 0.0% is below its floor of 90%" in res.output
    cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    assert cases["fresh"].find("failure") is not None and cases["kept"].find("failure") is None


def test_floor_fails_a_suite_whatever_the_test_says(db):
    # 10 cases, 100% -> 70%: 3 flips, far from significant; the floor of 0.9 fails it anyway.
    _, con = db
    add_run(con, "a", binary_rows([1] * 10, suite="tiny"))
    add_run(con, "b", binary_rows([1] * 7 + [0] * 3, suite="tiny"), minutes=1)
    assert not _cmp(con, "a", "b").failed
    _set_floor(con, "b", "tiny", 0.9)
    u = _cmp(con, "a", "b").units[0]
    assert u.failed and u.min_accuracy == 0.9 and "below the suite's floor of 90%" in u.fail_reasons[0]


def test_suite_gate_key_is_validated_and_recorded(cli, stub, tmp_path):
    from conftest import write_suite

    text = _e2e_suite(4).replace("cases:\n", "gate: {min_accuracy: 0.75}\ncases:\n", 1)
    suite = write_suite(tmp_path / "suites", "polarity.yaml", text)
    bad = write_suite(tmp_path / "bad", "polarity.yaml", text.replace("0.75", "1.5"))
    code, _, err = cli("validate", bad)
    assert code == 2 and "gate.min_accuracy" in err, err
    db = tmp_path / "e.duckdb"
    srv = stub(responder=_responder(set()))
    assert cli("run", suite, "--base-url", srv.base_url, "--models", "seed-1-6-250915", "--db", db,
               "--no-progress")[0] == 0
    con = store.open_db(db, read_only=True)
    try:
        (run_id,) = _run_ids(db)
        assert store.run_config(con, run_id)["suites"][0]["gate"] == {"min_accuracy": 0.75}
    finally:
        con.close()


# ---- errors apart from quality (issue 15, item 2) -----------------------------------------------


def test_cli_errors_are_an_infrastructure_verdict_not_a_regression(db, tmp_path):
    # Before: 30 of 200 candidate rows were gateway errors on cases the base passed: exit 1.
    path, con = db
    add_run(con, "base", binary_rows([1] * 150 + [0] * 50))
    cand = binary_rows([1] * 150 + [0] * 50, model="seed-1-6-260301")
    for r in cand[:30]:
        r.update(status="error", passed=None, score=None, error="RateLimitError: 429 (gave up after 6 attempts)")
    add_run(con, "cand", cand, minutes=1)
    con.close()
    runner = CliRunner()
    junit, js = tmp_path / "j.xml", tmp_path / "c.json"
    res = runner.invoke(app, ["compare", "base", "cand", "--db", str(path), "--junit", str(junit), "--json", str(js)])
    assert res.exit_code == 3, res.output
    assert "infrastructure failed" in res.output and "REGRESSION" not in res.output
    assert "30 of 200 cases left out of the quality test, unanswered (30 errors on the candidate)" in res.output
    d = json.loads(js.read_text())
    assert d["verdict"] == "infrastructure failure" and not d["failed"] and d["infra_failed"]
    u = d["units"][0]
    assert u["n_answered"] == 170 and u["cand_accuracy"]["estimate"] == pytest.approx(120 / 200)
    (tc,) = ET.parse(junit).getroot().iter("testcase")
    assert tc.find("error").get("type") == "infrastructure" and tc.find("failure") is None
    # --max-error-rate tunes it: 15% unanswered allowed means no verdict at all.
    res = runner.invoke(app, ["compare", "base", "cand", "--db", str(path), "--max-error-rate", "0.2"])
    assert res.exit_code == 0, res.output


def test_cli_content_filtered_answers_are_asked_and_failed_not_infrastructure(db, tmp_path):
    """Status `filtered` (the provider's content filter refused or ended the answer): the case was
    asked and failed. It counts in accuracy and in the quality test, never in the unanswered rate,
    so 30 refusals on cases the base passed are a regression (exit 1), not exit 3."""
    path, con = db
    add_run(con, "base", binary_rows([1] * 150 + [0] * 50))
    cand = binary_rows([1] * 150 + [0] * 50, model="seed-1-6-260301")
    for r in cand[:15]:  # a refusal (an error code, nothing stored) and an answer ended by the filter
        r.update(status="filtered", passed=None, score=None, output_text=None,
                 error="BadRequestError: OutputTextSensitiveContentDetected")
    for r in cand[15:30]:
        r.update(status="filtered", passed=False, score=0.0)
    add_run(con, "cand", cand, minutes=1)
    con.close()
    js = tmp_path / "c.json"
    res = CliRunner().invoke(app, ["compare", "base", "cand", "--db", str(path), "--json", str(js)])
    assert res.exit_code == 1, res.output
    assert "REGRESSION" in res.output and "infrastructure failed" not in res.output
    u = json.loads(js.read_text())["units"][0]
    assert u["n_answered"] == 200 and not any(u["left_out"].values())
    assert u["cand_accuracy"]["estimate"] == pytest.approx(120 / 200)
    assert u["diff"]["estimate"] == pytest.approx(-30 / 200) and u["worse"] == 30
    assert u["unanswered"]["cand_rate"] == 0 and not u["infra_failed"]
    assert u["status_counts"]["cand"]["filtered"] == 30
    assert {f["cand_status"] for f in u["flips"]["regressed"]} == {"filtered"}


def test_filtered_rows_on_both_sides_leave_a_self_comparison_unchanged(db):
    _, con = db
    rows = binary_rows([1] * 40 + [0] * 40)
    for r in rows[:10]:
        r.update(status="filtered", passed=False, score=0.0)
    add_run(con, "r", rows)
    c = _cmp(con, "r", "r")
    (u,) = c.units
    assert not c.failed and not c.infra_failed and u.n_answered == 80 and u.diff.estimate == 0
    assert u.base_accuracy.estimate == pytest.approx(30 / 80)


def test_a_real_regression_beside_errors_is_still_exit_one(db):
    _, con = db
    add_run(con, "base", binary_rows([1] * 200))
    cand = binary_rows([1] * 140 + [0] * 60)
    for r in cand[:30]:
        r.update(status="error", passed=None, score=None, error="APITimeoutError")
    add_run(con, "cand", cand, minutes=1)
    c = _cmp(con, "base", "cand")
    assert c.failed and c.infra_failed and c.verdict == "regression"


def _storm_responder(storm: set[int]):
    from evalseed.testing.stub_server import Reply, last_message_text

    good = _responder(set())

    def respond(body):
        i = int(re.search(r"review number (\d+)", last_message_text(body)).group(1))
        return Reply(fault="429") if i in storm else good(body)

    return respond


def test_run_gate_429_storm_exits_three_not_one(cli, stub, tmp_path):
    # Before: the 429s after every retry became error rows, counted as failures: exit 1.
    from conftest import write_suite

    suite = write_suite(tmp_path / "suites", "polarity.yaml", _e2e_suite(60))
    db = tmp_path / "e.duckdb"
    good = stub(responder=_responder(set()))
    assert cli("run", suite, "--base-url", good.base_url, "--models", "seed-1-6-250915", "--db", db,
               "--no-progress")[0] == 0
    (base_id,) = _run_ids(db)
    stormy = stub(responder=_storm_responder(set(range(0, 60, 3))))
    code, out, err = cli("run", suite, "--base-url", stormy.base_url, "--models", "seed-1-6-260301", "--db", db,
                         "--no-progress", "--max-attempts", "1", "--baseline", base_id, "--gate")
    assert code == 3, out + err
    assert "infrastructure failed" in out and "REGRESSION" not in out


def test_run_gate_takes_allow_partial_and_max_error_rate_like_compare(cli, stub, tmp_path):
    from conftest import write_suite

    one = write_suite(tmp_path / "suites", "polarity.yaml", _e2e_suite(40))
    two = write_suite(tmp_path / "suites", "polarity2.yaml", _e2e_suite(40).replace("name: polarity", "name: polarity2"))
    db = tmp_path / "e.duckdb"
    good = stub(responder=_responder(set()))
    assert cli("run", one, two, "--base-url", good.base_url, "--models", "seed-1-6-250915", "--db", db,
               "--no-progress")[0] == 0
    (base_id,) = _run_ids(db)
    # The candidate runs one of the baseline's two suites: refused, unless --allow-partial.
    gate = ("--base-url", good.base_url, "--models", "seed-1-6-260301", "--db", db, "--no-progress",
            "--baseline", base_id, "--gate")
    code, out, err = cli("run", one, *gate)
    assert code == 2 and "does not cover" in err and "suite polarity2 (40 cases)" in err, out + err
    code, out, err = cli("run", one, *gate, "--allow-partial")
    assert code == 0 and "PARTIAL comparison" in out and "the candidate lacks suite polarity2" in out, out + err
    # A 429 storm on a quarter of the cases: exit 3, unless --max-error-rate allows that many.
    stormy = stub(responder=_storm_responder(set(range(0, 40, 4))))
    storm = ("--base-url", stormy.base_url, "--models", "seed-1-6-260301", "--db", db, "--no-progress",
             "--max-attempts", "1", "--baseline", base_id, "--gate", "--allow-partial")
    assert cli("run", one, *storm)[0] == 3
    code, out, err = cli("run", one, *storm, "--max-error-rate", "0.3")
    assert code == 0 and "infrastructure failed" not in out, out + err


# ---- power made visible (issue 15, item 3) ------------------------------------------------------


def _six_suites(con, tiny_base, tiny_cand):
    rng = np.random.default_rng(3)
    a = binary_rows(tiny_base, suite="tiny")
    b = binary_rows(tiny_cand, suite="tiny")
    for s in range(5):
        v = (rng.random(100) < 0.8).astype(int)
        a += binary_rows(v, suite=f"big{s}")
        b += binary_rows(v, suite=f"big{s}")
    add_run(con, "base", a)
    add_run(con, "cand", b, minutes=1)
    con.close()


def test_cli_a_ten_case_suite_that_cannot_really_fail_is_flagged_everywhere(db, tmp_path):
    # Before: 100% -> 40% on a 10-case suite beside 5 others passed silently.
    path, con = db
    _six_suites(con, [1] * 10, [1] * 4 + [0] * 6)
    junit, md, js = tmp_path / "j.xml", tmp_path / "s.md", tmp_path / "c.json"
    res = CliRunner().invoke(app, ["compare", "base", "cand", "--db", str(path), "--junit", str(junit),
                                   "--markdown", str(md), "--json", str(js)])
    assert res.exit_code == 0, res.output  # the test itself is right not to reject on 6 flips
    assert "tiny can hardly fail the gate: it needs at least 9 of its 10 cases" in res.output
    assert "detectable" in res.output
    assert "tiny can hardly fail the gate" in md.read_text() and "detectable drop" in md.read_text()
    cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    assert "warning: tiny can hardly fail" in cases["tiny"].find("system-out").text
    assert "detectable drop (80% power)" in cases["big0"].find("system-out").text
    d = json.loads(js.read_text())
    tiny = next(u for u in d["units"] if u["name"] == "tiny")
    assert tiny["power"]["tests"] == 7 and tiny["power"]["min_flips"] == 9 and tiny["power"]["can_fail"]
    assert tiny["power"]["mdd"] > 1.0
    big = next(u for u in d["units"] if u["name"] == "big0")
    assert big["power"]["warning"] is None and 0.02 <= big["power"]["mdd"] < 0.5


def test_a_suite_that_cannot_fail_at_all_says_so(db):
    # Half the cases already fail: at most 5 can go pass -> fail, and 9 would be needed.
    _, con = db
    _six_suites(con, [1] * 5 + [0] * 5, [0] * 10)
    con2 = store.open_db(db[0], read_only=True)
    try:
        tiny = next(u for u in _cmp(con2, "base", "cand").units if u.name == "tiny")
    finally:
        con2.close()
    assert not tiny.failed and not tiny.power["can_fail"]
    assert "tiny cannot fail the gate" in tiny.power["warning"]


def test_minimum_detectable_drop_matches_simulated_power():
    # The quoted drop should be caught about 80% of the time: simulate a drop of that size
    # through the real decision code and check the rate is in a sensible band.
    rng = np.random.default_rng(11)
    ref = compare.verdicts(_simulated(rng, 1, 400, drop=0.0), alpha=0.05, min_drop=0.02, max_cost_increase=None,
                           max_latency_increase=None, n_resamples=50, seed=1)[0][0]
    mdd = ref.power["mdd"]
    assert 0.05 < mdd < 0.12, mdd
    caught = sum(_gate_fails(_simulated(rng, 1, 400, drop=mdd)) for _ in range(100))
    assert 60 <= caught <= 97, (mdd, caught)


# ---- repeats done right (issue 15, item 4) ------------------------------------------------------


def test_cli_unequal_repeats_no_longer_read_noise_as_a_regression(db):
    # Every case passes 90% of the time on both sides; the base ran once, the candidate 3 times.
    # Realised counts as a typical draw: 115 cases look "worse" and 40 "better" (a 90% case
    # drops below 3/3 far more often than a failed single run rises), the mean is 2.25 pts
    # lower. Before: the sign test called that a regression (exit 1). The mean difference is
    # within noise (sign-flip p ~ 0.2).
    path, con = db
    base, cand = [], []
    spec = [(1, 3, 245), (1, 2, 95), (1, 1, 20), (0, 3, 29), (0, 2, 10), (0, 1, 1)]
    i = 0
    for b, k, count in spec:
        for _ in range(count):
            base.append(_row(None, "s", f"c{i:04d}", "m", b))
            cand += [_row(None, "s", f"c{i:04d}", "m", r < k, repeat=r) for r in range(3)]
            i += 1
    assert i == 400
    add_run(con, "base", base)
    add_run(con, "cand", cand, minutes=1)
    con.close()
    res = CliRunner().invoke(app, ["compare", "base", "cand", "--db", str(path)])
    assert res.exit_code == 0, res.output
    con = store.open_db(path, read_only=True)
    u = _cmp(con, "base", "cand").units[0]
    con.close()
    assert (u.worse, u.better) == (115, 40) and u.diff.estimate == pytest.approx(-9 / 400)
    assert stats.sign_test([0] * 40, [1] * 40)[0] < 1e-6  # what the old test saw, in miniature
    assert 0.1 < u.p_value < 0.4


@pytest.mark.parametrize("repeats", [(1, 3), (3, 3)])
def test_false_alarm_rate_with_repeats_holds_alpha(repeats):
    # The issue's case: 5 suites x 400 cases, no true difference. The sign test gave 12.3%
    # false alarms with (1, 3); the mean test must stay at or below alpha.
    rng = np.random.default_rng(15)
    sims = 120
    alarms = sum(_gate_fails(_simulated(rng, 5, 400, drop=0.0, repeats=repeats)) for _ in range(sims))
    assert alarms / sims <= 0.05, f"{alarms}/{sims} false alarms with repeats {repeats}"


# ---- more metrics (issue 15, item 5) ------------------------------------------------------------


def _f1_rows(f1s, passes, model="seed-1-6-250915"):
    rows = binary_rows(passes, model=model)
    for r, f1 in zip(rows, f1s):
        r.update(kind="json_extraction", score=float(f1), details={"expected": {"a": 1}, "f1": float(f1)})
    return rows


def test_cli_a_field_f1_drop_fails_the_gate(db, tmp_path):
    # Before: only `passed` was gated. Here no case changes pass/fail (60 of 200 pass on both
    # sides) while the partial answers lose fields: mean field F1 0.90 -> 0.82.
    path, con = db
    rng = np.random.default_rng(5)
    passes = [1] * 60 + [0] * 140
    base_f1 = [1.0] * 60 + list(np.clip(rng.normal(0.86, 0.05, 140), 0, 0.99))
    cand_f1 = [1.0] * 60 + list(np.clip(np.array(base_f1[60:]) - rng.uniform(0.05, 0.17, 140), 0, 0.99))
    add_run(con, "base", _f1_rows(base_f1, passes))
    add_run(con, "cand", _f1_rows(cand_f1, passes), minutes=1)
    con.close()
    js, junit = tmp_path / "c.json", tmp_path / "j.xml"
    res = CliRunner().invoke(app, ["compare", "base", "cand", "--db", str(path), "--json", str(js),
                                   "--junit", str(junit)])
    assert res.exit_code == 1, res.output
    u = json.loads(js.read_text())["units"][0]
    assert u["worse"] == u["better"] == 0 and u["p_value"] == 1.0
    (t,) = u["metric_tests"]
    assert t["metric"] == "field F1" and t["failed"] and t["p_holm"] < 0.05
    assert t["diff"]["estimate"] == pytest.approx(np.mean(cand_f1) - np.mean(base_f1))
    (tc,) = ET.parse(junit).getroot().iter("testcase")
    assert "field F1 -" in tc.find("failure").get("message")


def test_score_tests_join_the_holm_family_and_skip_plain_pass_fail(db):
    _, con = db
    add_run(con, "a", _f1_rows([0.5] * 30, [0] * 30) + binary_rows([1] * 30, suite="t"))
    add_run(con, "b", _f1_rows([0.5] * 29 + [0.4], [0] * 30) + binary_rows([1] * 30, suite="t"), minutes=1)
    add_run(con, "c", _f1_rows([0.5] * 30, [0] * 30) + binary_rows([1] * 30, suite="t"), minutes=2)
    c = _cmp(con, "a", "b")
    by = {u.name: u for u in c.units}
    assert by["t"].metric_tests == []  # scores 0/1 are `passed` again: not tested twice
    (t,) = by["s"].metric_tests  # field F1 once: the metrics record's mean_field_f1 is the same figure
    assert t["metric"] == "field F1" and t["n"] == 30 and t["p_value"] > 0.5
    assert by["s"].power["tests"] == 4  # s, t, overall and s's field F1
    # A score that changed on no case can never reject: it is not tested, and costs no alpha.
    c = _cmp(con, "a", "c")
    assert all(u.metric_tests == [] for u in c.units) and c.units[0].power["tests"] == 3


def _label_rows(pairs, model="seed-1-6-250915", suite="topics"):
    rows = []
    for i, (exp, pred) in enumerate(pairs):
        r = _row(None, suite, f"c{i:04d}", model, exp == pred, output=pred)
        r["details"] = {"expected": exp, "predicted": pred}
        rows.append(r)
    return rows


def test_cli_a_macro_f1_drop_with_unchanged_accuracy_fails_the_gate(db, tmp_path):
    # Before: only per-case scores and `passed` were gated. 300 cases, 240 of label a, 30 b, 30 c.
    # The base misses 30 a's (answering b); the candidate gets those right and every c wrong
    # (answering a): accuracy 90% on both sides, 30 pass->fail vs 30 fail->pass, McNemar p=1;
    # macro-F1 0.867 -> 0.647.
    path, con = db
    expected = ["a"] * 240 + ["b"] * 30 + ["c"] * 30
    base = [(e, "b" if i < 30 else e) for i, e in enumerate(expected)]
    cand = [(e, "a" if e == "c" else e) for e in expected]
    add_run(con, "base", _label_rows(base))
    add_run(con, "cand", _label_rows(cand, model="seed-1-6-260301"), minutes=1)
    con.close()
    js, junit = tmp_path / "c.json", tmp_path / "j.xml"
    res = CliRunner().invoke(app, ["compare", "base", "cand", "--db", str(path), "--json", str(js),
                                   "--junit", str(junit)])
    assert res.exit_code == 1, res.output
    u = json.loads(js.read_text())["units"][0]
    assert u["base_accuracy"]["estimate"] == u["cand_accuracy"]["estimate"] == pytest.approx(0.9)
    assert u["worse"] == u["better"] == 30 and u["p_value"] == 1.0
    (t,) = [t for t in u["metric_tests"] if t["metric"] == "macro-F1"]
    assert t["level"] == "suite" and t["failed"] and t["n"] == 300
    # The same figure the metrics layer shows for each side (one definition).
    assert t["base"] == pytest.approx(u["base_metrics"]["macro_f1"]) and t["cand"] == pytest.approx(u["cand_metrics"]["macro_f1"])
    assert t["base"] == pytest.approx((2 * 210 / 450 + 60 / 90 + 1) / 3)
    assert t["diff"]["high"] < -0.1 and t["p_holm"] < 0.05
    assert "macro-F1 -22.0 pts" in res.output and "REGRESSION" in res.output
    (tc,) = ET.parse(junit).getroot().iter("testcase")
    assert "macro-F1" in tc.find("failure").get("message")
    # Unchanged answers: no macro-F1 test at all (nothing changed), and no failure.
    res = CliRunner().invoke(app, ["compare", "base", "base", "--db", str(path)])
    assert res.exit_code == 0, res.output


def _json_rows(valid, f1=1.0, model="seed-1-6-250915"):
    rows = binary_rows([0] * len(valid), model=model, suite="extract")
    for r, v in zip(rows, valid):
        r.update(kind="json_extraction", score=f1, details={"expected": {"a": 1}, "parsed": True, "schema_valid": bool(v),
                                                            "f1": f1})
    return rows


def test_a_schema_valid_drop_fails_the_gate_with_field_f1_unchanged(db):
    _, con = db
    add_run(con, "base", _json_rows([1] * 200, f1=0.8))
    add_run(con, "cand", _json_rows([1] * 150 + [0] * 50, f1=0.8, model="seed-1-6-260301"), minutes=1)
    c = _cmp(con, "base", "cand")
    (u,) = c.units
    assert c.failed and u.diff.estimate == 0
    (t,) = u.metric_tests  # field F1 did not move, so it is not tested
    assert t["metric"] == "schema-valid" and t["failed"] and t["diff"].estimate == pytest.approx(-0.25)
    assert u.power["tests"] == 2


# ---- plan-gate ---------------------------------------------------------------------------------


def test_cli_plan_gate_size_detects_the_drop_about_as_often_as_planned(db):
    """`plan-gate` from a single-run baseline of 300 cases (per-case pass probabilities as in
    benchmarks/bench_gate.py: two runs of the model disagree on ~19%), then the planned size fed
    through the real decision code (compare.verdicts) 200 times with a true 10-point drop."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_gate

    path, con = db
    rng = np.random.default_rng(11)
    p = rng.beta(bench_gate.BETA_A, bench_gate.BETA_B, 300)
    add_run(con, "base", binary_rows((rng.random(300) < p).astype(int)))
    con.close()
    res = CliRunner().invoke(app, ["plan-gate", "base", "--db", str(path), "--drop", "0.1", "--json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    (s,) = plan["suites"]
    assert plan["tests"] == 1 and s["flip_rate"] == pytest.approx(0.19) and "assumed" in s["flip_source"]
    n = s["cases_needed"]
    assert 180 < n < 280 and s["repeats_needed"] == 1 and s["detectable_drop"] < 0.1  # 300 cases are enough
    caught = sum(bench_gate.gate(bench_gate.simulate(rng, 1, n, 0.10, (1, 1))[0])[0] for _ in range(200))
    assert 0.70 <= caught / 200 <= 0.92, caught
    # At the size it has, the quoted detectable drop is what compare itself quotes for such runs.
    res = CliRunner().invoke(app, ["plan-gate", "base", "--db", str(path), "--drop", "0.1"])
    assert res.exit_code == 0 and "cases needed" in res.output and "assumed" in res.output, res.output


def test_plan_gate_measures_the_flip_rate_from_repeats_and_holds_suites_to_holm(db):
    _, con = db
    rng = np.random.default_rng(12)
    p = rng.beta(0.77, 0.257, 400)
    rows = [_row(None, s, f"c{i}", "m", rng.random() < p[i], repeat=r) for s in ("a", "b") for i in range(400)
            for r in range(3)]
    add_run(con, "base", rows)
    from evalseed.compare.plan import plan_gate

    plan = plan_gate(con, "base", drop=0.05)
    assert plan["tests"] == 3 and plan["level"] == pytest.approx(0.05 / 3)
    for s in plan["suites"]:
        assert s["repeats"] == 3 and "measured" in s["flip_source"] and 0.15 < s["flip_rate"] < 0.23
        assert s["cases_needed"] > 400 or s["repeats_needed"] is not None
    assert plan_gate(con, "base", drop=0.01)["suites"][0]["note"].startswith("a drop of 1 pts is not larger")
    with pytest.raises(UsageError):
        plan_gate(con, "base", drop=0)


# ---- the sequential gate (issue 15, item 6 of the issue) ----------------------------------------


def _runs_config(db, run_id):
    con = store.open_db(db, read_only=True)
    try:
        return store.run_config(con, run_id)
    finally:
        con.close()


def test_sequential_gate_stops_early_on_a_clear_regression_and_compare_reads_it(cli, stub, tmp_path):
    from conftest import write_suite

    suite = write_suite(tmp_path / "suites", "polarity.yaml", _e2e_suite(300))
    db = tmp_path / "e.duckdb"
    good = stub(responder=_responder(set()))
    assert cli("run", suite, "--base-url", good.base_url, "--models", "seed-1-6-250915", "--db", db,
               "--no-progress")[0] == 0
    (base_id,) = _run_ids(db)
    # The new version gets 30% of the cases wrong (every third case).
    worse = stub(responder=_responder(set(range(0, 300, 3))))
    code, out, err = cli("run", suite, "--base-url", worse.base_url, "--models", "seed-1-6-260301", "--db", db,
                         "--no-progress", "--concurrency", "2", "--baseline", base_id, "--gate", "--sequential")
    assert code == 1, out + err
    cand_id = _run_ids(db)[-1]
    seq = _runs_config(db, cand_id)["sequential"]
    assert seq["stopped_early"] and "suite polarity regressed" in seq["reason"]
    sent = worse.count()
    assert sent < 150, sent  # well under the 300 cases a fixed gate pays for
    assert "sequential gate after" in out and "a regression" in out and "stopped early" in out
    # compare reads the stored record: not refused as incomplete, same verdict.
    code, out, _ = cli("compare", base_id, cand_id, "--db", db)
    assert code == 1 and "PARTIAL comparison" in out and "sequential run that stopped early" in out


def test_sequential_gate_rules_out_a_drop_on_an_unchanged_model(cli, stub, tmp_path):
    from conftest import write_suite

    suite = write_suite(tmp_path / "suites", "polarity.yaml", _e2e_suite(600))
    db = tmp_path / "e.duckdb"
    good = stub(responder=_responder(set()))
    assert cli("run", suite, "--base-url", good.base_url, "--models", "seed-1-6-250915", "--db", db,
               "--no-progress")[0] == 0
    (base_id,) = _run_ids(db)
    same = stub(responder=_responder(set()))
    code, out, err = cli("run", suite, "--base-url", same.base_url, "--models", "seed-1-6-260301", "--db", db,
                         "--no-progress", "--concurrency", "2", "--baseline", base_id, "--gate", "--sequential")
    assert code == 0, out + err
    seq = _runs_config(db, _run_ids(db)[-1])["sequential"]
    assert seq["suites"]["polarity"]["state"] == "no regression" and seq["stopped_early"]
    assert same.count() < 600 and "ruled out" in out


def test_sequential_needs_gate(cli, tmp_path):
    code, _, err = cli("run", tmp_path, "--sequential")
    assert code == 2 and "--sequential needs --baseline RUN_ID --gate" in err


def test_a_stopped_sequential_run_judges_an_exhausted_suite_by_the_fixed_test(db):
    # Suite "small" ran out of cases unsettled (and lost 40 pts); suite "big" was settled as no
    # regression and stopped early. The complete suite keeps the fixed test; the other is not
    # judged by a p-value computed after stopping on the data.
    _, con = db
    add_run(con, "a", binary_rows([1] * 60, suite="small") + binary_rows([1] * 400, suite="big"))
    add_run(con, "b", binary_rows([1] * 36 + [0] * 24, suite="small") + binary_rows([1] * 100 + [0] * 50, suite="big"),
            minutes=1)
    rec = lambda state, sent, total, k: {"state": state, "cases_sent": sent, "cases": total, "pairs": sent,  # noqa: E731
                                         "mean_diff": 0.0, "e_regression": 1.0, "e_ruled_out": k}
    con.execute("UPDATE runs SET config = ? WHERE run_id = 'b'", [json.dumps({"sequential": {
        "stopped_early": True, "reason": "test", "suites": {"small": rec("running", 60, 60, 1.0),
                                                           "big": rec("no regression", 150, 400, 25.0)}}})])
    by = {u.name: u for u in _cmp(con, "a", "b").units}
    assert by["small"].failed and "significant at alpha" in by["small"].fail_reasons[0]
    assert not by["big"].failed and "ruled out" in by["big"].reasons[0]


def test_a_sequential_run_that_ran_to_the_end_is_judged_at_half_alpha(db):
    """The monitor may stop a --sequential run on a regression with alpha/2 of the false alarms,
    so the fixed tests of a run that went to the end get the other half (before: full alpha, the
    whole gate bounded by 1.5 alpha). 200 cases, 10 pass->fail and 2 fail->pass: McNemar p = 0.039,
    a 4-point drop: a regression at alpha 0.05, not at 0.025."""
    _, con = db
    add_run(con, "a", binary_rows([1] * 100 + [0] * 100))
    cand = [0] * 10 + [1] * 90 + [1] * 2 + [0] * 98
    config = {"sequential": {"stopped_early": False, "reason": None,
                             "suites": {"s": {"state": "running", "cases_sent": 200, "cases": 200}}}}
    for run_id, sequential in (("plain", False), ("seq", True)):
        add_run(con, run_id, binary_rows(cand, model="seed-1-6-260301"), minutes=1)
        if sequential:
            con.execute("UPDATE runs SET config = ? WHERE run_id = 'seq'", [json.dumps(config)])
    plain, seq = _cmp(con, "a", "plain"), _cmp(con, "a", "seq")
    assert plain.units[0].p_value == pytest.approx(stats.mcnemar_exact(10, 2)) == pytest.approx(0.0386, abs=1e-4)
    assert plain.failed and "alpha=0.05" in plain.units[0].fail_reasons[0]
    assert not seq.failed and "not significant at alpha=0.025" in seq.units[0].reasons[0]
    assert not seq.partial  # it ran every case: a complete comparison
    assert seq.units[0].power["level"] == pytest.approx(0.025)


def test_sequential_monitor_holds_its_level_and_stops_on_big_drops():
    from types import SimpleNamespace

    from evalseed.compare.sequential import SequentialGate

    def one(rng, n, drop):
        p = rng.beta(0.77, 0.257, size=n)
        b = rng.random(n) < p
        c = rng.random(n) < p * (1 - drop / p.mean())
        g = SequentialGate({"s": {f"c{i}": float(v) for i, v in enumerate(b)}}, {"s": n})
        suite = SimpleNamespace(name="s")
        sent = 0
        for job in g.feed([SimpleNamespace(suite=suite, case_id=f"c{i}", repeat=0) for i in range(n)]):
            sent += 1
            i = int(job.case_id[1:])
            g.add({"suite": "s", "case_id": job.case_id, "status": "ok", "passed": bool(c[i])})
        return g.suites["s"].state, sent

    rng = np.random.default_rng(21)
    alarms = sum(one(rng, 400, 0.0)[0] == "regression" for _ in range(200))
    assert alarms <= 5, alarms  # the stop alone spends at most alpha/2 = 2.5%
    results = [one(rng, 400, 0.25) for _ in range(30)]
    assert all(state == "regression" for state, _ in results)
    assert np.mean([sent for _, sent in results]) < 0.3 * 400


def test_paired_bootstrap_statistic_agrees_with_the_mean_bootstrap_on_a_mean():
    """`stats.paired_bootstrap_statistic` (macro-F1's test) on a statistic that is a mean gives the
    interval and p of the mean's paired bootstrap, through both of its resampling paths."""
    rng = np.random.default_rng(4)
    for k in (1, 40):  # 1: few distinct case profiles (multinomial path); 40: many (index path)
        b = rng.integers(0, 2, size=(600, k))
        c = np.clip(b + (rng.random((600, k)) < 0.1) - (rng.random((600, k)) < 0.2), 0, 1)
        mean = lambda counts: counts[0] / 600  # noqa: E731
        iv, p = stats.paired_bootstrap_statistic(b, c, mean, n_resamples=4000, seed=1)
        ref = stats.paired_bootstrap_diff(b[:, 0], c[:, 0], n_resamples=4000, seed=2)
        assert iv.estimate == pytest.approx(ref.estimate)
        assert iv.low == pytest.approx(ref.low, abs=0.006) and iv.high == pytest.approx(ref.high, abs=0.006)
        assert p == pytest.approx(stats.paired_bootstrap_test(b[:, 0], c[:, 0], n_resamples=4000, seed=3), abs=0.01)
    same = rng.integers(0, 3, size=(50, 3))
    assert stats.paired_bootstrap_statistic(same, same, lambda x: x[0] / max(x.sum(), 1))[1] == 1.0
