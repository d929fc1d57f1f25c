"""evalseed.store's query and run-table functions on a small database: the answers the modules that
still write their own SQL get today, so they can switch to these unchanged."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from evalseed import store
from evalseed.errors import UsageError


def _row(run_id, suite, case_id, model, status="ok", repeat=0, cost=0.01, latency=100.0, output=None,
         details=None):
    return {"run_id": run_id, "suite": suite, "case_id": case_id, "kind": "classification", "model": model,
            "provider": "p", "repeat": repeat, "status": status, "passed": status == "ok", "score": None,
            "cost_usd": cost, "latency_ms": latency, "output_text": output, "details": details, "replayed": False}


@pytest.fixture()
def con(tmp_path):
    con = store.open_db(tmp_path / "q.duckdb")
    for run_id, label, models in (("20260101-000000-aaaaaa", "base", ["m1", "m2"]),
                                  ("20260102-000000-bbbbbb", "cand", ["m1"])):
        store.insert_run(con, run_id, label=label, git_sha=None, version="0", config={"suites": [], "label": label})
        store.insert_prices(con, run_id, {"as_of": "2026-01", "models": {m: {"input": 1.0, "output": 2.0} for m in models}})
        w = store.ResultWriter(con, run_id)
        for m in models:
            for i in range(3):
                for rep in range(2):
                    w.add(_row(run_id, "s", f"c{i}", m, status="error" if i == 2 else "ok", repeat=rep,
                               latency=100.0 * (i + 1), output=f"{m}-{i}-{rep}", details={"expected": f"e{i}"}))
        w.flush()
    store.set_run_times(con, "20260101-000000-aaaaaa", started_at=datetime(2026, 1, 1), finished_at=datetime(2026, 1, 1, 1))
    store.set_run_times(con, "20260102-000000-bbbbbb", started_at=datetime(2026, 1, 2))
    store.finish_run(con, "20260101-000000-aaaaaa", "finished")
    yield con
    con.close()


def test_run_lookups(con):
    a, b = "20260101-000000-aaaaaa", "20260102-000000-bbbbbb"
    assert store.resolve_run(con, "latest") == b
    with pytest.raises(UsageError):
        store.resolve_run(con, "202601")
    assert store.resolve_run(con, "20260101") == a
    head = store.run_header(con, a)
    assert (head.label, head.status) == ("base", "finished") and head.finished_at is not None
    assert store.run_header(con, "nope") is None
    rec = store.run_record(con, b)
    assert rec["label"] == "cand" and json.loads(rec["config"])["label"] == "cand" and rec["status"] == "running"
    assert store.run_record(con, "nope") is None
    assert dict(store.run_configs(con))[a]["label"] == "base"
    assert store.runs_since(con, "2026-01-02") == [b]
    with pytest.raises(UsageError):
        store.runs_since(con, "not a date")
    listing = store.list_runs(con, 10)
    assert [(r.run_id, r.rows) for r in listing] == [(b, 6), (a, 12)]
    assert listing[0].cost_usd == pytest.approx(0.06)


def test_result_lookups(con):
    a, b = "20260101-000000-aaaaaa", "20260102-000000-bbbbbb"
    assert store.run_models(con, a) == ["m1", "m2"]
    assert store.runs_models(con, [a, b]) == [(a, "m1"), (a, "m2"), (b, "m1")]
    assert store.runs_models(con, []) == []
    assert store.has_results(con, a) and not store.has_results(con, "nope")
    assert store.spent_usd(con, a) == pytest.approx(0.12) and store.spent_usd(con, "nope") == 0.0
    done, errors = store.stored_keys(con, b)
    assert len(done) == 4 and errors == {("s", "c2", "m1", 0), ("s", "c2", "m1", 1)}
    got = store.first_answers(con, a, "s", "m2", ["c0", "c1", "zz"])
    assert {k: (o, json.loads(d)["expected"]) for k, (o, d) in got.items()} == {"c0": ("m2-0-0", "e0"),
                                                                                "c1": ("m2-1-0", "e1")}
    measures = store.suite_model_measures(con, a)
    p50, p95, cost, replayed = measures[("s", "m1")]
    assert p50 == pytest.approx(150.0) and cost == pytest.approx(0.06) and replayed is False
    prices = store.run_prices(con, [a, b])
    assert [(p["run_id"], p["model"], p["output"]) for p in prices] == [(a, "m1", 2.0), (a, "m2", 2.0), (b, "m1", 2.0)]


def test_results_relation_is_a_metrics_scope(con):
    from evalseed import metrics

    a = "20260101-000000-aaaaaa"
    relation, params = store.results_relation(a, "s", "m1", ["c0", "c2"])
    got = metrics.suite_metrics(con, metrics.Scope(relation, ("model",), params))
    rec = next(iter(got.values())).to_dict(("model",))
    assert (rec["cases"], rec["ok"], rec["errors"], rec["accuracy"]) == (2, 2, 2, 0.5)
    relation, params = store.results_relation(a)
    assert len(con.execute(f"SELECT * FROM {relation}", list(params)).fetchall()) == 12


def test_delete_run_and_config_updates(con):
    b = "20260102-000000-bbbbbb"
    store.add_to_run_config(con, b, "sequential", {"stopped_early": False})
    assert store.run_config(con, b)["sequential"] == {"stopped_early": False}
    store.delete_run(con, b)
    assert store.run_header(con, b) is None and not store.has_results(con, b)


def test_migrations_are_named_and_numbered(tmp_path):
    assert store.SCHEMA_VERSION == len(store.MIGRATIONS) >= 1
    assert all(m.name for m in store.MIGRATIONS)
    con = store.open_db(tmp_path / "m.duckdb")
    try:
        assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == store.SCHEMA_VERSION
    finally:
        con.close()
