"""One machine interface (issue 20, items 4 and 9): every command that prints a table has `--json`,
flags are spelled the same everywhere, and the small things a newcomer expects (`--version`,
`-h`, `--debug` after the subcommand, run filters and overrides, read-only reads, model aliases)."""

from __future__ import annotations

import json

import duckdb
import pytest
from helpers import SMALL_SUITE, result_rows, run_suite, write_suite
from helpers.cli_app import commands

from evalseed.errors import UsageError
from evalseed.testing.stub_server import Reply

FLASH = "seed-1-6-flash-250715"

# Every command, classified: a new command must be placed here, so nobody forgets its --json.
TABLE_COMMANDS = {"run", "runs", "models", "validate", "compare", "plan-gate", "report", "route eval", "route pick",
                  "local info", "judge-pair"}
OTHER_COMMANDS = {"init", "rescore", "route train", "import bfcl", "import outcomes", "local install", "merge", "export",
                  "route serve"}
# Commands that read stored runs: --db everywhere; --runs and --since where more than one run is read.
READ_RUNS = {"runs", "report", "compare", "plan-gate", "rescore", "route train", "route eval", "judge-pair"}
MANY_RUNS = {"report", "route train", "route eval"}
# Parameters that name a file or folder the command writes.
OUTPUT_PARAMS = {"out", "out_dir"}


COMMANDS = commands()


def flags(cmd) -> set[str]:
    return {o for p in cmd.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}


def test_every_command_is_classified():
    assert set(COMMANDS) == TABLE_COMMANDS | OTHER_COMMANDS


@pytest.mark.parametrize("name", sorted(TABLE_COMMANDS))
def test_every_table_command_has_json(name):
    assert "--json" in flags(COMMANDS[name]), name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_flags_are_the_same_everywhere(name):
    cmd = COMMANDS[name]
    f = flags(cmd)
    for p in cmd.params:
        if p.name in OUTPUT_PARAMS:
            assert {"-o", "--out"} <= set(p.opts), (name, p.opts)
        if p.name == "db":
            assert p.opts == ["--db"], (name, p.opts)
    if name in READ_RUNS:
        assert "--db" in f, name
    if name in MANY_RUNS or "--runs" in f or "--since" in f:
        assert "--since" in f and "--db" in f, name
    if name in MANY_RUNS:
        assert "--runs" in f, name
    if name == "runs":
        assert "--since" in f


def test_version_and_short_help(cli):
    from evalseed import __version__

    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"evalseed {__version__}"
    for args in (["-h"], ["runs", "-h"], ["route", "pick", "-h"]):
        code, out, _ = cli(*args)
        assert code == 0 and "Usage" in out, args


def test_debug_is_accepted_after_the_subcommand(cli, tmp_path):
    code, _, err = cli("runs", "--db", tmp_path / "none.duckdb")
    assert code == 2 and "no such database" in err and "Traceback" not in err
    with pytest.raises(UsageError, match="no such database"):
        cli("runs", "--db", tmp_path / "none.duckdb", "--debug")
    code, _, err = cli("runs", "--db", tmp_path / "none.duckdb")  # not sticky across invocations
    assert code == 2


_run = run_suite


TAGGED = SMALL_SUITE.replace("    expected: positive\n", "    expected: positive\n    tags: [easy]\n")


def test_run_json_is_the_summary_on_stdout(cli, stub, tmp_path):
    srv = stub(answers={"love": "positive", "hate": "negative", "broke": "negative"})
    code, out, err, db = _run(cli, tmp_path, srv, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "finished" and doc["db"] == str(db)
    assert doc["run_id"] == duckdb.connect(str(db), read_only=True).execute("SELECT run_id FROM runs").fetchone()[0]
    (rec,) = doc["results"]
    assert (rec["suite"], rec["model"], rec["cases"], rec["accuracy"]) == ("tiny", FLASH, 3, 1.0)
    assert "stored in" in err
    code, out, err, _ = _run(cli, tmp_path, srv, "--json", "--baseline", doc["run_id"], "--gate")
    assert code == 0, err
    assert json.loads(out)["run_id"] != doc["run_id"] and "verdict: no regression" in err  # the gate's table
    code, out, err, _ = _run(cli, tmp_path, srv, "--json", "--dry-run", db_name="d.duckdb")
    assert code == 0 and json.loads(out)["requests"] == 3


def test_run_filters_and_overrides(cli, stub, tmp_path):
    srv = stub(answers={"love": "positive", "hate": "negative", "broke": "negative"})
    code, _, err, db = _run(cli, tmp_path, srv, "--tag", "easy", suite=TAGGED)
    assert code == 0, err
    assert [r["case_id"] for r in result_rows(db)] == ["good"]
    code, _, err, db = _run(cli, tmp_path, srv, "--case", "b*", "--case", "meh", db_name="c.duckdb")
    assert code == 0, err
    assert sorted(r["case_id"] for r in result_rows(db)) == ["bad", "meh"]
    code, _, err, db = _run(cli, tmp_path, srv, "--limit", "2", "--suite", "tiny", "--repeats", "2",
                            "--temperature", "0.7", "--max-tokens", "9", db_name="l.duckdb")
    assert code == 0, err
    rows = result_rows(db)
    assert sorted((r["case_id"], r["repeat"]) for r in rows) == [("bad", 0), ("bad", 1), ("good", 0), ("good", 1)]
    last = srv.bodies()[-4:]
    assert all(b["temperature"] == 0.7 and b["max_tokens"] == 9 for b in last), last
    cfg = json.loads(duckdb.connect(str(db), read_only=True).execute("SELECT config FROM runs").fetchone()[0])
    assert cfg["selection"] == {"suites": ["tiny"], "limit": 2, "repeats": 2, "temperature": 0.7, "max_tokens": 9}
    assert cfg["suites"][0]["repeats"] == 2 and cfg["suites"][0]["cases"] == 2
    code, _, err, _ = _run(cli, tmp_path, srv, "--suite", "nope", db_name="n.duckdb")
    assert code == 2 and "no such suite among tiny" in err
    code, _, err, _ = _run(cli, tmp_path, srv, "--tag", "nope", db_name="n.duckdb")
    assert code == 2 and "selects no case" in err


def test_resume_says_it_ignores_models_and_keeps_the_selection(cli, stub, tmp_path):
    srv = stub(responder=lambda body: Reply(fault="400") if "hate" in json.dumps(body) else Reply(content="positive"))
    code, _, _, db = _run(cli, tmp_path, srv, "--case", "good", "--case", "bad")
    run_id = duckdb.connect(str(db), read_only=True).execute("SELECT run_id FROM runs").fetchone()[0]
    code, _, err = cli("run", "--resume", run_id, "--db", db, "--no-progress", "--models", "seed-1-8-251228")
    assert code == 0, err
    assert f"--resume runs the models run {run_id} started with ({FLASH}); --models seed-1-8-251228 is ignored." in err
    assert sorted(r["case_id"] for r in result_rows(db)) == ["bad", "good"]  # the selection held


def test_unset_api_key_env_is_an_error(cli, stub, tmp_path, monkeypatch):
    monkeypatch.delenv("EVALSEED_UNSET_KEY", raising=False)
    srv = stub(answers={"": "positive"})
    code, out, err, _ = _run(cli, tmp_path, srv, "--api-key-env", "EVALSEED_UNSET_KEY")
    assert code == 2
    assert err.strip().count("\n") == 0 and "the variable EVALSEED_UNSET_KEY is not set" in err
    assert srv.count("/v1/chat/completions") == 0


def test_model_aliases_and_did_you_mean(cli, stub, tmp_path):
    srv = stub(answers={"": "positive"})
    p = write_suite(tmp_path / "suites", "tiny.yaml", SMALL_SUITE)
    code, _, err = cli("run", p, "--models", "seed-1-8-25122", "--db", tmp_path / "x.duckdb")
    assert code == 2 and "did you mean 'seed-1-8-251228'" in err
    code, _, err = cli("run", p, "--models", "seed-1-8", "--base-url", srv.base_url, "--db", tmp_path / "a.duckdb",
                       "--no-progress")
    assert code == 0, err
    assert "seed-1-8 means seed-1-8-251228" in err
    assert {r["model"] for r in result_rows(tmp_path / "a.duckdb")} == {"seed-1-8-251228"}
    assert {b["model"] for b in srv.bodies()} == {"seed-1-8-251228"}


def test_runs_shows_models_and_since(cli, stub, tmp_path):
    srv = stub(answers={"": "positive"})
    code, _, err, db = _run(cli, tmp_path, srv)
    assert code == 0, err
    code, out, _ = cli("runs", "--db", db, "--json")
    (r,) = json.loads(out)
    assert r["models"] == [FLASH]
    code, out, _ = cli("runs", "--db", db)
    assert FLASH in out
    code, out, err = cli("runs", "--db", db, "--since", "2999-01-01", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = cli("runs", "--db", db, "--since", "yesterday")
    assert code == 2 and "not a date" in err


def test_reading_commands_leave_a_foreign_duckdb_file_alone(cli, tmp_path):
    foreign = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE sales (x INTEGER)")
    con.close()
    for args in (["runs"], ["runs", "latest", "--json"], ["report"], ["compare", "a", "b"], ["route", "train"]):
        code, _, err = cli(*args, "--db", foreign)
        assert code == 2 and "not an evalseed database" in err, (args, err)
    con = duckdb.connect(str(foreign), read_only=True)
    assert [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()] == ["sales"]


def test_report_json_since_and_open(cli, stub, tmp_path, monkeypatch):
    srv = stub(answers={"": "positive"})
    code, _, err, db = _run(cli, tmp_path, srv)
    assert code == 0, err
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    code, out, err = cli("report", "--db", db, "-o", tmp_path / "rep", "--since", "2000-01-01", "--json", "--open")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["report"].endswith(".html") and doc["index"].endswith("index.html")
    assert opened == [(tmp_path / "rep").resolve().joinpath(doc["report"].rsplit("/", 1)[-1]).as_uri()]
    code, _, err = cli("report", "--db", db, "--since", "2999-01-01")
    assert code == 2 and "`evalseed runs` lists them" in err


def test_compare_json_dash_prints_json_alone(cli, stub, tmp_path):
    srv = stub(answers={"": "positive"})
    _run(cli, tmp_path, srv)
    _, _, _, db = _run(cli, tmp_path, srv)
    base, cand = [r for (r,) in duckdb.connect(str(db), read_only=True).execute(
        "SELECT run_id FROM runs ORDER BY started_at").fetchall()]
    code, out, err = cli("compare", base, cand, "--db", db, "--json", "-")
    assert code == 0, err
    doc = json.loads(out)
    assert isinstance(doc, dict) and "evalseed compare" in err


def test_route_train_on_one_model_suggests_the_next_command(cli, stub, tmp_path):
    srv = stub(answers={"": "positive"})
    _, _, _, db = _run(cli, tmp_path, srv)
    code, _, err = cli("route", "train", "--db", db, "-o", tmp_path / "r.json")
    assert code == 2 and "one model only" in err
    assert "--runs A,B or --since DATE" in err and err.strip().count("\n") == 0
