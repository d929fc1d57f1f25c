"""`evalseed export --parquet DIR` and `--db DIR` for the readers.

The folder holds `runs/`, `run_prices/` and `results/` as Parquet in hive layout
(`results/run_id=.../model=.../data_0.parquet`; `runs/run_id=...`), plus `evalseed-history.json`
(schema version, tables, row counts). DuckDB, Spark, Trino, BigQuery and pandas read it as it is.
`open_folder` gives the readers an in-memory DuckDB whose views carry the tables' names, columns,
order and types, so report, compare, route and runs read a folder exactly as they read a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

from ..errors import UsageError

MARKER = "evalseed-history.json"
TABLES = {"runs": ("run_id",), "run_prices": ("run_id", "model"), "results": ("run_id", "model")}


def _schema() -> dict[str, list[tuple[str, str]]]:
    """Columns and types of each table, from the migrations themselves (an in-memory database)."""
    import duckdb

    from .. import store

    con = duckdb.connect()
    try:
        store.migrate(con)
        return {t: [(r[0], r[1]) for r in con.execute(f"DESCRIBE {t}").fetchall()] for t in TABLES}
    finally:
        con.close()


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def export_parquet(db: str, folder: str) -> dict:
    """Write the folder next to its final place, then rename it there: readers see the old
    folder or the new one, never half of one. Returns the row counts."""
    from .. import store

    target = Path(folder).resolve()
    if target.exists() and not (target / MARKER).exists() and any(target.iterdir()):
        raise UsageError(f"{folder}: exists and is not an evalseed Parquet export; pass an empty or new folder.")
    con = store.open_db(db, read_only=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{int(time.time() * 1000)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        counts = {}
        tmp.mkdir()
        for table, parts in TABLES.items():
            n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            counts[table] = n
            if n:
                cols = ", ".join(parts)
                con.execute(f"COPY (SELECT * FROM {table} ORDER BY {cols}) TO {_sql_str(str(tmp / table))} "
                            f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({cols}))")
        (tmp / MARKER).write_text(json.dumps({
            "format": "evalseed history", "schema_version": store.SCHEMA_VERSION,
            "tables": {t: {"partitioned_by": list(p), "rows": counts[t]} for t, p in TABLES.items()},
        }, indent=2) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        con.close()
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{int(time.time() * 1000)}")
        os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return counts


def folder_views(con, folder: str | Path, prefix: str = "") -> None:
    """Create temporary views `{prefix}runs`, `{prefix}run_prices`, `{prefix}results` over an export folder
    in `con`, with the tables' columns in order and their types (an empty table stays empty)."""
    root = Path(folder)
    meta_path = root / MARKER
    if not meta_path.is_file():
        raise UsageError(f"{folder}: a folder, but not an evalseed Parquet export (no {MARKER}); "
                         "write one with `evalseed export --parquet DIR`.")
    from .. import store

    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if int(meta.get("schema_version", 0)) > store.SCHEMA_VERSION:
        raise UsageError(f"{folder}: exported by a newer evalseed (schema {meta['schema_version']}); upgrade evalseed.")
    for table, columns in _schema().items():
        files = root / table
        if any(files.rglob("*.parquet")) if files.is_dir() else False:
            glob = _sql_str(str(files / "**" / "*.parquet"))
            hive = ", ".join(f"{p}: VARCHAR" for p in TABLES[table])
            src = f"read_parquet({glob}, hive_partitioning = true, hive_types = {{{hive}}}, union_by_name = true)"
            have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
            sel = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' if c in have else f'CAST(NULL AS {t}) AS "{c}"'
                            for c, t in columns)
            con.execute(f"CREATE TEMP VIEW {prefix}{table} AS SELECT {sel} FROM {src}")
        else:
            sel = ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in columns)
            con.execute(f"CREATE TEMP VIEW {prefix}{table} AS SELECT {sel} WHERE FALSE")


def open_folder(folder: str | Path):
    """An in-memory DuckDB connection reading an export folder in place, for the read-only commands."""
    import duckdb

    from .. import store

    con = duckdb.connect()
    try:
        folder_views(con, folder)
        con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
        con.execute("INSERT INTO schema_version VALUES (?, NULL)", [store.SCHEMA_VERSION])
    except BaseException:
        with contextlib.suppress(Exception):
            con.close()
        raise
    return con
