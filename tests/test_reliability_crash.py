"""Crash safety and the database file: SIGKILL at random moments then --resume leaves exactly
one row per case; two runs on one database never corrupt it; a truncated or garbage database is
one clear sentence and exit 2, and the file is left as it was."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from evalseed.errors import UsageError
from evalseed.testing.stub_server import StubServer

from test_reliability_faults import ANSWERS, FLASH, big_suite, evalseed, result_rows

ENV = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def _default_sigint() -> None:
    # A shell starting a job in the background hands it SIGINT ignored, and Python keeps an
    # ignored SIGINT ignored: the Ctrl-C test would then see a run that never stops.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evalseed", "run", *map(str, args)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def run_until(srv, requests: int, suite, db, concurrency, poll: float = 0.02) -> subprocess.Popen:
    """`evalseed run` of the suite on FLASH at `srv`, in its own process, returned still running once
    the server has had `requests` requests."""
    proc = start_run(suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress",
                     "--concurrency", concurrency)
    while srv.count() < requests:
        assert proc.poll() is None, proc.communicate()
        time.sleep(poll)
    return proc


def db_state(db: Path) -> tuple[str | None, int, int]:
    """(run id, rows, distinct case keys) as a fresh process sees the file after a crash."""
    if not db.exists():
        return None, 0, 0
    con = duckdb.connect(str(db))  # read-write: replays the WAL a killed writer left behind
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "runs" not in tables:
            return None, 0, 0
        runs = con.execute("SELECT run_id FROM runs").fetchall()
        assert len(runs) <= 1, runs
        n, distinct = con.execute(
            'SELECT count(*), count(DISTINCT (suite, case_id, model, "repeat")) FROM results').fetchone()
        return (runs[0][0] if runs else None), n, distinct
    finally:
        con.close()


def test_sigkill_at_random_moments_then_resume(tmp_path):
    seed = int(os.environ.get("EVALSEED_KILL_SEED", "20261126"))
    rng = random.Random(seed)
    n = 400
    # 40 ms an answer at concurrency 8: about 200 answers a second, so the work spans several
    # 0.5 s flushes and a kill can land before, between or during them.
    with StubServer(answers=ANSWERS, delay_ms=40) as srv:
        suite = big_suite(tmp_path, n)
        db = tmp_path / "k.duckdb"
        kills, history = 0, []
        # Two kills by the clock early on (start-up, schema creation, the run row), then four at a
        # random point of the work: after a random number of answers plus a random pause, so some
        # land mid-flush and some during a resume.
        moments = [("time", 0.05), ("time", 0.6)] + [("answers", rng.randint(5, 120)) for _ in range(4)]
        for how, when in moments:
            run_id, _, _ = db_state(db)
            args = (["--resume", run_id] if run_id else [suite, "--base-url", srv.base_url, "--models", FLASH])
            proc = start_run(*args, "--db", db, "--no-progress", "--concurrency", "8")
            if how == "time":
                time.sleep(when)
            else:
                start = srv.count()
                deadline = time.monotonic() + 60
                while srv.count() - start < when and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(rng.uniform(0, 0.8))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.communicate(timeout=60)
            run_id, rows, distinct = db_state(db)
            assert rows == distinct, f"a case was stored twice after a kill ({how} {when})"
            history.append((how, when, rows))
        run_id, rows_before, _ = db_state(db)
        assert run_id is not None and kills >= 4, history
        assert rows_before < n, "the kills came too late to test anything"
        assert any(0 < h[2] < n for h in history), f"no kill landed mid-run: {history}"
        proc = evalseed("--debug", "run", "--resume", run_id, "--db", db, "--no-progress")
        assert proc.returncode == 0, proc.stderr[-2000:]
    rows = result_rows(db)
    assert len(rows) == n and len({r["case_id"] for r in rows}) == n
    assert all(r["status"] == "ok" and r["passed"] for r in rows)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), min(status) FROM runs").fetchone() == (1, "finished")
    con.close()
    print(f"\n[crash] seed {seed}: {kills} SIGKILLs, (trigger, value, rows stored after) = {history}; "
          f"final rows {len(rows)} of {n}, rows lost 0, doubled 0")


def test_second_run_on_a_busy_database_says_so_and_corrupts_nothing(tmp_path):
    # The first run needs 300 x 0.1 s / 2 = 15 s at least: longer than the second one's 10 s wait.
    with StubServer(answers=ANSWERS, delay_ms=100) as srv:
        first = big_suite(tmp_path / "a", 300, name="first")
        second = big_suite(tmp_path / "b", 5, name="second")
        db = tmp_path / "shared.duckdb"
        a = run_until(srv, 5, first, db, 2, poll=0.05)  # A holds the database now
        b = start_run(second, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress")
        time.sleep(1)
        # It waits for the database rather than giving up at once...
        assert b.poll() is None, b.communicate()
        _, b_err = b.communicate(timeout=120)
        # ...then gives up while the first run still holds it.
        assert a.poll() is None, "the first run should still be going"
        assert b.returncode == 2, b_err
        msg = b_err.strip()
        assert "in use by another evalseed process" in msg and str(db) in msg
        assert len(msg.splitlines()) == 1 and "Traceback" not in msg
        sent_second = [x for x in srv.bodies() if "Answer positive" in str(x) and "review 0:" in str(x)]
        out, err = a.communicate(timeout=240)
        assert a.returncode == 0, err
    rows = result_rows(db)
    assert len(rows) == 300 and {r["suite"] for r in rows} == {"first"}
    assert len(sent_second) <= 1  # the second run sent nothing of its own


def test_second_run_waits_for_a_short_first_run(tmp_path):
    with StubServer(answers=ANSWERS, delay_ms=20) as srv:
        first = big_suite(tmp_path / "a", 30, name="first")  # ~0.3 s of answers: well within the 10 s wait
        second = big_suite(tmp_path / "b", 10, name="second")
        db = tmp_path / "shared.duckdb"
        a = run_until(srv, 2, first, db, 2)
        b = evalseed("run", second, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress")
        a.communicate(timeout=120)
        assert a.returncode == 0
        assert b.returncode == 0, b.stderr
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM runs WHERE status = 'finished'").fetchone()[0] == 2
    assert con.execute("SELECT suite, count(*) FROM results GROUP BY suite ORDER BY suite").fetchall() == [
        ("first", 30), ("second", 10)]
    con.close()


# ---- damaged database files -------------------------------------------------------------------


def _good_db(path: Path, tmp_path: Path) -> None:
    with StubServer(answers=ANSWERS) as srv:
        suite = big_suite(tmp_path / "g", 50, name="good")
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", path, "--no-progress")
        assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("gooddb")
    path = tmp / "good.duckdb"
    _good_db(path, tmp)
    return path


def _damaged(kind: str, good: Path, dest: Path) -> Path:
    if kind == "garbage":
        dest.write_bytes(random.Random(1).randbytes(300_000))
    elif kind == "text":
        dest.write_text("run_id,score\nabc,1\n", encoding="utf-8")
    elif kind.startswith("truncated"):
        frac = float(kind.split("-")[1])
        data = good.read_bytes()
        dest.write_bytes(data[: int(len(data) * frac)])
    elif kind == "header-smashed":
        data = bytearray(good.read_bytes())
        data[0:4096] = random.Random(2).randbytes(4096)
        dest.write_bytes(bytes(data))
    return dest


DAMAGE = ["garbage", "text", "truncated-0.01", "truncated-0.2", "truncated-0.5", "header-smashed"]


@pytest.mark.parametrize("damage", DAMAGE)
def test_open_db_refuses_a_damaged_file(damage, good_db, tmp_path):
    from evalseed import store

    bad = _damaged(damage, good_db, tmp_path / "bad.duckdb")
    before = hashlib.sha256(bad.read_bytes()).hexdigest()
    for read_only in (False, True):
        with pytest.raises(UsageError) as err:
            store.open_db(bad, read_only=read_only, wait_s=1)
        msg = str(err.value)
        assert str(bad) in msg and "\n" not in msg
    assert hashlib.sha256(bad.read_bytes()).hexdigest() == before, "a failed open changed the file"


@pytest.mark.parametrize("damage", ["garbage", "truncated-0.2"])
@pytest.mark.parametrize("command", ["run", "runs", "report", "compare", "rescore"])
def test_every_command_exits_2_on_a_damaged_database(command, damage, good_db, tmp_path):
    bad = _damaged(damage, good_db, tmp_path / "bad.duckdb")
    before = hashlib.sha256(bad.read_bytes()).hexdigest()
    with StubServer(answers=ANSWERS) as srv:
        suite = big_suite(tmp_path / "s", 3, name="tiny")
        args = {
            "run": ["run", suite, "--base-url", srv.base_url, "--models", FLASH, "--no-progress"],
            "runs": ["runs"],
            "report": ["report", "-o", tmp_path / "reports"],
            "compare": ["compare", "latest", "latest"],
            "rescore": ["rescore", "latest"],
        }[command]
        proc = evalseed(*args, "--db", bad, timeout=120)
        assert srv.count() == 0
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-1500:])
    msg = proc.stderr.strip()
    assert len(msg.splitlines()) == 1 and "Traceback" not in msg, msg[-1500:]
    assert str(bad) in msg and "DuckDB" in msg
    assert hashlib.sha256(bad.read_bytes()).hexdigest() == before


def test_a_copy_of_a_killed_runs_file_still_opens(tmp_path):
    # What a backup taken mid-run looks like: the database file and its WAL as they are.
    with StubServer(answers=ANSWERS, delay_ms=20) as srv:
        suite = big_suite(tmp_path, 400)
        db = tmp_path / "live.duckdb"
        proc = run_until(srv, 60, suite, db, 4)
        time.sleep(1.2)  # past at least one 0.5 s flush
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    from evalseed import store

    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    if Path(str(db) + ".wal").exists():
        shutil.copy(str(db) + ".wal", str(copy) + ".wal")
    con = store.open_db(copy, read_only=True)
    n, distinct = con.execute('SELECT count(*), count(DISTINCT case_id) FROM results').fetchone()
    status = con.execute("SELECT status FROM runs").fetchall()
    con.close()
    assert n == distinct and n > 0
    assert status == [("running",)]  # killed: nothing got to mark it finished or interrupted


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_store_every_answer_then_resume(tmp_path, sig):
    # Unlike SIGKILL, a polite stop flushes what was answered: only requests in flight are lost.
    n, concurrency = 300, 4
    with StubServer(answers=ANSWERS, delay_ms=20) as srv:
        suite = big_suite(tmp_path, n)
        db = tmp_path / "t.duckdb"
        proc = run_until(srv, 60, suite, db, concurrency, poll=0.01)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        served = srv.count()
        assert proc.returncode == 130, (proc.returncode, err[-1500:])
        assert "interrupted; finished cases are stored (resume with --resume" in err
        assert "Traceback" not in err
        run_id, rows, distinct = db_state(db)
        assert rows == distinct and served - concurrency <= rows <= served
        con = duckdb.connect(str(db), read_only=True)
        assert con.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
        con.close()
        proc = evalseed("run", "--resume", run_id, "--db", db, "--no-progress")
        assert proc.returncode == 0, proc.stderr
    rows = result_rows(db)
    assert len(rows) == n and len({r["case_id"] for r in rows}) == n
