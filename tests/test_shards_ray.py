"""`run --shards N --ray` on a real local Ray instance (issue 19): the same rows as the shards run
by hand, and a shard task whose worker dies is retried without duplicate rows."""

from __future__ import annotations

import dataclasses
import os

import duckdb
import pytest
from helpers import run_id_of, write_suite
from test_shards import MODELS, _responder, _rows, _suite

pytest.importorskip("ray")

pytestmark = pytest.mark.ray


def test_ray_shards_match_the_shards_run_by_hand(cli, stub, tmp_path, monkeypatch):
    ws = tmp_path
    write_suite(ws / "suites", "polarity.yaml", _suite(60))
    slow = [0.0]

    def respond(body):
        return dataclasses.replace(_responder(body), delay=slow[0])

    srv = stub(responder=respond)
    common = ("run", str(ws / "suites"), "--models", MODELS, "--base-url", srv.base_url, "--no-progress")
    for i in range(1, 5):
        code, out, err = cli(*common, "--db", str(ws / f"s{i}.duckdb"), "--shard", f"{i}/4", "--group", "g-hand")
        assert code == 0, out + err
    code, out, err = cli("merge", *(str(ws / f"s{i}.duckdb") for i in range(1, 5)), "--into", str(ws / "hand.duckdb"))
    assert code == 0, out + err
    sent_by_hand = srv.count()

    # shard 2's worker process dies once after its run, before returning, and shard 3's during its
    # run (answers slowed down so that it is still running): Ray retries both tasks
    marker = ws / "markers"
    marker.mkdir()
    monkeypatch.setenv("EVALSEED_TESTING_RAY_DIE", f"2:after:{marker},3:mid:{marker}")
    slow[0] = 0.25
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(__import__("conftest").ROOT),
                                                                     os.environ.get("PYTHONPATH")])))
    code, out, err = cli(*common, "--db", str(ws / "ray.duckdb"), "--shards", "4", "--ray", "--group", "g-ray",
                         "--concurrency", "2")
    assert code == 0, out + err
    assert run_id_of(out) == "g-ray"
    assert (marker / "died-2").exists() and (marker / "died-3").exists()  # both faults happened
    # both retried tasks found their dead attempt's run and finished it
    assert "shard 2/4: its task was retried" in err and "shard 3/4: its task was retried" in err, err
    # shard 2's finished run was not asked again; shard 3's resume re-asked at most what was
    # answered but not yet stored when it died (a flush is every 0.5 s)
    print(f"requests: by hand {sent_by_hand}, on Ray {srv.count() - sent_by_hand}")
    assert sent_by_hand * 2 <= srv.count() < sent_by_hand * 2 + 30
    assert _rows(ws / "ray.duckdb", "g-ray") == _rows(ws / "hand.duckdb", "g-hand")
    con = duckdb.connect(str(ws / "ray.duckdb"), read_only=True)
    dup = con.execute('SELECT count(*) FROM (SELECT suite, case_id, model, "repeat" FROM results '
                      'GROUP BY ALL HAVING count(*) > 1)').fetchone()[0]
    status, count = con.execute("SELECT status, shard_count FROM runs WHERE run_id = 'g-ray'").fetchone()
    con.close()
    assert dup == 0 and (status, count) == ("finished", 4)
