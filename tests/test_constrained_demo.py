"""The README's first run (issue 20, item 7): the embedded model free and constrained side by side on
the review-sentiment suite, replayed offline from the committed recordings. The scores are the
recording run's (cassettes/local/recorded-scores*.json), and the README's claim that the two differ
with non-overlapping 95% intervals is checked on them.

Record the constrained variant again after editing the suite:
    python cassettes/record_local.py --models 'local[constrained=true]' suites/review-sentiment.yaml
"""

from __future__ import annotations

import json
import socket

import duckdb

from conftest import ROOT
from evalseed.stats import wilson_interval

SCORES = ROOT / "cassettes" / "local" / "recorded-scores.json"
VARIANT_SCORES = ROOT / "cassettes" / "local" / "recorded-scores-variants.json"
DEMO_MODELS = "local,local[constrained=true]"


def test_the_first_run_replays_offline_and_shows_a_difference(cli, tmp_path, monkeypatch):
    recorded = json.loads(SCORES.read_text(encoding="utf-8"))
    recorded_variant = json.loads(VARIANT_SCORES.read_text(encoding="utf-8"))

    def refuse(*a, **k):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "demo.duckdb"
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = cli("run", ROOT / "suites" / "review-sentiment.yaml", "--models", DEMO_MODELS, "--db", db,
                         "--no-progress", "--cassettes", "replay", "--cassette-dir", ROOT / "cassettes")
    assert code == 0, err
    # The summary prints the variant's name as it is (a cell is data, not rich markup).
    assert "local[constrained=true]" in out + err
    con = duckdb.connect(str(db), read_only=True)
    try:
        got = con.execute("SELECT model, suite, case_id, repeat, status, score, passed, replayed, "
                          "details->>'$.response_format_used', request FROM results ORDER BY ALL").fetchall()
    finally:
        con.close()
    passes: dict[str, list[bool]] = {}
    for model, suite, case, repeat, status, score, passed, replayed, used, request in got:
        want = (recorded[f"{suite}/{case}/{repeat}"] if model == "gemma-3-270m"
                else recorded_variant[f"{model}/{suite}/{case}/{repeat}"])
        assert status == want["status"] == "ok" and replayed is True
        assert (score, passed) == (want["score"], want["passed"]), (model, case)
        body = json.loads(request)
        assert body["model"] == "gemma-3-270m"
        assert used == ("labels" if model == "local[constrained=true]" else "none")
        assert ("response_format" in body) is (used == "labels")
        passes.setdefault(model, []).append(bool(passed))
    assert sorted(passes) == ["gemma-3-270m", "local[constrained=true]"]
    assert all(len(v) == 44 for v in passes.values())
    free = wilson_interval(sum(passes["gemma-3-270m"]), 44)
    constrained = wilson_interval(sum(passes["local[constrained=true]"]), 44)
    # The README and docs/offline.md quote these figures: 0/44 against 10/44.
    assert (sum(passes["gemma-3-270m"]), sum(passes["local[constrained=true]"])) == (0, 10)
    assert free.high < constrained.low, (free, constrained)

    out = tmp_path / "reports"
    code, _, err = cli("report", "--db", db, "-o", out)
    assert code == 0, err
    html = "".join(p.read_text(encoding="utf-8") for p in out.glob("*.html"))
    assert "local[constrained=true]" in html


def test_a_variant_replays_on_its_own(cli, tmp_path, monkeypatch):
    # Its recordings are filed under the base model's provider; without the plain model beside it
    # the run must still find them.
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "v.duckdb"
    code, _, err = cli("run", ROOT / "suites" / "review-sentiment.yaml", "--models", "local[constrained=true]",
                       "--db", db, "--no-progress", "--cassettes", "replay", "--cassette-dir", ROOT / "cassettes",
                       "--json")
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        (config,) = con.execute("SELECT config FROM runs").fetchone()
        n, replayed = con.execute("SELECT count(*), bool_and(replayed) FROM results").fetchone()
    finally:
        con.close()
    assert (n, replayed) == (44, True)
    assert json.loads(config)["model_table"]["local[constrained=true]"]["constrained"] is True
