"""`evalseed run` end to end against the stub server: what lands in DuckDB, retries, errors."""

from __future__ import annotations

import json

import duckdb
import pytest

from evalseed.testing.stub_server import Reply, answers_responder, transient

from conftest import ROOT
from helpers import FLASH, SMALL_SUITE, result_rows, run_suite, write_suite

ANSWERS = {"love": "Positive.", "hate": "negative", "broke": "neutral"}


run = run_suite


def test_bundled_suite_fills_every_contract_column(cli, stub, tmp_path):
    srv = stub(responder=answers_responder({"battery": "negative"}, default="positive", reasoning="Let me think."))
    db = tmp_path / "b.duckdb"
    code, out, err = cli("run", ROOT / "suites" / "review-sentiment.yaml", "--base-url", srv.base_url,
                         "--models", f"{FLASH},seed-1-8-251228", "--db", db, "--no-progress")
    assert code == 0, err
    got = result_rows(db)
    assert len(got) == 44 * 2
    for r in got:
        assert r["status"] == "ok"
        for col in ("latency_ms", "ttft_ms", "output_tps", "prompt_tokens", "completion_tokens",
                    "reasoning_tokens", "cached_tokens", "cost_usd", "input_text", "request", "response",
                    "output_text", "score", "passed", "details", "started_at", "finished_at", "attempts"):
            assert r[col] is not None, col
        assert r["replayed"] is False and r["attempts"] == 1
        assert r["latency_ms"] >= r["ttft_ms"] > 0
    by_case = {(r["case_id"], r["model"]): r for r in got}
    battery = by_case[("battery-died", FLASH)]
    assert battery["passed"] is True and battery["output_text"] == "negative"
    response = json.loads(battery["response"])
    # The chain of thought is stored, never scored as the answer.
    assert response["choices"][0]["message"]["reasoning_content"] == "Let me think."
    request = json.loads(battery["request"])
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert "api_key" not in battery["request"].lower()
    # Cost from the price table: flash input 0.075/M, cached 0.015/M, output 0.30/M.
    expect = ((battery["prompt_tokens"] - battery["cached_tokens"]) * 0.075 + battery["cached_tokens"] * 0.015
              + battery["completion_tokens"] * 0.30) / 1e6
    assert battery["cost_usd"] == pytest.approx(expect)
    con = duckdb.connect(str(db), read_only=True)
    status, config = con.execute("SELECT status, config FROM runs").fetchone()
    assert status == "finished"
    cfg = json.loads(config)
    assert cfg["suites"][0]["hash"] and cfg["prices"]["as_of"]
    assert con.execute("SELECT count(*) FROM run_prices").fetchone()[0] >= 4


def test_usage_without_details_is_null_not_zero(cli, stub, tmp_path):
    srv = stub(answers=ANSWERS, usage_details=False)
    code, _, err, db = run(cli, tmp_path, srv)
    assert code == 0, err
    for r in result_rows(db):
        assert r["cached_tokens"] is None and r["reasoning_tokens"] is None
        assert r["prompt_tokens"] > 0 and r["cost_usd"] is not None


def test_scores_and_unparsed(cli, stub, tmp_path):
    srv = stub(answers=ANSWERS)
    code, _, _, db = run(cli, tmp_path, srv)
    got = {r["case_id"]: r for r in result_rows(db)}
    assert got["good"]["passed"] and got["bad"]["passed"]
    meh = json.loads(got["meh"]["details"])
    assert got["meh"]["passed"] is False and meh["unparsed"] is True and meh["predicted"] is None


def test_thinking_goes_in_the_body_and_stream_can_be_off(cli, stub, tmp_path):
    srv = stub(answers=ANSWERS)
    suite = SMALL_SUITE.replace("params: {temperature: 0, max_tokens: 4}",
                                'params: {temperature: 0, max_tokens: 4, thinking: {type: disabled}, stream: false}')
    code, _, err, db = run(cli, tmp_path, srv, suite=suite)
    assert code == 0, err
    body = srv.bodies()[0]
    assert body["thinking"] == {"type": "disabled"} and "stream" not in body
    got = result_rows(db)
    assert len(got) == 3 and all(r["ttft_ms"] is None and r["latency_ms"] > 0 and r["status"] == "ok" for r in got)


def test_429_with_retry_after_and_500_are_retried(cli, stub, tmp_path):
    srv = stub(responder=transient("429-retry-after", 1, answers_responder(ANSWERS)))
    code, _, err, db = run(cli, tmp_path, srv)
    assert code == 0, err
    got = result_rows(db)
    assert len(got) == 3 and all(r["attempts"] == 2 and r["status"] == "ok" for r in got)
    srv2 = stub(responder=transient("500", 2, answers_responder(ANSWERS)))
    code, _, err, db = run(cli, tmp_path / "b", srv2)
    assert code == 0, err
    got = result_rows(db)
    assert len(got) == 3 and all(r["attempts"] == 3 and r["status"] == "ok" for r in got)


def test_400_is_not_retried_and_recorded_as_the_case_outcome(cli, stub, tmp_path):
    srv = stub(responder=lambda body: Reply(fault="400") if "hate" in json.dumps(body) else Reply(content="positive"))
    code, _, err, db = run(cli, tmp_path, srv)
    assert code == 0
    bad = {r["case_id"]: r for r in result_rows(db)}["bad"]
    assert bad["status"] == "error" and bad["attempts"] == 1
    assert bad["error"].startswith("HTTP400 InvalidParameter")
    assert srv.count() == 3


@pytest.mark.parametrize("fault,word", [("401", "AuthenticationError"), ("404", "ModelNotOpen"), ("quota", "QuotaExceeded")])
def test_fatal_errors_stop_the_run_with_exit_3(cli, stub, tmp_path, fault, word):
    srv = stub(responder=lambda body: Reply(fault=fault))
    code, _, err, db = run(cli, tmp_path, srv, "--concurrency", "1")
    assert code == 3
    assert word in err and FLASH in err and "provider custom" in err
    assert srv.count() == 1  # stopped at once
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "aborted"


def test_dry_run_sends_nothing(cli, stub, tmp_path):
    srv = stub(answers=ANSWERS)
    code, out, err, db = run(cli, tmp_path, srv, "--dry-run")
    assert code == 0, err
    assert "3 requests" in out and srv.count() == 0 and not db.exists()


def test_budget_stops_before_overspending(cli, stub, tmp_path):
    # Every answer reports a million completion tokens: $0.30 each on flash.
    srv = stub(responder=lambda body: Reply(content="positive", usage={"completion_tokens": 1_000_000}))
    suite = SMALL_SUITE.replace("max_tokens: 4", "max_tokens: 1000000")
    code, _, err, db = run(cli, tmp_path, srv, "--budget-usd", "0.7", "--concurrency", "4", suite=suite)
    assert code == 3 and "budget" in err
    spent = sum(r["cost_usd"] for r in result_rows(db))
    assert spent <= 0.7
    assert len(result_rows(db)) == 2


def test_missing_key_for_a_remote_provider_is_a_usage_error(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    p = write_suite(tmp_path, "tiny.yaml", SMALL_SUITE)
    code, _, err = cli("run", p, "--models", FLASH, "--db", tmp_path / "k.duckdb")
    assert code == 2 and "AISA_API_KEY" in err


def test_unknown_model_is_a_usage_error(cli, tmp_path):
    p = write_suite(tmp_path, "tiny.yaml", SMALL_SUITE)
    code, _, err = cli("run", p, "--models", "seed-9", "--db", tmp_path / "k.duckdb")
    assert code == 2 and "unknown model 'seed-9'" in err


def test_version_bump_inherits_the_family(cli, stub, tmp_path):
    srv = stub(answers=ANSWERS)
    code, _, err, db = run(cli, tmp_path, srv, models="seed-1-6-flash-260301")
    assert code == 0
    assert "seed-1-6-flash-260301 is not in the model table: using seed-1-6-flash-250715's" in err
    got = result_rows(db)
    assert len(got) == 3 and all(r["cost_usd"] is not None for r in got)


def test_resume_runs_only_missing_and_errored_cases(cli, stub, tmp_path):
    srv = stub(responder=lambda body: Reply(fault="400") if "hate" in json.dumps(body) else Reply(content="positive"))
    code, _, _, db = run(cli, tmp_path, srv)
    con = duckdb.connect(str(db))
    run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
    con.execute("DELETE FROM results WHERE case_id = 'good'")  # as if killed before it was stored
    con.close()
    code, _, err = cli("run", "--resume", run_id[:12], "--db", db, "--no-progress")
    assert code == 0, err
    got = result_rows(db)
    assert sorted(r["case_id"] for r in got) == ["bad", "good", "meh"]  # one row each
    status = {r["case_id"]: r["status"] for r in got}
    assert status == {"bad": "error", "good": "ok", "meh": "ok"}
    # The first run's three requests, then only the missing case and the errored one again.
    assert len(srv.bodies()) == 3 + 2


def test_base_url_with_credentials_is_refused(cli, tmp_path):
    p = write_suite(tmp_path, "tiny.yaml", SMALL_SUITE)
    code, _, err = cli("run", p, "--base-url", "http://user:sk-secret@127.0.0.1:9/v1", "--db", tmp_path / "c.duckdb")
    assert code == 2 and "must not carry credentials" in err and "sk-secret" not in err
    assert not (tmp_path / "c.duckdb").exists()


def test_rescore_goes_through_the_jobs_scorer_guard(cli, stub, tmp_path, monkeypatch):
    """A scorer that raises during rescore costs its rows (ScorerError, as in a run), not the
    command; once fixed, rescore scores those rows again from their stored answers."""
    from evalseed.kinds import get_kind

    srv = stub(answers=ANSWERS)
    code, _, err, db = run(cli, tmp_path, srv)
    assert code == 0, err
    before = {r["case_id"]: (r["status"], r["score"], r["passed"], r["details"]) for r in result_rows(db)}
    kind = type(get_kind("classification"))

    def broken(self, suite, case, prepared, outcome):
        raise ValueError("scorer bug")

    with monkeypatch.context() as m:
        m.setattr(kind, "score", broken)
        code, out, err = cli("rescore", "latest", "--db", db)
        assert code == 0, err
        assert "rescored 3 rows" in out
    rows = result_rows(db)
    assert {r["status"] for r in rows} == {"error"}
    assert all(r["error"] == "ScorerError: ValueError: scorer bug" and r["score"] is None and r["passed"] is None
               and json.loads(r["details"])["expected"] for r in rows)
    code, out, err = cli("rescore", "latest", "--db", db)
    assert code == 0, err
    after = {r["case_id"]: (r["status"], r["score"], r["passed"], r["details"]) for r in result_rows(db)}
    assert {k: (s, sc, p, json.loads(d)) for k, (s, sc, p, d) in after.items()} == \
        {k: (s, sc, p, json.loads(d)) for k, (s, sc, p, d) in before.items()}
