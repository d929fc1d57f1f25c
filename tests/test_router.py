"""The router on synthetic outcome tables where the best policy is known, its saved form, its
guarantees against single models, and the route commands."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from evalseed.cli import app
from evalseed.errors import UsageError
from evalseed.importers.outcomes import import_outcomes
from evalseed.router import evaluate as E
from evalseed.router import report_data
from evalseed.router.data import Outcomes, load_outcomes, split_mask
from evalseed.router.fit import Fitted, make_policy, train_router
from evalseed.router.tables import Batch
from evalseed.router.router import Router
from evalseed.store import open_db
from strategies import router_outcome_tables

WORDS_X = ["translate", "french", "sentence", "into", "german", "spanish", "please", "the", "word"]
WORDS_Y = ["compute", "integral", "sum", "of", "numbers", "solve", "equation", "for", "x"]


def _texts(words, n, rng):
    return [" ".join(rng.choice(words, 8)) + f" #{i}" for i in range(n)]


def _known_best_csv(path, n=120, seed=0):
    """Model A is always right on kind X and wrong on Y; B the reverse. A costs less."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "prompt", "A", "B", "A_cost", "B_cost"])
        for t in _texts(WORDS_X, n, rng):
            w.writerow(["X", t, "True", "False", "0.001", "0.004"])
        for t in _texts(WORDS_Y, n, rng):
            w.writerow(["Y", t, "False", "True", "0.001", "0.004"])
    return str(path)


@pytest.fixture(scope="module")
def known_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("router")
    db = str(d / "e.duckdb")
    import_outcomes(db, _known_best_csv(d / "known.csv"), out=lambda *a: None)
    return db


def _data(db) -> Outcomes:
    con = open_db(db, read_only=True)
    try:
        return load_outcomes(con, [con.execute("SELECT run_id FROM runs").fetchone()[0]])
    finally:
        con.close()


@pytest.mark.parametrize("policy", ["table", "knn", "linear", "logistic", "auto"])
def test_router_finds_the_known_best_policy(known_db, policy):
    data = _data(known_db)
    spec = train_router(data, policy=policy)
    router = Router(spec)
    routes = {r["suite"]: r["model"] for r in spec["routes"]}
    assert routes == {"X": "A", "Y": "B"}
    assert router.pick("translate the word please", kind="X", suite="X").model == "A"
    assert router.pick("solve the equation", kind="Y", suite="Y").model == "B"
    if policy in ("knn", "linear", "logistic"):
        # text alone is enough for a policy that reads text (at lambda 0: the best predicted;
        # the default objective may take the cheaper model when text alone leaves it unsure)
        assert router.pick("translate french sentence into german", lam=0.0).model == "A"
        assert router.pick("compute the integral of numbers", lam=0.0).model == "B"
    ev = report_data_for(known_db, spec)
    assert ev["operating_point"]["quality"] == pytest.approx(1.0)
    assert ev["oracle"]["quality"] == pytest.approx(1.0)
    assert ev["aiq"]["router"] > ev["aiq"]["zero_router"]


def report_data_for(db, spec):
    from evalseed.router.summary import evaluate_router

    return evaluate_router(Router(spec), _data(db))


def test_auto_keeps_the_simplest_policy_that_suffices(known_db):
    spec = train_router(_data(known_db), policy="auto")
    # the table is already perfect here; nothing richer can strictly beat it on validation
    assert spec["selected_policy"] == "table"
    assert spec["validation_scores"]["table"] > spec["validation_scores"]["global"]


@pytest.mark.parametrize("policy", ["global", "table", "knn", "linear", "logistic"])
def test_saved_router_predicts_what_the_fitted_one_did(known_db, tmp_path, policy):
    data = _data(known_db)
    spec = train_router(data, policy=policy)
    # expected predictions from the in-memory fitted policy (as train_router fits it), before any JSON
    train = data.subset(np.flatnonzero(~split_mask(data, 0.5, 0)))
    fitted = Fitted(train, make_policy(policy))
    fitted_q, fitted_c, _ = fitted.predict(Batch.of(data, fitted.fz))
    path = tmp_path / "r.json"
    path.write_text(json.dumps(spec))
    router = Router.load(path)
    for i in range(0, len(data), 37):
        q, c, _ = router.predict(data.texts[i], kind=data.kinds[i], suite=data.suites[i], tags=data.tags[i])
        # the kNN rounds its references to float16 when fitting, as it saves them: the same figures
        assert q == pytest.approx(fitted_q[i], abs=1e-5)
        assert c == pytest.approx(fitted_c[i], abs=1e-9) and c == pytest.approx([0.001, 0.004], abs=1e-9)


def test_report_data_trains_when_no_router_is_given(known_db, tmp_path):
    con = open_db(known_db, read_only=True)
    run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
    d = report_data(con, [run_id], None)
    con.close()
    assert d["source"] == "trained for this report"
    assert {r["suite"]: r["model"] for r in d["routes"]} == {"X": "A", "Y": "B"}
    assert set(d) >= {"singles", "oracle", "zero_router", "router_curve", "operating_point", "aiq", "pair"}


def test_report_data_is_none_for_one_model(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("prompt,A\nhello,True\n")
    db = str(tmp_path / "e.duckdb")
    import_outcomes(db, str(p), out=lambda *a: None)
    con = open_db(db, read_only=True)
    assert report_data(con, [con.execute("SELECT run_id FROM runs").fetchone()[0]], None) is None
    con.close()


def test_split_is_grouped_and_reproducible(known_db):
    data = _data(known_db)
    a, b = split_mask(data, 0.5, 3), split_mask(data, 0.5, 3)
    assert (a == b).all() and 0.3 < a.mean() < 0.7
    assert not (a == split_mask(data, 0.5, 4)).all()


def test_bad_router_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such router file"):
        Router.load(tmp_path / "none.json")
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(UsageError, match="not a router JSON"):
        Router.load(p)
    p.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(UsageError, match="not an evalseed router"):
        Router.load(p)


# ---- the router never does worse than the trivial choices ------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=router_outcome_tables(), policy=st.sampled_from(["global", "table"]))
def test_curve_never_below_cheapest_at_infinity_nor_best_at_zero(data, policy):
    fitted = Fitted(data, make_policy(policy))
    q, c, _ = fitted.predict(Batch.of(data, fitted.fz))
    pts = E.curve(data.Q, data.C, q, c, np.array([0.0, np.inf]))
    singles = E.singles(data.Q, data.C)
    cheapest = min(range(len(singles)), key=lambda j: singles[j][0])
    best = max(s[1] for s in singles)
    assert pts[-1]["quality"] >= singles[cheapest][1] - 1e-12
    assert pts[-1]["cost"] <= singles[cheapest][0] + 1e-15
    assert pts[0]["quality"] >= best - 1e-12


# ---- commands ---------------------------------------------------------------------------------


def test_route_commands(known_db, tmp_path):
    runner = CliRunner()
    out = str(tmp_path / "router.json")
    res = runner.invoke(app, ["route", "train", "--db", known_db, "--out", out, "--objective", "budget",
                              "--budget", "3"])
    assert res.exit_code == 0, res.output
    spec = json.loads(open(out).read())
    assert spec["objective"]["kind"] == "budget" and spec["objective"]["lambda"] is not None
    # $3 per 1,000 calls pays for the best mix (A on X, B on Y: $2.5 per 1,000): B on Y
    res = runner.invoke(app, ["route", "pick", "--router", out, "--suite", "Y", "solve x"])
    assert res.exit_code == 0 and res.output.startswith("B\t"), res.output
    # $2 per 1,000 calls cannot pay for it: everything to A costs $1, the best mix $2.5, so two
    # thirds of the prompts (by a hash of their text) get the best mix and the rest all-A: $2 exactly
    out2 = str(tmp_path / "router2.json")
    res = runner.invoke(app, ["route", "train", "--db", known_db, "--out", out2, "--objective", "budget",
                              "--budget", "2"])
    assert res.exit_code == 0, res.output
    obj2 = json.loads(open(out2).read())["objective"]
    assert obj2["mix"] == pytest.approx(2 / 3, abs=0.02)
    from evalseed.router.evaluate import text_fraction

    prompts = [f"solve x number {i}" for i in range(40)]
    for p in prompts:
        res = runner.invoke(app, ["route", "pick", "--router", out2, "--suite", "Y", p])
        assert res.exit_code == 0 and res.output.startswith("B\t" if text_fraction(p) < obj2["mix"] else "A\t")
    res = runner.invoke(app, ["route", "pick", "--router", out, "--kind", "Y", "--suite", "Y", "--json", "solve x"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["model"] == "B"
    js = str(tmp_path / "eval.json")
    res = runner.invoke(app, ["route", "eval", "--db", known_db, "--router", out, "--json", js, "--budgets", "1,3",
                              "--splits", "2", "--bootstrap", "5", "--policies", "table"])
    assert res.exit_code == 0, res.output
    assert "APGR" in res.output and "Zero router" in res.output
    ev = json.loads(open(js).read())
    assert ev["router"]["pair"]["router"]["apgr"] is not None
    # A and B are equally good overall (0.5 each), so APGR is noise here; the AIQ shows the routing
    assert ev["experiment"]["summary"]["table"]["aiq"]["mean"] > 0.85  # oracle-like: 0.875


@pytest.mark.parametrize("args, message", [
    (["route", "eval", "--db", "{db}"], "needs --router"),
    (["route", "train", "--db", "{db}", "--policy", "forest"], "--policy must be"),
    (["route", "train", "--db", "{db}", "--objective", "budget"], "needs --budget"),
    (["route", "train", "--db", "{tmp}/missing.duckdb"], "no such database"),
    (["route", "eval", "--db", "{db}", "--splits", "1", "--weak", "nobody"], "not in the data"),
    (["route", "pick", "--router", "{tmp}/none.json", "hi"], "no such router file"),
])
def test_route_usage_errors_exit_2(known_db, tmp_path, args, message):
    args = [a.format(db=known_db, tmp=tmp_path) for a in args]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_runs_and_since_select_what_to_learn_from(tmp_path):
    from evalseed.router.data import select_runs

    db = str(tmp_path / "e.duckdb")
    a = import_outcomes(db, _known_best_csv(tmp_path / "a.csv", n=5, seed=1), out=lambda *x: None)
    b = import_outcomes(db, _known_best_csv(tmp_path / "b.csv", n=6, seed=2), out=lambda *x: None)
    con = open_db(db, read_only=True)
    try:
        assert select_runs(con, None, None) == [b]                  # default: the latest run
        assert select_runs(con, [a[:-2], "latest"], None) == [a, b]  # prefixes and `latest`
        assert set(select_runs(con, None, "2000-01-01")) == {a, b}
        with pytest.raises(UsageError, match="no runs started since"):
            select_runs(con, None, "2999-01-01")
        with pytest.raises(UsageError, match="not a date"):
            select_runs(con, None, "yesterday-ish")
        both = load_outcomes(con, [a, b])
    finally:
        con.close()
    # a case is (suite, hash of the prompt): the two files share no prompt -> 10 + 12 cases
    assert len(both) == 22


def test_latency_slo_and_stdin_pick(known_db, tmp_path, monkeypatch):
    import io

    spec = train_router(_data(known_db), policy="table",
                        objective={"kind": "latency", "lambda": 0.0, "mu": 0.0, "slo_ms": 100.0})
    router = Router(spec)
    # imported rows carry no latency: predicted 0 ms for both, so the SLO removes nobody
    assert router.pick("x", suite="Y").model == "B"
    router.latency.a[:] = [50.0, 500.0]  # pretend B is slow
    assert router.pick("x", suite="Y").model == "A"
    assert router.pick("x", suite="Y", slo_ms=1000.0).model == "B"
    out = str(tmp_path / "r.json")
    open(out, "w").write(json.dumps(spec))
    monkeypatch.setattr("sys.stdin", io.StringIO("solve the equation"))
    res = CliRunner().invoke(app, ["route", "pick", "--router", out, "--suite", "Y", "-"])
    assert res.exit_code == 0 and res.output.startswith("B\t"), res.output


# ---- issue 21: explicit splits, training on everything, separate test sets, defaults --------------


def _two_dbs(tmp_path):
    """Two databases of the known-best data with different prompts (seeds 1 and 2)."""
    a, b = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    ra = import_outcomes(a, _known_best_csv(tmp_path / "a.csv", n=60, seed=1), out=lambda *x: None)
    rb = import_outcomes(b, _known_best_csv(tmp_path / "b.csv", n=50, seed=2), out=lambda *x: None)
    return a, b, ra, rb


def test_train_on_everything_and_evaluate_another_database_whole(tmp_path):
    a, b, _ra, _rb = _two_dbs(tmp_path)
    runner = CliRunner()
    out = str(tmp_path / "r.json")
    res = runner.invoke(app, ["route", "train", "--db", a, "--out", out, "--test-fraction", "0", "--policy", "table"])
    assert res.exit_code == 0, res.output
    assert "trained a table router on 120 cases" in res.output and "none held out" in res.output
    # on its own database nothing is left to test on; on another database every case is used
    res = runner.invoke(app, ["route", "eval", "--db", a, "--router", out])
    assert res.exit_code == 0 and "no held-out case" in res.output, res.output
    js = str(tmp_path / "e.json")
    res = runner.invoke(app, ["route", "eval", "--db", b, "--router", out, "--json", js])
    assert res.exit_code == 0, res.output
    ev = json.loads(open(js).read())["router"]
    assert ev["test_cases"] == 100 and ev["evaluated_on"] == "every case of runs the router did not train on"
    assert ev["operating_point"]["quality"] == pytest.approx(1.0)


def test_explicit_train_and_test_runs_and_test_db(tmp_path):
    a, b, ra, rb = _two_dbs(tmp_path)
    rc = import_outcomes(a, _known_best_csv(tmp_path / "c.csv", n=20, seed=3), out=lambda *x: None)
    runner = CliRunner()
    out = str(tmp_path / "r.json")
    res = runner.invoke(app, ["route", "train", "--db", a, "--out", out, "--train-runs", ra, "--test-runs", rc,
                              "--policy", "table"])
    assert res.exit_code == 0, res.output
    assert "on 120 cases" in res.output and f"tested on 40 cases of {rc}" in res.output
    spec = json.loads(open(out).read())
    assert spec["split"]["kind"] == "explicit" and spec["split"]["test_runs"] == [rc]
    # `route eval --router` alone evaluates on the router's own test set
    js = str(tmp_path / "e.json")
    res = CliRunner().invoke(app, ["route", "eval", "--router", out, "--json", js])
    assert res.exit_code == 0, res.output
    assert json.loads(open(js).read())["router"]["test_cases"] == 40
    # a test database: trained on all of --db's selected runs, tested on all of it
    res = runner.invoke(app, ["route", "train", "--db", a, "--runs", ra, "--out", out, "--test-db", b,
                              "--policy", "table"])
    assert res.exit_code == 0 and f"tested on 100 cases of {rb}" in res.output, res.output
    # --splits with a test database: fit once on the training runs, score on every test case
    res = runner.invoke(app, ["route", "eval", "--db", a, "--runs", ra, "--splits", "1", "--bootstrap", "5",
                              "--policies", "table", "--test-db", b, "--json", js])
    assert res.exit_code == 0, res.output
    ex = json.loads(open(js).read())["experiment"]
    assert ex["per_split"][0]["test_cases"] == 100 and ex["per_split"][0]["train_cases"] == 120
    # the same run on both sides is refused
    res = runner.invoke(app, ["route", "train", "--db", a, "--train-runs", ra, "--test-runs", ra, "--out", out])
    assert res.exit_code == 2 and "both a training and a test run" in res.output


def test_one_model_per_run_suggests_the_command(tmp_path):
    db = str(tmp_path / "e.duckdb")
    pa = tmp_path / "a.csv"
    pa.write_text("prompt,A\nhello,True\nbye,False\n")
    pb = tmp_path / "b.csv"
    pb.write_text("prompt,B\nhello,True\nbye,True\n")
    ra = import_outcomes(db, str(pa), out=lambda *a: None)
    rb = import_outcomes(db, str(pb), out=lambda *a: None)
    res = CliRunner().invoke(app, ["route", "train", "--db", db, "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 2, res.output
    assert "one model only (B)" in res.output and f"--runs {rb},{ra}" in res.output and "--since" in res.output


def test_default_objective_takes_the_cheapest_model_within_the_best_ones_interval():
    # two tasks; on T the dear model D is only noise-better than the cheap model K, on U clearly better
    n = 400
    suites = ["T"] * n + ["U"] * n
    i = np.arange(n)
    qk = np.r_[i % 100 < 80, i % 100 < 40].astype(float)
    qd = np.r_[(i + 7) % 100 < 82, (i + 7) % 100 < 90].astype(float)
    Q = np.c_[qd, qk]
    C = np.tile([0.01, 0.001], (2 * n, 1))
    data = Outcomes(["D", "K"], suites, [str(i) for i in range(2 * n)], suites, [f"p{i}" for i in range(2 * n)],
                    [[] for _ in range(2 * n)], Q, C, np.zeros_like(Q), ["r"])
    spec = train_router(data, policy="table", test_fraction=0.0)
    assert spec["objective"]["kind"] == "near-best"
    # the tolerance on T: how far the 95% bootstrap interval of D's 0.82 (400 cases) reaches down
    assert 0.03 < spec["objective"]["tolerance"]["suite"]["T"] < 0.045
    assert {r["suite"]: r["model"] for r in spec["routes"]} == {"T": "K", "U": "D"}
    lam0 = Router(spec)
    assert lam0.pick("x", suite="T").model == "K" and lam0.pick("x", suite="T", lam=0.0).model == "D"


def test_apgr_is_flagged_when_the_gap_is_noise(known_db):
    # A and B are equally good overall: APGR divides by a gap inside the noise
    from evalseed.router.summary import evaluate_router

    ev = evaluate_router(Router(train_router(_data(known_db), policy="table")), _data(known_db))
    assert ev["pair"]["meaningful"] is False and ev["pair"]["gap_low"] < 0 < ev["pair"]["gap_high"]
    res = CliRunner().invoke(app, ["route", "eval", "--db", known_db, "--splits", "1", "--bootstrap", "20",
                                   "--policies", "table"])
    assert res.exit_code == 0 and "APGR and CPT mean nothing here" in res.output, res.output
