"""A run killed with SIGKILL keeps every stored case; --resume completes it with one row per case."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb

from conftest import write_suite


def _suite(n: int) -> str:
    cases = "\n".join(
        f"  - {{id: c{i}, vars: {{text: 'review {i} {'love' if i % 2 else 'hate'}'}}, expected: {'positive' if i % 2 else 'negative'}}}"
        for i in range(n)
    )
    return f"""
name: many
kind: classification
labels: [positive, negative]
params: {{max_tokens: 4}}
messages:
  - {{role: user, content: "{{{{ text }}}}"}}
cases:
{cases}
"""


def test_sigkill_then_resume_gives_exactly_one_row_per_case(stub, tmp_path, cli):
    n = 150
    srv = stub(answers={"love": "positive", "hate": "negative"}, delay_ms=40)
    suite = write_suite(tmp_path, "many.yaml", _suite(n))
    db = tmp_path / "k.duckdb"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalseed", "run", str(suite), "--base-url", srv.base_url,
         "--models", "seed-1-6-flash-250715", "--db", str(db), "--concurrency", "2", "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    # Kill once some rows are durably stored but the run is far from done.
    deadline = time.monotonic() + 30
    stored = 0
    while time.monotonic() < deadline:
        time.sleep(0.3)
        if srv.count() >= 30:
            break
    time.sleep(0.7)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    con = duckdb.connect(str(db))  # the file opens after a kill
    stored = con.execute("SELECT count(*) FROM results").fetchone()[0]
    run_id, status = con.execute("SELECT run_id, status FROM runs").fetchone()
    con.close()
    assert status == "running" and 0 < stored < n
    code, _, err = cli("run", "--resume", run_id, "--db", db, "--no-progress")
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    per_case = con.execute("SELECT case_id, count(*) FROM results GROUP BY case_id").fetchall()
    assert len(per_case) == n and all(c == 1 for _, c in per_case)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "finished"
    assert con.execute("SELECT count(*) FROM results WHERE passed").fetchone()[0] == n
