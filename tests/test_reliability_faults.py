"""Nothing lost under faults: `evalseed run` (a real process, the real CLI) against the
fault-injecting server. Every case ends with exactly one row; every request the server saw is
counted in a row's `attempts`; transient faults are retried until the server recovers; permanent
ones are `error` rows with the server's reason; retries stop within their bounds."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml

from evalseed.testing.stub_server import PERMANENT_FAULTS, TRANSIENT_FAULTS, Reply, StubServer, request_key

from helpers import result_rows, run_evalseed


FLASH = "seed-1-6-flash-250715"
ANSWERS = {"love": "positive", "hate": "negative"}


def big_suite(folder: Path, n: int, *, stream: bool = True, name: str = "big") -> Path:
    cases = [{"id": f"c{i:04d}", "vars": {"text": f"review {i}: I {'love' if i % 2 else 'hate'} it"},
              "expected": "positive" if i % 2 else "negative"} for i in range(n)]
    params = {"temperature": 0, "max_tokens": 4}
    if not stream:
        params["stream"] = False
    doc = {"name": name, "kind": "classification", "labels": ["positive", "negative"], "params": params,
           "messages": [{"role": "system", "content": "Answer positive or negative."},
                        {"role": "user", "content": "{{ text }}"}],
           "cases": cases}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def evalseed(*args, timeout: float = 280, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI in its own process, so it does not share the GIL with the server under test."""
    full_env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1", **(env or {})}
    return run_evalseed(*args, timeout=timeout, env=full_env)




def summary_counts(stdout: str, suite: str) -> tuple[int, int, int, int]:
    """(cases, ok, errors, skipped) from the summary `run --json` prints."""
    rec = next(r for r in json.loads(stdout)["results"] if r["suite"] == suite)
    return rec["cases"], rec["ok"], rec["errors"], rec["skipped"]


def check_against_plan(srv: StubServer, rows: list[dict], n: int) -> Counter:
    """Each row against what the server planned and saw for its request; returns the tally."""
    assert len(rows) == n, f"{len(rows)} rows for {n} cases"
    assert len({r["case_id"] for r in rows}) == n, "a case has two rows"
    tally: Counter = Counter()
    for r in rows:
        body = json.loads(r["request"])
        key = request_key(body)
        fault, fails = srv.plan(key)
        seen = srv.history[key]
        # Every request the server received for this case is counted, retries included.
        assert r["attempts"] == len(seen), (r["case_id"], r["attempts"], seen)
        if fault is None:
            assert r["status"] == "ok" and r["passed"], r
            tally["clean"] += 1
        elif fault in PERMANENT_FAULTS:
            if fault == "bad-tool-args":
                # The model "answered" with a broken tool call: a scored failure, not a crash.
                assert r["status"] == "ok" and r["passed"] is False, r
                assert json.loads(r["details"])["unparsed"] is True
            else:
                assert r["status"] == "error", r
                assert r["error"].startswith("HTTP400 InvalidParameter: The parameter `messages`"), r["error"]
            tally[f"permanent:{fault}"] += 1
        else:
            assert seen[:fails] == [fault] * fails and seen[-1] == "ok", (r["case_id"], seen)
            assert r["status"] == "ok" and r["passed"], (r["case_id"], r["error"], seen)
            assert r["attempts"] >= fails + 1
            tally[f"transient:{fault}"] += 1
    return tally


@pytest.mark.parametrize("stream,n", [(True, 1000), (False, 300)], ids=["streamed-1000", "plain-300"])
def test_thirty_percent_faults_lose_nothing(tmp_path, stream, n):
    faults = TRANSIENT_FAULTS + ("400", "bad-tool-args")
    with StubServer(answers=ANSWERS, fault_rate=0.3, seed=2026, faults=faults, transient_failures=(1, 2)) as srv:
        suite = big_suite(tmp_path, n, stream=stream)
        db = tmp_path / "f.duckdb"
        t0 = time.monotonic()
        # --timeout 3: long enough for an answer on a busy 2-core machine, short enough that the
        # stalls cost little. --max-attempts 6 (the default) leaves room beyond the 2 planned failures.
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db,
                        "--no-progress", "--timeout", "3", "--concurrency", "32", "--max-attempts", "6", "--json")
        wall = time.monotonic() - t0
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        rows = result_rows(db)
        tally = check_against_plan(srv, rows, n)
        served = srv.count("/chat/completions")
        injected = sum(1 for h in srv.history.values() for f in h if f != "ok")
        faults_seen = Counter(f for h in srv.history.values() for f in h if f != "ok")

    # Every request the server answered (or refused, or cut) is in some row's attempts.
    assert sum(r["attempts"] for r in rows) == served
    faulted_cases = n - tally["clean"]
    assert 0.22 * n <= faulted_cases <= 0.38 * n
    assert set(faults_seen) == set(faults), faults_seen  # every kind of fault was exercised
    errors = sum(1 for r in rows if r["status"] == "error")
    assert errors == tally["permanent:400"] > 0
    cases, ok, err_count, skipped = summary_counts(proc.stdout, "big")
    assert (cases, ok, err_count, skipped) == (n, n - errors, errors, 0)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "finished"
    con.close()
    print(f"\n[reliability] stream={stream}: cases {n}, requests {served}, faults injected {injected} "
          f"({dict(faults_seen)}), faulted cases {faulted_cases}, permanent errors {errors}, "
          f"rows {len(rows)}, rows lost 0, wall {wall:.1f} s")


def test_retries_are_bounded_in_count(tmp_path):
    # The server never recovers: every case gives up after --max-attempts, with the reason.
    with StubServer(responder=lambda body: Reply(fault="503")) as srv:
        suite = big_suite(tmp_path, 6)
        db = tmp_path / "b.duckdb"
        t0 = time.monotonic()
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db,
                        "--no-progress", "--max-attempts", "3", "--concurrency", "6")
        wall = time.monotonic() - t0
        served = srv.count("/chat/completions")
    assert proc.returncode == 0, proc.stderr
    rows = result_rows(db)
    assert len(rows) == 6 and served == 18
    for r in rows:
        assert r["status"] == "error" and r["attempts"] == 3
        assert r["error"].startswith("HTTP503 ServerOverloaded: The service is temporarily overloaded.")
        assert "gave up after 3 attempts" in r["error"]
    # Two back-offs of at most 0.5 s and 1 s each, plus start-up: far from a hang.
    assert wall < 60


def test_stalls_are_bounded_by_the_timeout(tmp_path):
    with StubServer(responder=lambda body: Reply(fault="stall"), stall_s=120) as srv:
        suite = big_suite(tmp_path, 4)
        db = tmp_path / "s.duckdb"
        t0 = time.monotonic()
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db,
                        "--no-progress", "--timeout", "0.5", "--max-attempts", "2", "--concurrency", "4")
        wall = time.monotonic() - t0
        assert srv.count("/chat/completions") == 8
    assert proc.returncode == 0, proc.stderr
    rows = result_rows(db)
    assert len(rows) == 4
    for r in rows:
        assert r["status"] == "error" and r["attempts"] == 2
        assert r["error"].startswith("Timeout: no complete response within 0.5 s (gave up after 2 attempts")
    assert wall < 60  # the server would have stalled 120 s per request


def test_auth_failure_mid_run_stops_keeps_rows_and_resumes(tmp_path):
    # The key is revoked after 40 requests: the run stops at once (exit 3) with the reason, keeps
    # every row it has, and --resume finishes the run once the key works again.
    import threading

    state = {"revoked": False, "served": 0}
    lock = threading.Lock()

    def responder(body, ctx):
        with lock:
            state["served"] += 1
            if state["served"] > 40 and not state.get("resumed"):
                state["revoked"] = True
        if state["revoked"]:
            return Reply(fault="401")
        return Reply(content="positive" if "love" in json.dumps(body) else "negative")

    n = 200
    with StubServer(responder=responder, delay_ms=5) as srv:
        suite = big_suite(tmp_path, n)
        db = tmp_path / "a.duckdb"
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db,
                        "--no-progress", "--concurrency", "4")
        assert proc.returncode == 3, proc.stderr
        assert "401 AuthenticationError" in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) <= 3
        before = srv.count()
        rows = result_rows(db)
        assert 30 <= len(rows) < n and all(r["status"] == "ok" for r in rows)
        assert before <= 40 + 4 * 3  # the first 401 stops the run: only requests already on their way follow
        con = duckdb.connect(str(db), read_only=True)
        run_id, status = con.execute("SELECT run_id, status FROM runs").fetchone()
        con.close()
        assert status == "aborted"

        state.update(revoked=False, resumed=True)
        proc = evalseed("run", "--resume", run_id, "--db", db, "--no-progress")
        assert proc.returncode == 0, proc.stderr
        rows = result_rows(db)
    assert len(rows) == n and len({r["case_id"] for r in rows}) == n
    assert all(r["status"] == "ok" and r["passed"] for r in rows)


ODD_ANSWERS = {
    "lone-surrogate": "positive \ud83d",  # half an emoji, as a token stream can split it
    "nul": "posi\x00tive",
    "rtl-and-combining": "\u202epositive\u202c e\u0301\u0301\u0301",
    "huge": "positive " + "x" * 200_000,
    "emoji": "positive 👍🏽",
}


def test_odd_text_in_answers_is_stored_not_fatal(tmp_path):
    # One odd answer must cost at most its own case: before the fix, a lone surrogate failed the
    # whole batch write and the run ended with a traceback and no rows.
    by_case = dict(enumerate(ODD_ANSWERS.values()))

    def responder(body):
        i = int(body["messages"][-1]["content"].split(":")[0].split()[-1])
        text = by_case.get(i % len(by_case))
        # Usage a real server could report for this request (the stub would count 100,000 tokens
        # for the huge text, more than max_tokens allows, and the run would stop on it).
        return Reply(content=text, reasoning_content=text, usage={"completion_tokens": 4000, "reasoning_tokens": 3996})

    n = 20
    with StubServer(responder=responder) as srv:
        suite = big_suite(tmp_path, n)
        db = tmp_path / "u.duckdb"
        for stream in (True, False):
            path = suite if stream else big_suite(tmp_path / "plain", n, stream=False, name="plain")
            proc = evalseed("run", path, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress")
            assert proc.returncode == 0, proc.stderr[-2000:]
            assert "Traceback" not in proc.stderr
    rows = result_rows(db)
    assert len(rows) == 2 * n and all(r["status"] == "ok" for r in rows)
    texts = {r["output_text"][:40] for r in rows}
    assert any("\ufffd" in t for t in texts)  # the surrogate, stored as a replacement character
    assert any(len(r["output_text"]) > 200_000 for r in rows)


def test_a_huge_retry_after_is_bounded_by_the_retry_time_budget():
    # A server may ask for an hour; one request's retries stop at the engine's time budget.
    import asyncio

    import openai

    from evalseed.config import Provider, load_config
    from evalseed.engine import Budget, CallFailed, EngineOptions, JobApi, ModelLane, Redactor

    with StubServer(responder=lambda body: Reply(fault="429-retry-after", retry_after="3600")) as srv:
        model = load_config(None).resolve_model(FLASH)

        async def go():
            client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
            opts = EngineOptions(max_attempts=20, timeout=5, retry_time_budget=1.5, backoff_base=0.1)
            lane = ModelLane(model, Provider("custom", srv.base_url, None), client, opts, Budget(None), Redactor())
            try:
                await JobApi(lane, "s", "c").chat({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
            finally:
                await client.close()

        t0 = time.monotonic()
        with pytest.raises(CallFailed) as err:
            asyncio.run(go())
        wall = time.monotonic() - t0
    assert wall < 10, wall
    assert err.value.error_class.startswith("HTTP429") and err.value.attempts == 2
    assert "gave up after 2 attempts" in err.value.message


def test_a_server_that_is_down_ends_the_run_in_bounded_time(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    n = 40
    suite = big_suite(tmp_path, n)
    db = tmp_path / "down.duckdb"
    t0 = time.monotonic()
    proc = evalseed("run", suite, "--base-url", f"http://127.0.0.1:{port}/v1", "--models", FLASH, "--db", db,
                    "--no-progress", "--max-attempts", "3", "--concurrency", "4", timeout=120)
    wall = time.monotonic() - t0
    # Eight requests in a row that never reached the server stop the run (resumable), rather
    # than writing an error row for each of the 40 cases.
    assert proc.returncode == 3, proc.stderr
    assert "did not answer 8 requests in a row" in proc.stderr and "Traceback" not in proc.stderr
    rows = result_rows(db)
    assert 0 < len(rows) < n
    assert all(r["status"] == "error" and r["error"].startswith("ConnectionError") and r["attempts"] == 3 for r in rows)
    assert wall < 60
