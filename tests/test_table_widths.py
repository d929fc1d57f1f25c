"""The run summary and `runs` read at COLUMNS=80, 120 and 200: no header or id is cut (issue 20,
item 5); evalseed.tables lays a table out as a table where it fits uncut, else stacked."""

from __future__ import annotations

import pytest

from evalseed.tables import Col, min_width, stacked_lines

from helpers import SMALL_SUITE, write_suite

MODELS = ["seed-1-6-flash-250715", "seed-1-6-250915"]
SUITES = ["long-context-needle-haystack-grid", "long-context-support-handbook-qa"]
HEADERS = ["suite", "model", "cases", "ok", "errors", "skipped", "accuracy", "p50 ms", "p95 ms", "cost $"]


@pytest.fixture(scope="module")
def two_suites(tmp_path_factory):
    from typer.testing import CliRunner

    from evalseed.cli import app
    from evalseed.testing.stub_server import StubServer

    d = tmp_path_factory.mktemp("widths")
    for name in SUITES:
        write_suite(d / "suites", f"{name}.yaml", SMALL_SUITE.replace("name: tiny", f"name: {name}"))
    db = d / "w.duckdb"
    with StubServer(answers={"love": "positive", "hate": "negative", "broke": "unsure"}) as srv:
        res = CliRunner().invoke(app, ["run", str(d / "suites"), "--models", ",".join(MODELS), "--base-url",
                                       srv.base_url, "--db", str(db), "--no-progress", "--label",
                                       "a label long enough to need wrapping at eighty columns, surely"])
    assert res.exit_code == 0, res.output
    return db


def show(cli, monkeypatch, width, *args):
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = cli(*args)
    assert code == 0, err
    return out


@pytest.mark.parametrize("width", [80, 120, 200])
def test_run_summary_cuts_no_header_or_id(cli, monkeypatch, two_suites, width):
    out = show(cli, monkeypatch, width, "runs", "latest", "--db", two_suites)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= width, out
    words = out.split()
    for name in SUITES + MODELS:
        assert name in words or name + "," in words, (name, out)
    for header in HEADERS + ["unparsed"]:
        assert header in out, (header, out)
    if width == 200:
        assert "┃ suite" in out  # a real table when it fits
    if width == 80:
        assert "┃" not in out  # stacked: one block per suite and model
        assert f"{SUITES[0]} · {MODELS[1]}" in out


@pytest.mark.parametrize("width", [80, 120, 200])
def test_runs_list_cuts_no_run_id(cli, monkeypatch, two_suites, width):
    import duckdb

    run_id = duckdb.connect(str(two_suites), read_only=True).execute("SELECT run_id FROM runs").fetchone()[0]
    out = show(cli, monkeypatch, width, "runs", "--db", two_suites)
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= width, out
    assert run_id in out.split() or f"│ {run_id}" in out or run_id in out
    for header in ("run", "started", "status", "label", "models", "rows", "cost $"):
        assert header in out
    for m in MODELS:
        assert m in out


def test_fitting_rules():
    cols = [Col("suite", key=True), Col("accuracy", "right"), Col("kind metrics", wrap=True)]
    rows = [["a-rather-long-suite-name", "0.500", "macro_f1 0.5 · unparsed 3"]]
    # border 1 + (24+3) + (8+3) + (max(8, len("unparsed"))+3)
    assert min_width(cols, rows) == 1 + 27 + 11 + 11
    lines = stacked_lines(cols, rows, 30)
    assert lines[0] == "a-rather-long-suite-name"
    assert lines[1].strip() == "accuracy: 0.500"
    # A pair longer than the width is never split: it gets its own line, whole.
    assert lines[2].strip() == "kind metrics: macro_f1 0.5 · unparsed 3" and len(lines) == 3
