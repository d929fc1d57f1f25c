"""`evalseed import bfcl`: the command, its input errors, and an imported suite run end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from evalseed.importers.bfcl import convert_function
from evalseed.suites.loader import load_suite_file
from evalseed.testing.stub_server import Reply, ToolCall

# A subset vendored with its attribution (tests/data/bfcl/README.md); EVALSEED_BFCL_DATA points at a
# whole upstream copy of bfcl_eval/data instead.
DATA = Path(os.environ.get("EVALSEED_BFCL_DATA") or Path(__file__).resolve().parent / "data" / "bfcl")


def test_convert_function_types():
    fn = {"name": "a.b", "description": "d", "parameters": {"type": "dict", "required": ["x"], "properties": {
        "x": {"type": "float", "description": "x"},
        "t": {"type": "tuple", "items": {"type": "integer"}},
        "any": {"type": "any", "description": "whatever"},
        "o": {"type": "dict", "properties": {"k": {"type": "string"}}, "optional": True},
    }}}
    spec = convert_function(fn)
    p = spec["function"]["parameters"]
    assert spec["type"] == "function" and spec["function"]["name"] == "a.b"
    assert p["type"] == "object" and p["required"] == ["x"]
    assert p["properties"]["x"]["type"] == "number"
    assert p["properties"]["t"] == {"type": "array", "items": {"type": "integer"}}
    assert "type" not in p["properties"]["any"]
    assert p["properties"]["o"] == {"type": "object", "properties": {"k": {"type": "string"}}}


def test_import_writes_valid_suites(cli, tmp_path):
    files = [DATA / f"BFCL_v4_{c}.json" for c in ("parallel_multiple", "irrelevance", "live_multiple")]
    code, out, err = cli("import", "bfcl", *files, "--out", tmp_path / "bfcl", "--limit", 20)
    assert code == 0, err
    written = sorted((tmp_path / "bfcl").glob("*.yaml"))
    assert [p.name for p in written] == ["bfcl-irrelevance.yaml", "bfcl-live-multiple.yaml",
                                         "bfcl-parallel-multiple.yaml"]
    code, out, err = cli("validate", tmp_path / "bfcl")
    assert code == 0, err
    s = load_suite_file(tmp_path / "bfcl" / "bfcl-irrelevance.yaml")
    assert len(s.cases) == 20 and all(c.expected_calls == [] for c in s.cases)
    assert "Apache-2.0" in s.description


def test_import_input_errors_exit_2(cli, tmp_path):
    code, _, err = cli("import", "bfcl", tmp_path / "missing.json", "--out", tmp_path / "o")
    assert code == 2 and "file not found" in err
    bad = tmp_path / "BFCL_v4_simple_python.json"
    bad.write_text('{"id": "x"\n', encoding="utf-8")
    (tmp_path / "possible_answer").mkdir()
    (tmp_path / "possible_answer" / bad.name).write_text("", encoding="utf-8")
    code, _, err = cli("import", "bfcl", bad, "--out", tmp_path / "o")
    assert code == 2 and f"{bad}:1" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written when any input is bad


def test_imported_suite_runs_end_to_end(cli, stub, tmp_path):
    code, _, err = cli("import", "bfcl", DATA / "BFCL_v4_parallel.json", "--out", tmp_path, "--limit", 10)
    assert code == 0, err
    suite_file = tmp_path / "bfcl-parallel.yaml"
    suite = load_suite_file(suite_file)
    by_prompt = {c.messages[-1].content: c for c in suite.cases}

    def respond(body: dict) -> Reply:
        case = by_prompt[body["messages"][-1]["content"]]
        calls = []
        for entry in reversed(case.expected_calls):  # another order than the expected one
            (name, args), = entry.items()
            calls.append(ToolCall(name.replace(".", "_"),
                                  {p: next(v for v in a if v != "") for p, a in args.items() if "" not in a}))
        return Reply(content=None, tool_calls=calls)

    srv = stub(responder=respond)
    db = tmp_path / "b.duckdb"
    code, out, err = cli("run", suite_file, "--base-url", srv.base_url, "--models", "seed-1-8-251228",
                         "--db", db, "--no-progress")
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("SELECT case_id, passed, details FROM results ORDER BY case_id").fetchall()
    con.close()
    assert len(got) == 10
    assert all(p for _, p, _ in got), [(c, json.loads(d)["failure"]) for c, p, d in got if not p]
    # max_steps 1: one request per case, no tool results sent back.
    assert srv.count("/v1/chat/completions") == 10
