"""`cases_from:` (issue 17 item 4): a suite's cases from a JSON-lines, CSV or Parquet file beside it,
read through DuckDB's readers, mapped to `id`/`vars`/`expected`/... and validated by the kind's own
models; problems name the data file and the row; the path is confined to the suite's folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalseed.errors import UsageError
from evalseed.suites.dataset import CasesFrom, map_rows
from evalseed.suites.loader import check_suite_file, load_suite_file, load_suites
from evalseed.testing.stub_server import Reply

from helpers import result_rows, write_suite
from strategies import cell_text, data_tables

CLASSIFY = """
name: tickets
kind: classification
labels: [billing, bug, other]
params: {max_tokens: 4}
messages:
  - {role: user, content: "Classify: {{ message }}"}
"""


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    """Text columns, written by DuckDB from the rows as JSON lines (an empty text stays empty)."""
    import duckdb

    src = write_jsonl(path.with_suffix(".src.jsonl"), rows)
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in rows[0]) + "}"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_json('{src}', columns = {columns})) TO '{path}' (FORMAT parquet)")
    con.close()
    src.unlink()
    return path


TICKETS = [
    {"ticket_id": "007", "body": "I was charged, twice", "label": "billing"},
    {"ticket_id": "8", "body": "crash\non \"start\"", "label": "bug"},
    {"ticket_id": "9", "body": "こんにちは", "label": "other"},
]
MAPPING = "cases_from: {path: %s, id: ticket_id, vars: {message: body}, expected: label}\n"
WANT = [{"id": "007", "vars": {"message": "I was charged, twice"}, "expected": "billing", "tags": []},
        {"id": "8", "vars": {"message": "crash\non \"start\""}, "expected": "bug", "tags": []},
        {"id": "9", "vars": {"message": "こんにちは"}, "expected": "other", "tags": []}]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_each_format_gives_the_same_cases(tmp_path, fmt):
    data = write_csv(tmp_path / "t.csv", TICKETS)
    if fmt == "jsonl":
        data = write_jsonl(tmp_path / "t.jsonl", TICKETS)
    elif fmt == "parquet":
        data = write_parquet(tmp_path / "t.parquet", TICKETS)
    suite = load_suite_file(write_suite(tmp_path, "s.yaml", CLASSIFY + MAPPING % data.name))
    assert [c.model_dump() for c in suite.cases] == WANT


def test_shorthand_jsonl_of_case_objects_and_inline_cases_first(tmp_path):
    write_jsonl(tmp_path / "c.jsonl", [
        {"id": 1, "vars": {"message": "a"}, "expected": "bug", "tags": ["x"]},
        {"id": "two", "message": "b", "expected": "billing"},   # a plain column is a var
    ])
    text = CLASSIFY + "cases_from: c.jsonl\ncases:\n  - {id: inline, vars: {message: m}, expected: other}\n"
    suite = load_suite_file(write_suite(tmp_path, "s.yaml", text))
    assert [c.model_dump() for c in suite.cases] == [
        {"id": "inline", "vars": {"message": "m"}, "expected": "other", "tags": []},
        {"id": "1", "vars": {"message": "a"}, "expected": "bug", "tags": ["x"]},
        {"id": "two", "vars": {"message": "b"}, "expected": "billing", "tags": []},
    ]


def test_json_objects_keep_their_own_keys(tmp_path):
    """json_extraction's expected objects: DuckDB's typed reader would give every object the union
    of all rows' keys (as nulls); the mapping keeps each record as written."""
    write_jsonl(tmp_path / "j.jsonl", [
        {"id": "a", "text": "Ann is 3", "expected": {"name": "Ann", "age": 3}},
        {"id": "b", "text": "Bo", "expected": {"name": "Bo"}},
    ])
    text = """
    name: ext
    kind: json_extraction
    schema: {type: object, properties: {name: {type: string}, age: {type: integer}}, required: [name]}
    messages: [{role: user, content: "{{ text }}"}]
    cases_from: j.jsonl
    """
    suite = load_suite_file(write_suite(tmp_path, "s.yaml", text))
    assert [c.expected for c in suite.cases] == [{"name": "Ann", "age": 3}, {"name": "Bo"}]


def test_other_case_keys_by_name_and_by_fields(tmp_path):
    write_csv(tmp_path / "q.csv", [{"qid": "q1", "q": "What is p99?", "answer": "120 ms", "tags": "a, b"}])
    text = """
    name: lc
    kind: long_context
    document: {text: "The p99 is 120 ms.\\nThat is all."}
    cases_from: {path: q.csv, id: qid, expected: answer, fields: {question: q}}
    """
    suite = load_suite_file(write_suite(tmp_path, "s.yaml", text))
    (case,) = suite.cases
    assert (case.id, case.question, case.expected, case.tags) == ("q1", "What is p99?", "120 ms", ["a", "b"])


def test_kind_validation_applies_and_names_file_and_row(tmp_path, cli):
    rows = [*TICKETS, {"ticket_id": "10", "body": "??", "label": "spam"}]
    write_csv(tmp_path / "t.csv", rows)
    path = write_suite(tmp_path, "s.yaml", CLASSIFY + MAPPING % "t.csv")
    (problem,) = check_suite_file(path)
    assert str(problem) == (f"{tmp_path / 't.csv'} row 4 expected: 'spam' is not one of the labels "
                            "['billing', 'bug', 'other']")
    with pytest.raises(UsageError, match=r"t\.csv row 4 expected"):
        load_suites([str(path)])
    code, _, err = cli("run", path, "--base-url", "http://127.0.0.1:9", "--models", "m", "--db", tmp_path / "x.db")
    assert code == 2 and "t.csv row 4 expected" in err


def test_row_problems_from_every_check(tmp_path):
    write_csv(tmp_path / "t.csv", [{"id": "a", "message": "x", "expected": "bug"},
                                   {"id": "a", "message": "y", "expected": "bug"}])
    (p,) = check_suite_file(write_suite(tmp_path, "s.yaml", CLASSIFY + "cases_from: t.csv\n"))
    assert str(p).startswith(f"{tmp_path / 't.csv'} row 2 id: duplicate case id 'a'")
    # An undefined template variable (the kind's validate step) is a row problem too.
    write_csv(tmp_path / "u.csv", [{"id": "a", "msg": "x", "expected": "bug"}])
    (p,) = check_suite_file(write_suite(tmp_path, "u.yaml", CLASSIFY.replace("tickets", "u") + "cases_from: u.csv\n"))
    assert str(p).startswith(f"{tmp_path / 'u.csv'} row 1 vars: 'message' is undefined")
    # A record that is no object.
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "message": "x", "expected": "bug"}\n[1, 2]\n')
    (p,) = check_suite_file(write_suite(tmp_path, "b.yaml", CLASSIFY + "cases_from: bad.jsonl\n"))
    assert str(p).startswith(f"{tmp_path / 'bad.jsonl'} row 2: a record must be an object")


@pytest.mark.parametrize("mapping, where, says", [
    ("cases_from: ../t.csv", "cases_from.path", "leads outside the suite's folder"),
    ("cases_from: /etc/passwd.csv", "cases_from.path", "absolute path"),
    ("cases_from: nope.csv", "cases_from.path", "no such file"),
    ("cases_from: t.xlsx", "cases_from.path", "give a .jsonl"),
    ("cases_from: {path: t.csv, vars: {message: bodyx}}", "cases_from.vars.message", "no column 'bodyx'"),
    ("cases_from: {path: t.csv, expected: nope}", "cases_from.expected", "no column 'nope'"),
    ("cases_from: {path: t.csv, fields: {question: body}}", "cases_from.fields.question", "not a case key"),
    ("cases_from: {path: t.csv, colour: red}", "cases_from.colour", "unknown key"),
])
def test_mapping_problems_name_the_suite_line_and_key(tmp_path, mapping, where, says):
    write_csv(tmp_path / "t.csv", TICKETS)
    folder = tmp_path / "sub" if "../" in mapping else tmp_path
    path = write_suite(folder, "s.yaml", CLASSIFY + mapping + "\n")
    (p,) = check_suite_file(path)
    assert p.file == str(path) and p.line == 7 and p.path == where and says in p.message, str(p)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    outside = write_csv(tmp_path / "t.csv", TICKETS)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "t.csv").symlink_to(outside)
    (p,) = check_suite_file(write_suite(tmp_path / "s", "s.yaml", CLASSIFY + MAPPING % "t.csv"))
    assert "via a link" in p.message


def test_unreadable_csv_names_the_file(tmp_path):
    (tmp_path / "t.csv").write_text('id,message,expected\na,"unclosed,bug\n')
    (p,) = check_suite_file(write_suite(tmp_path, "s.yaml", CLASSIFY + "cases_from: t.csv\n"))
    assert p.path == "cases_from.path" and f"{tmp_path / 't.csv'}: cannot be read as CSV" in p.message


def test_the_data_file_is_part_of_the_suites_hash(tmp_path):
    data = write_csv(tmp_path / "t.csv", TICKETS)
    path = write_suite(tmp_path, "s.yaml", CLASSIFY + MAPPING % "t.csv")
    first = load_suite_file(path).content_hash
    write_csv(data, [*TICKETS[:2], {**TICKETS[2], "body": "changed"}])
    assert load_suite_file(path).content_hash != first


def test_run_against_the_stub(cli, stub, tmp_path):
    write_csv(tmp_path / "t.csv", TICKETS)
    path = write_suite(tmp_path, "s.yaml", CLASSIFY + MAPPING % "t.csv")
    answers = {"Classify: I was charged, twice": "billing", "Classify: crash\non \"start\"": "bug"}
    srv = stub(responder=lambda body: Reply(content=answers.get(body["messages"][-1]["content"], "billing")))
    db = tmp_path / "r.duckdb"
    code, out, err = cli("run", path, "--base-url", srv.base_url, "--models", "m", "--db", db, "--no-progress")
    assert code == 0, out + err
    got = {r["case_id"]: (r["passed"], r["details"]["expected"]) for r in result_rows(db, parse_json=True)}
    assert got == {"007": (True, "billing"), "8": (True, "bug"), "9": (False, "other")}


# ---- the mapping, generated -------------------------------------------------------------------------

@given(data_tables(), st.sampled_from(["csv", "jsonl", "parquet"]))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_generated_tables_round_trip(tmp_path_factory, table, fmt):
    folder = tmp_path_factory.mktemp("gen")
    data = write_csv(folder / "t.csv", table)
    if fmt == "jsonl":
        data = write_jsonl(folder / "t.jsonl", table)
    elif fmt == "parquet":
        data = write_parquet(folder / "t.parquet", table)
    text = CLASSIFY + f"cases_from: {{path: {data.name}, id: key, vars: {{message: text, note: note}}, expected: label}}\n"
    suite = load_suite_file(write_suite(folder, "s.yaml", text))
    # CSV has no null: an empty cell is the empty text there, as it is in the other two.
    assert [c.model_dump() for c in suite.cases] == [
        {"id": r["key"], "vars": {"message": r["text"], "note": r["note"]}, "expected": r["label"], "tags": []}
        for r in table]


@given(st.lists(st.dictionaries(st.sampled_from(["id", "expected", "a", "b", "vars", "tags"]),
                                st.one_of(st.none(), st.integers(), cell_text, st.lists(cell_text, max_size=2))),
                max_size=8))
def test_map_rows_never_crashes_and_keeps_values(records):
    """Whatever the records hold, mapping gives one case dict per row (or a row problem), every
    var a value of its row's column, and row-N ids where the file has no id column."""
    columns = sorted({k for r in records for k in r})
    rows = [tuple(r.get(c) for c in columns) for r in records]
    try:
        cases = map_rows(CasesFrom(path="x.jsonl"), columns, rows, "x.jsonl", {"id", "vars", "expected", "tags"})
    except ValueError as e:
        assert getattr(e, "row", None) is not None  # only a vars column that is no object
        return
    assert len(cases) == len(rows)
    for n, (case, record) in enumerate(zip(cases, records), 1):
        if "id" not in columns:
            assert case["id"] == f"row-{n}"
        for name, value in case["vars"].items():
            if "vars" in record and isinstance(record["vars"], dict) and name in record["vars"]:
                continue
            assert record.get(name) == value
