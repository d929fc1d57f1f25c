"""Shared fixtures: a stub OpenAI-compatible server on 127.0.0.1 and a CLI invoker."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def stub():
    """A StubServer factory: `stub(answers=..., responder=..., **options)`; stopped after the test."""
    from evalseed.testing.stub_server import StubServer

    servers = []

    def make(**kwargs):
        srv = StubServer(**kwargs).start()
        servers.append(srv)
        return srv

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def cli(monkeypatch):
    """Run the evalseed CLI in-process; returns (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from evalseed.cli import app

    def invoke(*args: str):
        runner = CliRunner()
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


def write_suite(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return p


SMALL_SUITE = """
name: tiny
kind: classification
labels: [positive, negative]
params: {temperature: 0, max_tokens: 4}
messages:
  - {role: system, content: "Answer positive or negative."}
  - {role: user, content: "{{ text }}"}
cases:
  - id: good
    vars: {text: "I love it"}
    expected: positive
  - id: bad
    vars: {text: "I hate it"}
    expected: negative
  - id: meh
    vars: {text: "It broke"}
    expected: negative
"""



def result_rows(db, where: str = "TRUE", parse_json: bool = False) -> list[dict]:
    """Rows of the `results` table as dicts, in (suite, case, model, repeat) order; JSON columns
    parsed when asked."""
    import json

    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(f'SELECT * FROM results WHERE {where} ORDER BY suite, case_id, model, "repeat"')
        cols = [d[0] for d in cur.description]
        out = [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        con.close()
    if parse_json:
        for r in out:
            for c in ("details", "response", "request"):
                if isinstance(r[c], str):
                    r[c] = json.loads(r[c])
    return out
