"""Issue 19: `run --shard I/N`, `merge`, `export --parquet` and `--db DIR` (docs/scaling.md)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from helpers import run_id_of, select, write_suite

from evalseed import shards
from evalseed.testing.stub_server import Reply, last_message_text

MODEL = "seed-1-6-250915"
MODELS = "seed-1-6-250915,seed-1-6-flash-250715"  # two, so that route has something to choose
ROW_KEY = ("suite", "case_id", "model", "repeat", "status", "passed", "output_text", "error")


def _suite(n: int, repeats: int = 2) -> str:
    lines = ["name: polarity", "kind: classification", "labels: [positive, negative]",
             "params: {temperature: 0, max_tokens: 4}", f"repeats: {repeats}", "messages:",
             '  - {role: user, content: "{{ text }}"}', "cases:"]
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        # a few long cases, so that token balance and case balance differ
        pad = " filler" * (300 if i % 17 == 0 else 0)
        lines += [f"  - id: case-{i:03d}", f'    vars: {{text: "review number {i:03d} is {label}{pad}"}}',
                  f"    expected: {label}"]
    return "\n".join(lines) + "\n"


def _responder(body):
    """Deterministic: every 7th case wrong, every 11th a permanent 400 (an error row)."""
    m = re.search(r"review number (\d+) is (\w+)", last_message_text(body))
    i, label = int(m.group(1)), m.group(2)
    if i % 11 == 3:
        return Reply(fault="400")
    if i % 7 == 0 or (i % 5 == 0 and "flash" in body.get("model", "")):
        label = "positive" if label == "negative" else "negative"
    return Reply(content=label)


def _rows(db, run_id=None) -> list[tuple]:
    where = "TRUE" if run_id is None else f"run_id = '{run_id}'"
    cols = ", ".join(f'"{c}"' for c in ROW_KEY)
    return select(db, f'SELECT {cols} FROM results WHERE {where} ORDER BY suite, case_id, model, "repeat"')


def _dump(db) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall()))
                for t in ("runs", "results", "run_prices")}
    finally:
        con.close()


def _run(cli, ws: Path, url: str, db: str, *extra: str):
    code, out, err = cli("run", str(ws / "suites"), "--models", MODELS, "--base-url", url, "--db", str(ws / db),
                         "--no-progress", *extra)
    assert code == 0, out + err
    return run_id_of(out)


# ---- the partition ----------------------------------------------------------------------------


def test_partition_is_stable_when_cases_are_added_and_balanced_by_tokens():
    import random

    rng = random.Random(7)
    weights = {("s", f"c{i}"): rng.choice([10, 10, 10, 10, 2000]) for i in range(2000)}
    before = shards.assign(weights, 4)
    assert set(before.values()) == {1, 2, 3, 4}
    tokens = [sum(w for k, w in weights.items() if before[k] == i) for i in range(1, 5)]
    assert max(tokens) / min(tokens) < 1.02, tokens  # balanced by estimated tokens
    grown = {**weights, **{("s", f"new{i}"): 10 for i in range(20)}}
    after = shards.assign(grown, 4)
    moved = [k for k in weights if before[k] != after[k]]
    # 20 cases of 10 tokens added: only cases next to the 3 cuts may move, never more than a handful
    assert len(moved) <= 3, moved
    assert shards.assign(weights, 4) == before  # deterministic


def test_shard_flag_errors(cli, tmp_path):
    write_suite(tmp_path / "suites", "p.yaml", _suite(4))
    for bad in ("0/4", "5/4", "x", "1/0"):
        code, _, err = cli("run", str(tmp_path / "suites"), "--shard", bad, "--dry-run")
        assert code == 2 and "--shard takes I/N" in err, err
    code, _, err = cli("run", str(tmp_path / "suites"), "--shard", "1/2", "--group", "no spaces", "--dry-run")
    assert code == 2 and "--group must be" in err


# ---- shards merged == one run; merge is idempotent; conflicts are refused ----------------------


@pytest.fixture
def sharded(cli, stub, tmp_path):
    ws = tmp_path
    write_suite(ws / "suites", "polarity.yaml", _suite(60))
    srv = stub(responder=_responder)
    full = _run(cli, ws, srv.base_url, "full.duckdb")
    ids = [_run(cli, ws, srv.base_url, f"s{i}.duckdb", "--shard", f"{i}/4", "--group", "nightly-1")
           for i in range(1, 5)]
    return ws, srv, full, ids


def test_shards_merged_give_the_rows_of_one_run(cli, sharded):
    ws, srv, full, ids = sharded
    per_shard = [_rows(ws / f"s{i}.duckdb") for i in range(1, 5)]
    assert all(per_shard) and sum(map(len, per_shard)) == 240
    con = duckdb.connect(str(ws / "s2.duckdb"), read_only=True)
    assert con.execute("SELECT group_id, shard_index, shard_count FROM runs").fetchall() == [("nightly-1", 2, 4)]
    con.close()

    code, out, err = cli("merge", *(str(ws / f"s{i}.duckdb") for i in (3, 1, 4, 2)), "--into", str(ws / "all.duckdb"))
    assert code == 0, out + err
    merged, one = _rows(ws / "all.duckdb", "nightly-1"), _rows(ws / "full.duckdb", full)
    assert merged == one  # same case ids, repeats, statuses, verdicts, answers
    assert {r[4] for r in one} == {"ok", "error"}
    con = duckdb.connect(str(ws / "all.duckdb"), read_only=True)
    run_id, status, group, index, count, config = con.execute(
        "SELECT run_id, status, group_id, shard_index, shard_count, config FROM runs").fetchone()
    prices = con.execute("SELECT count(*) FROM run_prices WHERE run_id = 'nightly-1'").fetchone()[0]
    con.close()
    config = json.loads(config)
    assert (run_id, status, group, index, count) == ("nightly-1", "finished", "nightly-1", None, 4)
    assert [s["run_id"] for s in config["shards"]] == ids and config["group"]["complete"]
    assert config["suites"][0]["cases"] == 60 and prices >= 1
    assert all("model_table" in s["config"] for s in config["shards"])

    # merging again, in any order, changes nothing
    before = _dump(ws / "all.duckdb")
    code, out, err = cli("merge", *(str(ws / f"s{i}.duckdb") for i in (1, 2, 3, 4)), "--into", str(ws / "all.duckdb"))
    assert code == 0 and "0 result rows" in out, out + err
    assert _dump(ws / "all.duckdb") == before
    # a merged file merged into another gives the same group
    code, out, err = cli("merge", str(ws / "all.duckdb"), "--into", str(ws / "again.duckdb"))
    assert code == 0, out + err
    assert _dump(ws / "again.duckdb") == before


def test_merge_refuses_conflicts_and_writes_nothing(cli, sharded):
    ws, srv, full, ids = sharded
    code, out, err = cli("merge", str(ws / "s1.duckdb"), str(ws / "s2.duckdb"), "--into", str(ws / "all.duckdb"))
    assert code == 0
    before = _dump(ws / "all.duckdb")
    # another run of shard 1 under the same group: the partition is the same, the run is not
    _run(cli, ws, srv.base_url, "other1.duckdb", "--shard", "1/4", "--group", "nightly-1")
    code, out, err = cli("merge", str(ws / "s3.duckdb"), str(ws / "other1.duckdb"), "--into", str(ws / "all.duckdb"))
    assert code == 2
    assert err.count("\n") == 1 and "has shard 1/4 from run" in err, err
    assert _dump(ws / "all.duckdb") == before  # not even s3 went in
    # partial group: compare refuses it as unfinished
    con = duckdb.connect(str(ws / "all.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    con.close()
    # a changed row under the same key
    shutil.copy(ws / "s3.duckdb", ws / "s3b.duckdb")
    con = duckdb.connect(str(ws / "s3b.duckdb"))
    con.execute("UPDATE results SET output_text = 'changed' WHERE rowid = (SELECT min(rowid) FROM results)")
    con.close()
    code, out, err = cli("merge", str(ws / "s3.duckdb"), "--into", str(ws / "all.duckdb"))
    assert code == 0
    code, out, err = cli("merge", str(ws / "s3b.duckdb"), "--into", str(ws / "all.duckdb"))
    assert code == 2 and "with different" in err and err.count("\n") == 1, err


def test_a_shard_resumes_as_its_own_shard(cli, stub, tmp_path):
    ws = tmp_path
    write_suite(ws / "suites", "polarity.yaml", _suite(40, repeats=1))
    srv = stub(responder=_responder)
    run_id = _run(cli, ws, srv.base_url, "s1.duckdb", "--shard", "1/3", "--group", "g")
    before = _rows(ws / "s1.duckdb")
    con = duckdb.connect(str(ws / "s1.duckdb"))
    con.execute("DELETE FROM results WHERE rowid IN (SELECT rowid FROM results ORDER BY case_id LIMIT 3)")
    con.close()
    code, out, err = cli("run", "--resume", run_id, "--db", str(ws / "s1.duckdb"), "--no-progress")
    assert code == 0, out + err
    assert "shard 1/3 of group g" in out
    assert _rows(ws / "s1.duckdb") == before


# ---- Parquet export and --db DIR ----------------------------------------------------------------


def _normal(v):
    if isinstance(v, str) and v[:1] in "[{":
        v = json.loads(v)
    if isinstance(v, float):
        return float(f"{v:.12g}")
    if isinstance(v, dict):
        return {k: _normal(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_normal(x) for x in v]
    return v


def _metrics_json(html: Path) -> dict:
    m = re.search(r'<script type="application/json" id="metrics-data">(.*?)</script>', html.read_text(), re.S)
    return json.loads(m.group(1))


def test_export_reads_the_same_in_report_compare_route_and_runs(cli, sharded):
    ws, srv, full, ids = sharded
    all_db = ws / "all.duckdb"
    code, out, err = cli("merge", *(str(ws / f"s{i}.duckdb") for i in range(1, 5)), str(ws / "full.duckdb"),
                         "--into", str(all_db))
    assert code == 0, out + err
    code, out, err = cli("export", "--db", str(all_db), "--parquet", str(ws / "history"))
    assert code == 0, out + err
    files = sorted(p.relative_to(ws / "history").as_posix() for p in (ws / "history").rglob("*.parquet"))
    assert f"results/run_id=nightly-1/model={MODEL}/data_0.parquet" in files
    assert f"runs/run_id={full}/data_0.parquet" in files
    assert not list(ws.glob(".history.tmp-*"))
    # another engine reads it as it is: pyarrow's datasets with hive partitioning
    import pyarrow.dataset as ds

    table = ds.dataset(ws / "history" / "results", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 480 and {"run_id", "model", "case_id", "details"} <= set(table.column_names)

    outs = {}
    for name, db in (("file", all_db), ("folder", ws / "history")):
        o = {}
        code, o["runs"], err = cli("runs", "nightly-1", "--json", "--db", str(db))
        assert code == 0, err
        code, o["list"], err = cli("runs", "--json", "--db", str(db))
        assert code == 0, err
        cmp_json = ws / f"cmp-{name}.json"
        code, o["compare"], err = cli("compare", full, "nightly-1", "--db", str(db), "--json", str(cmp_json))
        assert code in (0, 1), err
        o["compare_json"] = cmp_json.read_text()
        code, out, err = cli("report", "nightly-1", "--db", str(db), "-o", str(ws / f"rep-{name}"))
        assert code == 0, err
        o["report"] = _metrics_json(next((ws / f"rep-{name}").glob("nightly-1*.html")))
        code, o["route"], err = cli("route", "train", "--runs", f"{full},nightly-1", "--db", str(db),
                                    "-o", str(ws / f"router-{name}.json"))
        assert code == 0, err
        o["route"] = re.sub(r"in [0-9.]+ s", "in T s", o["route"].replace(str(ws / f"router-{name}.json"), "ROUTER"))
        o["router"] = json.loads((ws / f"router-{name}.json").read_text())
        for volatile in ("created_at", "fit_seconds"):
            o["router"].pop(volatile, None)
        outs[name] = o
    # Identical figures; floats to 12 significant digits: a sum of doubles (cost) changes in its last
    # bits with the order DuckDB reads the rows, and a file and a folder are read in different orders.
    for k in outs["file"]:
        a, b = (_normal(outs[n][k]) for n in ("file", "folder"))
        assert a == b, k
    assert json.loads(outs["file"]["runs"])  # not empty

    # a second export replaces the folder whole; a folder is read-only
    code, out, err = cli("export", "--db", str(all_db), "--parquet", str(ws / "history"))
    assert code == 0, out + err
    code, out, err = cli("rescore", "nightly-1", "--db", str(ws / "history"))
    assert code == 2 and "read-only" in err
    # and merging from the folder gives the file back
    code, out, err = cli("merge", str(ws / "history"), "--into", str(ws / "from-parquet.duckdb"))
    assert code == 0, out + err
    assert _dump(ws / "from-parquet.duckdb") == _dump(all_db)


def test_a_failed_export_leaves_the_previous_one_whole(cli, stub, tmp_path, monkeypatch):
    from evalseed.history import export

    write_suite(tmp_path / "suites", "polarity.yaml", _suite(6, repeats=1))
    srv = stub(responder=_responder)
    _run(cli, tmp_path, srv.base_url, "e.duckdb")
    code, out, err = cli("export", "--db", str(tmp_path / "e.duckdb"), "--parquet", str(tmp_path / "h"))
    assert code == 0, out + err
    before = sorted((p.relative_to(tmp_path).as_posix(), p.stat().st_size) for p in (tmp_path / "h").rglob("*"))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(export.json, "dumps", boom)  # fails after the tables, before the rename
    with pytest.raises(OSError):
        export.export_parquet(str(tmp_path / "e.duckdb"), str(tmp_path / "h"))
    assert sorted((p.relative_to(tmp_path).as_posix(), p.stat().st_size) for p in (tmp_path / "h").rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".h.")] == []
    # a folder that is no export is refused in one sentence, not read
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    code, out, err = cli("runs", "--db", str(tmp_path / "other"))
    assert code == 2 and "not an evalseed Parquet export" in err
    code, out, err = cli("export", "--db", str(tmp_path / "e.duckdb"), "--parquet", str(tmp_path / "other"))
    assert code == 2 and "is not an evalseed Parquet export" in err
