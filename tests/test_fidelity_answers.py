"""Issue 18, items 10 and 11: each answer's finish_reason is stored, a content filter's verdict is
its own status (`filtered`), and the time to the first token is kept apart from the time to the
first answer token (a thinking model's chain of thought comes first)."""

from __future__ import annotations

import json

import duckdb
import pytest

from helpers import SMALL_SUITE, result_rows, run_suite, without_key, write_suite
from evalseed.testing.stub_server import Reply


run = run_suite


def by_case(db) -> dict[str, dict]:
    return {r["case_id"]: r for r in result_rows(db)}


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "plain"])
def test_finish_reason_is_stored_and_a_filtered_answer_is_its_own_status(cli, stub, tmp_path, stream):
    srv = stub(answers={
        "love": "positive",
        "hate": Reply(content="nega", finish_reason="length"),
        "broke": Reply(content="", finish_reason="content_filter"),
    })
    suite = SMALL_SUITE if stream else SMALL_SUITE.replace("max_tokens: 4}", "max_tokens: 4, stream: false}")
    code, _, err, db = run(cli, tmp_path, srv, suite=suite)
    assert code == 0, err
    rows = by_case(db)
    assert (rows["good"]["status"], rows["good"]["finish_reason"], rows["good"]["passed"]) == ("ok", "stop", True)
    # Cut at max_tokens: still the model's answer, scored as such, and visible as cut.
    assert (rows["bad"]["status"], rows["bad"]["finish_reason"], rows["bad"]["passed"]) == ("ok", "length", False)
    meh = rows["meh"]
    assert (meh["status"], meh["finish_reason"], meh["passed"], meh["score"]) == ("filtered", "content_filter", False, 0.0)
    assert meh["error"].startswith("content_filter") and meh["response"] is not None
    # Every figure counts the filtered case as asked and failed (metrics/rules.py): 1 of 3 passed.
    code, out, err = cli("runs", rows["good"]["run_id"], "--json", "--db", db)
    assert code == 0, err
    (group,) = json.loads(out)["results"]
    assert group["accuracy"] == pytest.approx(1 / 3), group


def test_a_content_filter_refusal_is_filtered_not_an_error_and_not_retried(cli, stub, tmp_path):
    srv = stub(answers={"love": "positive", "hate": Reply(fault="sensitive"), "broke": Reply(fault="400")})
    code, _, err, db = run(cli, tmp_path, srv)
    assert code == 0, err
    rows = by_case(db)
    bad = rows["bad"]
    assert bad["status"] == "filtered" and bad["attempts"] == 1 and bad["finish_reason"] is None
    assert bad["error"].startswith("HTTP400 InputTextSensitiveContentDetected:")
    # Any other 400 stays an error.
    assert rows["meh"]["status"] == "error" and rows["meh"]["error"].startswith("HTTP400 InvalidParameter")
    # Settled: --resume sends nothing again for it.
    con = duckdb.connect(str(db), read_only=True)
    run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
    con.close()
    before = srv.count("/chat/completions")
    code, _, err = cli("run", "--resume", run_id, "--db", db, "--no-progress")
    assert srv.count("/chat/completions") == before + 1  # only the InvalidParameter error is asked again


def test_a_filter_inside_a_stream_is_filtered_at_once(cli, stub, tmp_path):
    error = {"error": {"code": "OutputTextSensitiveContentDetected", "message": "The output may be sensitive."}}
    srv = stub(answers={"hate": Reply(raw_chunks=[error])})
    code, _, err, db = run(cli, tmp_path, srv)
    assert code == 0, err
    bad = by_case(db)["bad"]
    assert bad["status"] == "filtered" and bad["attempts"] == 1
    assert bad["error"].startswith("StreamError OutputTextSensitiveContentDetected")


def test_time_to_first_token_and_to_first_answer_token(cli, stub, tmp_path):
    # The chain of thought streams first: 12 reasoning chunks 30 ms apart, then the answer.
    thinking = Reply(content="positive", reasoning_content="x" * 96, chunk_delay=0.03)
    srv = stub(answers={"love": thinking, "hate": Reply(content="negative", chunk_delay=0.03)}, chunk_chars=8)
    code, _, err, db = run(cli, tmp_path, srv, models="seed-1-8-251228")
    assert code == 0, err
    rows = by_case(db)
    good, bad = rows["good"], rows["bad"]
    assert good["ttft_answer_ms"] - good["ttft_ms"] >= 12 * 30 * 0.8, (good["ttft_ms"], good["ttft_answer_ms"])
    assert good["latency_ms"] >= good["ttft_answer_ms"]
    # No chain of thought: the first token is the answer's.
    assert bad["ttft_answer_ms"] == pytest.approx(bad["ttft_ms"], abs=1.0)


def test_not_streamed_there_is_no_first_token_to_time(cli, stub, tmp_path):
    srv = stub(answers={"love": "positive"})
    code, _, err, db = run(cli, tmp_path, srv, suite=SMALL_SUITE.replace("max_tokens: 4}", "max_tokens: 4, stream: false}"))
    assert code == 0, err
    for r in result_rows(db):
        assert r["ttft_ms"] is None and r["ttft_answer_ms"] is None and r["finish_reason"] == "stop"


def test_a_version_1_database_is_upgraded_with_the_new_columns_null(tmp_path):
    from evalseed import store

    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    store.MIGRATIONS[0].apply(con)
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    con.execute("INSERT INTO results (run_id, suite, case_id, model, \"repeat\", status) "
                "VALUES ('r', 's', 'c', 'm', 0, 'ok')")
    con.close()
    con = store.open_db(db, read_only=True)
    try:
        cols = [d[0] for d in con.execute("SELECT * FROM results").description]
        row = con.execute("SELECT finish_reason, ttft_answer_ms, status FROM results").fetchone()
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    finally:
        con.close()
    assert cols == store.RESULT_NAMES and row == (None, None, "ok") and version == store.SCHEMA_VERSION >= 2


def test_a_replay_puts_back_the_recorded_answer_ttft_and_never_invents_one(cli, stub, tmp_path):
    # New recordings keep ttft_answer_ms beside ttft_ms (cassettes.REPLAYED_FIELDS). Recordings made
    # before it was measured lack it: then the replay's own timing must not stand in for it, and
    # without a chain of thought it equals ttft_ms.
    srv = stub(answers={"love": Reply(content="positive", reasoning_content="x" * 40, chunk_delay=0.01),
                        "hate": Reply(content="negative", chunk_delay=0.01)})
    p = write_suite(tmp_path / "suites", "tiny.yaml", SMALL_SUITE)
    common = ("run", p, "--base-url", srv.base_url, "--models", "seed-1-8-251228", "--no-progress",
              "--cassette-dir", tmp_path / "cassettes")
    code, _, err = cli(*common, "--db", tmp_path / "rec.duckdb", "--cassettes", "record")
    assert code == 0, err
    code, _, err = cli(*common, "--db", tmp_path / "rep.duckdb", "--cassettes", "replay")
    assert code == 0, err
    recorded, replayed = by_case(tmp_path / "rec.duckdb"), by_case(tmp_path / "rep.duckdb")
    assert replayed["good"]["replayed"] is True
    assert replayed["good"]["ttft_answer_ms"] == recorded["good"]["ttft_answer_ms"] > recorded["good"]["ttft_ms"]
    assert replayed["good"]["finish_reason"] == "stop"

    files = list((tmp_path / "cassettes").rglob("*.json"))
    assert files
    for f in files:  # as a recording made before the figure existed
        data = json.loads(f.read_text())
        f.write_text(json.dumps(without_key(data, "ttft_answer_ms")))
    code, _, err = cli(*common, "--db", tmp_path / "old.duckdb", "--cassettes", "replay")
    assert code == 0, err
    old = by_case(tmp_path / "old.duckdb")
    assert old["good"]["replayed"] is True and old["good"]["ttft_answer_ms"] is None
    assert old["good"]["ttft_ms"] == recorded["good"]["ttft_ms"]
    assert old["bad"]["ttft_answer_ms"] == old["bad"]["ttft_ms"] == recorded["bad"]["ttft_ms"]


