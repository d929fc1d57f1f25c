"""A full disk mid-run: the first refused write stops new requests, the rows in memory get one
more try and are then saved beside the database, the run exits 3 with one sentence, and
--resume stores the saved rows before asking for anything, so no answer is paid for twice
(issue 16). The disk is made "full" for the evalseed process alone with RLIMIT_FSIZE: every
write past the limit fails with EFBIG, as it fails with ENOSPC on a full file system."""

from __future__ import annotations

import resource
import signal
import subprocess

import duckdb

from helpers import run_evalseed, write_suite
from evalseed.testing.stub_server import StubServer

CASES = 1200


def _limited(limit_bytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death by signal
    return apply


def _run(args: list, cwd, limit: int | None = None) -> subprocess.CompletedProcess:
    return run_evalseed(*args, cwd=cwd, preexec_fn=_limited(limit) if limit else None)


def test_a_full_disk_stops_requests_keeps_every_answer_and_resume_pays_nothing_twice(tmp_path):
    cases = "\n".join(f"  - {{id: c{i:04d}, vars: {{text: 'review {i}'}}, expected: positive}}" for i in range(CASES))
    write_suite(tmp_path, "s.yaml", "name: many\nkind: classification\nlabels: [positive, negative]\n"
                "messages:\n  - {role: user, content: '{{ text }}'}\n" f"cases:\n{cases}\n")
    # Long answers fill the file fast; the limit leaves room for the schema and a few batches.
    with StubServer(answers={"": "positive " + "x" * 2000}) as srv:
        common = ["--base-url", srv.base_url, "--models", "m1", "--db", "r.duckdb", "--no-progress"]
        first = _run(["run", "s.yaml", *common, "--concurrency", "8"], tmp_path, limit=1_300_000)
        served_first = srv.count("/v1/chat/completions")
        assert first.returncode == 3, first.stderr
        assert "Traceback" not in first.stderr
        message = first.stderr.strip().splitlines()[-1]
        assert "r.duckdb could not take" in message and "stopped sending requests" in message
        assert "--resume" in message and ".unsaved.jsonl" in message
        assert served_first < CASES  # it stopped; before, it kept sending to the end
        saved = list(tmp_path.glob("r.duckdb.*.unsaved.jsonl"))
        assert len(saved) == 1
        con = duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True)
        stored_first = con.execute("SELECT count(*) FROM results").fetchone()[0]
        run_id, status = con.execute("SELECT run_id, status FROM runs").fetchone()
        con.close()
        in_file = len(saved[0].read_text().splitlines())
        assert status == "aborted"
        assert stored_first + in_file == served_first  # every answer paid for is somewhere

        second = _run(["run", "--resume", run_id, "--db", "r.duckdb", "--no-progress"], tmp_path)
        assert second.returncode == 0, second.stderr
        assert f"stored {in_file} answered rows" in second.stderr
        assert not saved[0].exists()
        assert srv.count("/v1/chat/completions") == CASES  # nothing asked twice
    con = duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True)
    rows = con.execute("SELECT count(*), count(DISTINCT case_id), count(*) FILTER (status = 'ok') FROM results").fetchone()
    assert rows == (CASES, CASES, CASES)
