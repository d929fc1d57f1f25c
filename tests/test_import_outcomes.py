"""`evalseed import outcomes`: wide outcome tables stored as runs."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from evalseed.cli import app
from evalseed.errors import UsageError
from evalseed.importers.outcomes import import_outcomes, prompt_id, read_table
from evalseed.store import fetch_rows, open_db


def _write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def _quiet(*_a, **_k):
    pass


def test_wide_table_becomes_one_run(tmp_path):
    src = _write(tmp_path / "out.csv", ["task", "prompt", "A", "B", "A_cost"], [
        ["math", "What is 2+2?", "True", "False", "0.5"],
        ["math", "Integrate x dx, please.", "False", "True", "0.25"],
        ["chat", "Say hi, \"politely\"\nand briefly.", "1", "0.5", ""],
    ])
    db = str(tmp_path / "e.duckdb")
    run_id = import_outcomes(db, src, prices=["B=2,4"], out=_quiet)
    con = open_db(db, read_only=True)
    run = con.execute("SELECT status, config FROM runs WHERE run_id = ?", [run_id]).fetchone()
    assert run[0] == "finished"
    cfg = json.loads(run[1])
    assert cfg["provider"] == "imported" and cfg["models"] == ["A", "B"]
    got = fetch_rows(con, "run_id = ?", [run_id])
    con.close()
    # a file without an id column: each case is named by a hash of its prompt; key by file line here
    rows = {(str(r["details"]["source_row"] - 2), r["model"]): r for r in got}
    assert rows[("0", "A")]["case_id"] == prompt_id("What is 2+2?")
    assert len(rows) == 6
    r = rows[("0", "A")]
    assert (r["provider"], r["kind"], r["suite"], r["score"], r["passed"]) == ("imported", "math", "math", 1.0, True)
    assert r["input_text"] == "What is 2+2?"
    assert "expected" in r["details"]
    assert rows[("0", "A")]["cost_usd"] == pytest.approx(0.5)  # from the file's cost column
    # B has no cost column: estimated tokens priced with --price (2 in, 4 out per million)
    b = rows[("1", "B")]
    assert b["cost_usd"] == pytest.approx((b["prompt_tokens"] * 2 + 1 * 4) / 1e6)
    assert rows[("2", "B")]["score"] == 0.5 and rows[("2", "B")]["passed"] is True
    assert rows[("2", "A")]["cost_usd"] is None  # empty cost cell and no price for A
    assert rows[("2", "A")]["input_text"] == "Say hi, \"politely\"\nand briefly."


def test_domain_is_suite_and_file_stem_without_one(tmp_path):
    src = _write(tmp_path / "plain.csv", ["prompt", "m1", "m2"], [["p", "True", "False"]])
    db = str(tmp_path / "e.duckdb")
    import_outcomes(db, src, out=_quiet)
    src2 = _write(tmp_path / "dom.csv", ["domain", "prompt", "m1", "m2"], [["law", "q", "0", "1"]])
    import_outcomes(db, src2, out=_quiet)
    con = open_db(db, read_only=True)
    got = sorted(con.execute("SELECT DISTINCT suite, kind FROM results").fetchall())
    con.close()
    assert got == [("law", "imported"), ("plain", "imported")]


def test_responses_give_completion_tokens_and_exclusions_drop_prompts(tmp_path):
    src = _write(tmp_path / "g.csv", ["prompt", "gpt-4-1106-preview", "gpt-4-1106-preview_response"], [
        ["keep me", "True", "x" * 400],
        ["drop me", "False", "no"],
    ])
    excl = tmp_path / "excl.jsonl"
    excl.write_text(json.dumps({"train_prompt": "drop me!", "eval_prompt": "drop me"}) + "\n")
    db = str(tmp_path / "e.duckdb")
    import_outcomes(db, src, exclude=str(excl), out=_quiet)
    con = open_db(db, read_only=True)
    rows = fetch_rows(con)
    con.close()
    assert [r["input_text"] for r in rows] == ["keep me"]
    r = rows[0]
    assert r["completion_tokens"] == 100 and r["output_text"] == "x" * 400
    # the built-in list price of gpt-4-1106-preview: $10 / $30 per million tokens
    assert r["cost_usd"] == pytest.approx((r["prompt_tokens"] * 10 + 100 * 30) / 1e6)


def test_bad_cell_names_file_and_line_and_stores_nothing(tmp_path):
    src = _write(tmp_path / "bad.csv", ["prompt", "A", "B"], [["ok", "True", "False"], ["bad", "True", "maybe"]])
    db = str(tmp_path / "e.duckdb")
    with pytest.raises(UsageError) as e:
        import_outcomes(db, src, models=["A", "B"], out=_quiet)
    assert "bad.csv:3" in str(e.value) and "'B'" in str(e.value)
    con = open_db(db)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    con.close()


def test_no_model_column_and_no_prompt_column_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no model correctness column"):
        read_table(_write(tmp_path / "a.csv", ["prompt", "note"], [["p", "hello"]]))
    with pytest.raises(UsageError, match="no prompt column"):
        read_table(_write(tmp_path / "b.csv", ["x", "A"], [["p", "True"]]))
    with pytest.raises(UsageError, match="fields where the header has"):
        read_table(_write(tmp_path / "c.csv", ["prompt", "A"], [["p", "True", "extra"]]))


def test_second_import_of_same_file_needs_force(tmp_path):
    src = _write(tmp_path / "o.csv", ["prompt", "A", "B"], [["p", "1", "0"]])
    db = str(tmp_path / "e.duckdb")
    first = import_outcomes(db, src, out=_quiet)
    with pytest.raises(UsageError, match=f"already imported as run {first}"):
        import_outcomes(db, src, out=_quiet)
    assert import_outcomes(db, src, force=True, out=_quiet) != first


def test_cli_exit_codes(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "e.duckdb")
    ok = _write(tmp_path / "o.csv", ["prompt", "A", "B"], [["p", "1", "0"]])
    res = runner.invoke(app, ["import", "outcomes", ok, "--db", db])
    assert res.exit_code == 0, res.output
    assert "imported 1 prompts x 2 models" in res.output
    res = runner.invoke(app, ["import", "outcomes", str(tmp_path / "missing.csv"), "--db", db])
    assert res.exit_code == 2
    assert "no such file" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["import", "outcomes", ok, "--db", db, "--price", "nonsense"])
    assert res.exit_code == 2 and "MODEL=IN,OUT" in res.output


def _cases(db):
    from evalseed.router.data import load_outcomes

    con = open_db(db, read_only=True)
    try:
        return load_outcomes(con, [r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()])
    finally:
        con.close()


def test_overlapping_files_give_one_case_per_prompt_and_no_averaging_across_prompts(tmp_path):
    # issue 21: a train and a test file with a task column were keyed (task, row number), so
    # row 0 of each file became one case averaging two different prompts
    train = _write(tmp_path / "train.csv", ["task", "prompt", "A", "B"],
                   [["math", f"train question {i}", "1", "0"] for i in range(5)] + [["math", "shared", "1", "1"]])
    test = _write(tmp_path / "test.csv", ["task", "prompt", "A", "B"],
                  [["math", f"test question {i}", "0", "1"] for i in range(4)] + [["math", "shared", "0", "1"]])
    db = str(tmp_path / "e.duckdb")
    said: list[str] = []
    import_outcomes(db, train, out=said.append)
    import_outcomes(db, test, out=said.append)
    assert "merged 1 rows into existing cases: 0 repeat a prompt earlier in the file, 1 match" in " ".join(said)
    d = _cases(db)
    assert len(d) == 10  # 5 + 4 distinct prompts + 1 shared, not max(6, 5) = 6
    by_text = {t: d.Q[i] for i, t in enumerate(d.texts)}
    assert list(by_text["train question 0"]) == [1.0, 0.0] and list(by_text["test question 0"]) == [0.0, 1.0]
    assert list(by_text["shared"]) == [0.5, 1.0]  # the same prompt in both files: pooled, and said so


def test_repeated_prompt_in_one_file_is_a_repeat_of_one_case(tmp_path):
    src = _write(tmp_path / "o.csv", ["prompt", "A", "B"], [["p", "1", "0"], ["q", "1", "1"], ["p", "0", "0"]])
    db = str(tmp_path / "e.duckdb")
    said: list[str] = []
    import_outcomes(db, src, out=said.append)
    assert "merged 1 rows into existing cases: 1 repeat a prompt earlier in the file, 0 match" in " ".join(said)
    d = _cases(db)
    assert len(d) == 2 and list(d.Q[d.texts.index("p")]) == [0.5, 0.0]


def test_id_column_names_cases_and_conflicting_ids_are_refused(tmp_path):
    db = str(tmp_path / "e.duckdb")
    a = _write(tmp_path / "a.csv", ["task", "id", "prompt", "A", "B"],
               [["qa", "x1", "first", "1", "0"], ["qa", "x2", "second", "0", "1"]])
    import_outcomes(db, a, out=_quiet)
    con = open_db(db, read_only=True)
    assert sorted(r[0] for r in con.execute("SELECT DISTINCT case_id FROM results").fetchall()) == ["x1", "x2"]
    con.close()
    # the same id with another prompt in the database: refused, nothing written
    b = _write(tmp_path / "b.csv", ["task", "id", "prompt", "A", "B"], [["qa", "x1", "not the first", "1", "1"]])
    with pytest.raises(UsageError, match="already in .* with a different prompt"):
        import_outcomes(db, b, out=_quiet)
    # the same id twice in one file with different prompts: refused
    c = _write(tmp_path / "c.csv", ["qid", "prompt", "A", "B"], [["7", "one", "1", "0"], ["7", "two", "0", "1"]])
    with pytest.raises(UsageError, match="lines 2 and 3 share the id '7'"):
        import_outcomes(db, c, id_col="qid", out=_quiet)
    con = open_db(db, read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    con.close()
    res = CliRunner().invoke(app, ["import", "outcomes", b, "--db", db])
    assert res.exit_code == 2 and "different prompt" in res.output and "Traceback" not in res.output
    assert len([ln for ln in res.output.strip().splitlines() if ln.strip()]) == 1


def test_route_refuses_imported_cases_that_pool_two_prompts(tmp_path):
    # a database written by the old importer (case id = row number): two files, models apart
    from evalseed.router.data import load_outcomes

    db = str(tmp_path / "e.duckdb")
    a = import_outcomes(db, _write(tmp_path / "a.csv", ["task", "id", "prompt", "A"], [["t", "0", "first", "1"]]),
                        out=_quiet)
    b = import_outcomes(db, _write(tmp_path / "b.csv", ["task", "id", "prompt", "B"], [["t", "1", "second", "0"]]),
                        out=_quiet)
    con = open_db(db)
    con.execute("UPDATE results SET case_id = '0'")  # what row-number ids did
    con.close()
    con = open_db(db, read_only=True)
    try:
        with pytest.raises(UsageError, match="1 imported case\\(s\\) hold different prompt texts under one id"):
            load_outcomes(con, [a, b])
    finally:
        con.close()
