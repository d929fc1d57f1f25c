"""`evalseed merge A.duckdb B.duckdb DIR/ ... --into all.duckdb`.

Every source (a DuckDB file or a Parquet export folder) is read in the target's own connection
(ATTACH ... READ_ONLY, or views over the folder) and copied in one transaction: all of it or,
on a conflict, nothing.

- A run that is no shard is copied as it is (every column of `runs`, `results`, `run_prices`).
- The shards of a group fold into one run whose id is the group id: its results are the shards'
  rows under that id, its `config` the first shard's with `group` (id, count, shards present,
  complete) and `shards` (per shard: run id, status, times, label, git sha, version and its whole
  config), and its prices the shards' (which must agree). Report, compare and route then read the
  group as one run. Until every shard is in, the group's status is `interrupted`, so compare
  refuses it; once complete it is the worst of the shards' statuses.
- A row already present and equal is left alone (merging twice changes nothing); a row present
  with other values is a conflict: the merge stops with one sentence and exit 2.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError

RUN_COLUMNS = ("run_id", "started_at", "finished_at", "status", "label", "git_sha", "evalseed_version", "config",
               "group_id", "shard_index", "shard_count")
STATUS_RANK = {"aborted": 0, "budget": 1, "interrupted": 2, "running": 3, "finished": 4}


def _q(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str, sort_keys=True)


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, datetime) else (str(v) if v is not None else None)


class _Source:
    """Where one source's three tables are, as names the target connection can read."""

    def __init__(self, con, index: int, path: str):
        from .export import folder_views

        self.path = path
        p = Path(path)
        if p.is_dir():
            folder_views(con, p, prefix=f"_src{index}_")
            self.tables = {t: f"_src{index}_{t}" for t in ("runs", "run_prices", "results")}
            self.alias = None
        elif p.is_file():
            self.alias = f"_src{index}"
            try:
                con.execute(f"ATTACH {_q(str(p))} AS {self.alias} (READ_ONLY)")
            except Exception as e:
                raise UsageError(f"{path}: cannot open it as a DuckDB database ({str(e).splitlines()[0]}).") from None
            try:
                v = con.execute(f"SELECT max(version) FROM {self.alias}.schema_version").fetchone()[0]
            except Exception:
                raise UsageError(f"{path}: not an evalseed database (no schema_version table).") from None
            from .. import store

            if v is not None and v > store.SCHEMA_VERSION:
                raise UsageError(f"{path}: schema version {v} is newer than this evalseed ({store.SCHEMA_VERSION}); "
                                 "upgrade evalseed.")
            self.tables = {t: f"{self.alias}.{t}" for t in ("runs", "run_prices", "results")}
        else:
            raise UsageError(f"{path}: no such file or folder.")
        have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {self.tables['runs']}").fetchall()}
        self.run_select = ", ".join(f'"{c}"' if c in have else f'NULL AS "{c}"' for c in RUN_COLUMNS)

    def detach(self, con) -> None:
        if self.alias:
            with contextlib.suppress(Exception):
                con.execute(f"DETACH {self.alias}")


def merge(sources: list[str], into: str) -> dict[str, int]:
    """Merge the sources into `into` (created if missing). Returns counts of what was added."""
    from .. import store

    if not sources:
        raise UsageError("name at least one DuckDB file or Parquet folder to merge.")
    target = Path(into).resolve()
    for s in sources:
        if Path(s).resolve() == target:
            raise UsageError(f"{s}: is the --into file itself; name other sources.")
    if target.is_dir():
        raise UsageError(f"{into}: --into takes a DuckDB file; export a folder from it with `evalseed export`.")
    created = not target.exists()
    con = store.open_db(into)
    added = {"runs": 0, "results": 0, "run_prices": 0, "groups": 0}
    attached: list[_Source] = []
    ok = False
    try:
        raw = con.execute("SELECT min(run_id) FROM runs WHERE shard_index IS NOT NULL").fetchone()[0]
        if raw:
            raise UsageError(f"{into}: holds shard run {raw} itself; merge the shard files into a new file instead.")
        attached = [_Source(con, i, s) for i, s in enumerate(sources)]
        con.execute("BEGIN TRANSACTION")
        try:
            for src in attached:
                _merge_source(con, src, added, into)
            con.execute("COMMIT")
            ok = True
        except BaseException:
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            raise
    finally:
        for src in attached:
            src.detach(con)
        con.close()
        if created and not ok:  # a refused merge into a new file leaves no empty file behind
            for leftover in (target, target.with_name(target.name + ".wal")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
    return added


def _runs_of(con, table: str, select: str, where: str = "TRUE", params: list | None = None) -> list[dict]:
    cur = con.execute(f"SELECT {select} FROM {table} WHERE {where} ORDER BY run_id", params or [])
    return [dict(zip(RUN_COLUMNS, r)) for r in cur.fetchall()]


def _target_run(con, run_id: str) -> dict | None:
    rows = _runs_of(con, "runs", ", ".join(f'"{c}"' for c in RUN_COLUMNS), "run_id = ?", [run_id])
    return rows[0] if rows else None


def _config(run: dict) -> dict:
    c = run.get("config")
    return json.loads(c) if isinstance(c, str) and c else (c or {})


def _merge_source(con, src: _Source, added: dict, into: str) -> None:
    for run in _runs_of(con, src.tables["runs"], src.run_select):
        if run["shard_index"] is not None:
            entry = _entry(run)
            _fold(con, run["group_id"], int(run["shard_count"]), [entry], src, into, added)
            _copy_rows(con, src, run["run_id"], run["group_id"], into, added)
            continue
        config = _config(run)
        if "group" in config and "shards" in config:  # a merged group from another merged file
            _fold(con, run["run_id"], int(config["group"]["count"]), config["shards"], src, into, added)
        else:
            _copy_run(con, run, src, into, added)
        _copy_rows(con, src, run["run_id"], run["run_id"], into, added)


def _entry(run: dict) -> dict:
    return {"index": int(run["shard_index"]), "run_id": run["run_id"], "status": run["status"],
            "started_at": _iso(run["started_at"]), "finished_at": _iso(run["finished_at"]), "label": run["label"],
            "git_sha": run["git_sha"], "evalseed_version": run["evalseed_version"], "config": _config(run)}


def _copy_run(con, run: dict, src: _Source, into: str, added: dict) -> None:
    have = _target_run(con, run["run_id"])
    if have is None:
        cols = ", ".join(f'"{c}"' for c in RUN_COLUMNS)
        con.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' for _ in RUN_COLUMNS)})",
                    [_dumps(_config(run)) if c == "config" and not isinstance(run[c], str) else run[c]
                     for c in RUN_COLUMNS])
        added["runs"] += 1
        return
    differ = [c for c in RUN_COLUMNS
              if (_config(have) != _config(run) if c == "config" else _iso(have[c]) != _iso(run[c]))]
    if differ:
        raise UsageError(f"run {run['run_id']} is in {into} and in {src.path} with different {', '.join(differ)}; "
                         "nothing was merged (finish or remove one of them, then merge again).")


def _fold(con, group: str, count: int, entries: list[dict], src: _Source, into: str, added: dict) -> None:
    """Add shard entries to the group's run, checking them against the shards already there."""
    have = _target_run(con, group)
    if have is not None:
        cfg = _config(have)
        if "group" not in cfg:
            raise UsageError(f"{src.path}: shard group {group} has the id of run {group} in {into}, which is no "
                             "shard group; nothing was merged.")
        current = {int(e["index"]): e for e in cfg.get("shards", [])}
        if int(cfg["group"]["count"]) != count:
            raise UsageError(f"{src.path}: group {group} is split into {count} shards there and into "
                             f"{cfg['group']['count']} in {into}; nothing was merged.")
    else:
        current = {}
        added["groups"] += 1
    for e in entries:
        i = int(e["index"])
        old = current.get(i)
        if old is None:
            current[i] = e
        elif old["run_id"] != e["run_id"]:
            raise UsageError(f"group {group} has shard {i}/{count} from run {old['run_id']} in {into} and from run "
                             f"{e['run_id']} in {src.path}; nothing was merged (use another --group per run).")
        elif _dumps(old) != _dumps(e):
            raise UsageError(f"shard {i}/{count} of group {group} (run {e['run_id']}) differs between {into} and "
                             f"{src.path} (resumed after it was merged?); nothing was merged: merge into a new file.")
    partitions = {(e["config"].get("shard") or {}).get("partition") for e in current.values()}
    if len(partitions) > 1:
        raise UsageError(f"the shards of group {group} were planned from different suites or models; "
                         "nothing was merged.")
    _write_group(con, group, count, [current[i] for i in sorted(current)])


def _write_group(con, group: str, count: int, entries: list[dict]) -> None:
    first = entries[0]
    config = {k: v for k, v in first["config"].items() if k != "shard"}
    shard_rec = first["config"].get("shard") or {}
    full = shard_rec.get("suite_cases") or {}
    config["suites"] = [dict(s, cases=full.get(s.get("name"), s.get("cases"))) for s in config.get("suites", [])]
    present = [int(e["index"]) for e in entries]
    complete = present == list(range(1, count + 1))
    config["group"] = {"id": group, "count": count, "present": present, "complete": complete,
                       "partition": shard_rec.get("partition")}
    config["shards"] = entries
    if complete:
        status = min((e["status"] for e in entries), key=lambda s: STATUS_RANK.get(s, -1))
    else:
        status = "interrupted"
    finished = [e["finished_at"] for e in entries]
    finished_at = max(finished) if complete and all(finished) else None
    started_at = min(e["started_at"] for e in entries if e["started_at"])
    con.execute("DELETE FROM runs WHERE run_id = ?", [group])
    cols = ", ".join(f'"{c}"' for c in RUN_COLUMNS)
    con.execute(f"INSERT INTO runs ({cols}) VALUES (?, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), ?, ?, ?, ?, ?, ?, NULL, ?)",
                [group, started_at, finished_at, status, first["label"], first["git_sha"],
                 first["evalseed_version"], _dumps(config), group, count])


def _copy_rows(con, src: _Source, src_run: str, run_id: str, into: str, added: dict) -> None:
    from .. import store

    names = store.RESULT_NAMES
    keys = ("suite", "case_id", "model", "repeat")
    sel = ", ".join("CAST(? AS VARCHAR) AS run_id" if c == "run_id" else f's."{c}"' for c in names)
    incoming = f"(SELECT {sel} FROM {src.tables['results']} s WHERE s.run_id = ?)"
    params = [run_id, src_run]
    on = " AND ".join(f'i."{k}" IS NOT DISTINCT FROM t."{k}"' for k in keys)
    same = " AND ".join(f'CAST(i."{c}" AS VARCHAR) IS NOT DISTINCT FROM CAST(t."{c}" AS VARCHAR)'
                        for c in names if c not in keys and c != "run_id")
    bad = con.execute(f"SELECT count(*), min(i.suite || '/' || i.case_id || ' ' || i.model || ' repeat ' || i.\"repeat\") "
                      f"FROM {incoming} i JOIN results t ON t.run_id = i.run_id AND {on} WHERE NOT ({same})",
                      params).fetchone()
    if bad[0]:
        raise UsageError(f"run {run_id}: {bad[0]} result rows (first {bad[1]}) are in {into} and in {src.path} with "
                         "different values; nothing was merged.")
    cols = ", ".join(f'"{c}"' for c in names)
    n = con.execute(f"INSERT INTO results ({cols}) SELECT {cols} FROM {incoming} i WHERE NOT EXISTS "
                    f"(SELECT 1 FROM results t WHERE t.run_id = i.run_id AND {on})", params).fetchone()[0]
    added["results"] += n
    pcols = ("model", "as_of", "input", "cached_input", "output", "long_input", "long_output", "per_image")
    psel = ", ".join(f'p."{c}"' for c in pcols)
    prices = con.execute(f"SELECT {psel} FROM {src.tables['run_prices']} p WHERE p.run_id = ? ORDER BY p.model",
                         [src_run]).fetchall()
    for row in prices:
        have = con.execute(f"SELECT {', '.join(pcols)} FROM run_prices WHERE run_id = ? AND model = ?",
                           [run_id, row[0]]).fetchall()
        if not have:
            con.execute("INSERT INTO run_prices (run_id, " + ", ".join(pcols) + ") VALUES (?" + ", ?" * len(pcols) + ")",
                        [run_id, *row])
            added["run_prices"] += 1
        elif tuple(have[0]) != tuple(row):
            raise UsageError(f"run {run_id}: the prices of {row[0]} differ between {into} and {src.path}; "
                             "nothing was merged.")
