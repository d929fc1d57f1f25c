"""The committed recordings: a fresh clone replays every bundled suite on the embedded model with no
llama.cpp server and no network, and gets the scores of the run that recorded them.

When this fails after a suite was edited, record its cassette again (see docs/offline.md):
    evalseed run suites/NAME.yaml --models local --cassettes record
"""

from __future__ import annotations

import json
import socket

import duckdb

from conftest import ROOT

SCORES = ROOT / "cassettes" / "local" / "recorded-scores.json"


def test_bundled_suites_replay_offline_with_the_recorded_scores(cli, tmp_path, monkeypatch):
    recorded = json.loads(SCORES.read_text(encoding="utf-8"))

    def refuse(*a, **k):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.chdir(tmp_path)  # nothing of the run lands in the work tree
    db = tmp_path / "replay.duckdb"
    code, _, err = cli("run", ROOT / "suites", "--models", "local", "--db", db, "--no-progress",
                       "--cassettes", "replay", "--cassette-dir", ROOT / "cassettes")
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        got = con.execute(
            "SELECT suite, case_id, repeat, status, score, passed, replayed FROM results ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    assert got, "no rows: the local model ran no bundled suite"
    for suite, case, repeat, status, score, passed, replayed in got:
        key = f"{suite}/{case}/{repeat}"
        assert key in recorded, f"{key} was not in the recording run: record the suite again"
        want = recorded[key]
        assert status == want["status"], key
        if status == "ok":
            assert replayed is True, key
            assert (score, passed) == (want["score"], want["passed"]), key
    assert {f"{s}/{c}/{r}" for s, c, r, *_ in got} == set(recorded)
