"""The DuckDB file: schema, numbered migrations, batched writes, and the lookups commands share.

One writer per file (DuckDB locks it); rows arrive in batches through Arrow, never a row per
INSERT. Every flush is one transaction, so a killed process leaves whole batches or nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson

from .errors import StoreFailed, UsageError

RESULT_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "VARCHAR"),
    ("suite", "VARCHAR"),
    ("case_id", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("model", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("repeat", "INTEGER"),
    ("status", "VARCHAR"),
    ("error", "VARCHAR"),
    ("input_text", "VARCHAR"),
    ("request", "JSON"),
    ("response", "JSON"),
    ("output_text", "VARCHAR"),
    ("score", "DOUBLE"),
    ("passed", "BOOLEAN"),
    ("details", "JSON"),
    ("latency_ms", "DOUBLE"),
    ("ttft_ms", "DOUBLE"),
    ("output_tps", "DOUBLE"),
    ("prompt_tokens", "INTEGER"),
    ("completion_tokens", "INTEGER"),
    ("reasoning_tokens", "INTEGER"),
    ("cached_tokens", "INTEGER"),
    ("images", "INTEGER"),
    ("cost_usd", "DOUBLE"),
    ("attempts", "INTEGER"),
    ("replayed", "BOOLEAN"),
    ("started_at", "TIMESTAMP"),
    ("finished_at", "TIMESTAMP"),
]
RESULT_NAMES = [c for c, _ in RESULT_COLUMNS]
JSON_COLUMNS = {c for c, t in RESULT_COLUMNS if t == "JSON"}
KEY_COLUMNS = ("suite", "case_id", "model", "repeat")


def _m1(con) -> None:
    con.execute(
        """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            started_at TIMESTAMP,
            finished_at TIMESTAMP,
            status VARCHAR,
            label VARCHAR,
            git_sha VARCHAR,
            evalseed_version VARCHAR,
            config JSON
        )"""
    )
    cols = ",\n".join(f'"{c}" {t}' for c, t in RESULT_COLUMNS)
    con.execute(f"CREATE TABLE results ({cols})")
    con.execute(
        """
        CREATE TABLE run_prices (
            run_id VARCHAR, model VARCHAR, as_of VARCHAR,
            input DOUBLE, cached_input DOUBLE, output DOUBLE,
            long_input DOUBLE, long_output DOUBLE, per_image DOUBLE
        )"""
    )


def _m2_run_shards(con) -> None:
    """`run --shard I/N` (issue 19): the shard and the run group it belongs to; NULL for other runs."""
    con.execute("ALTER TABLE runs ADD COLUMN group_id VARCHAR")
    con.execute("ALTER TABLE runs ADD COLUMN shard_index INTEGER")
    con.execute("ALTER TABLE runs ADD COLUMN shard_count INTEGER")


# Append only: a migration, once released, never changes; a new one goes at the end.
MIGRATIONS: list[Callable] = [_m1, _m2_run_shards]
SCHEMA_VERSION = len(MIGRATIONS)


def _connect(path: str, read_only: bool, wait_s: float):
    import duckdb

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as e:
            msg = str(e)
            if "lock" in msg.lower():
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise UsageError(
                    f"{path}: the database is in use by another evalseed process; wait for it to finish or use --db."
                ) from None
            raise UsageError(f"{path}: cannot open as a DuckDB database ({msg.splitlines()[0]}).") from None
        except duckdb.Error as e:
            raise UsageError(
                f"{path}: not a readable DuckDB database ({str(e).splitlines()[0]}); move it away or pass another --db."
            ) from None


def _check_complete(con, path: str) -> None:
    """Refuse a file cut short (a partial copy, a full disk): DuckDB opens it and only fails at the
    first read of a missing block, mid-command. The header says how many blocks the file holds."""
    try:
        # used_blocks, not total_blocks: a checkpoint shrinks the file when its last blocks are
        # free, while total_blocks still counts them (a valid file then looks "truncated").
        block_size, total_blocks = con.execute(
            "SELECT block_size, used_blocks FROM pragma_database_size() LIMIT 1").fetchone()
        size = Path(path).stat().st_size
    except Exception:  # an attached WAL-only state or an odd build: nothing to compare against
        return
    if block_size and total_blocks and size < block_size * total_blocks:
        con.close()
        raise UsageError(
            f"{path}: the DuckDB file is truncated ({size:,} bytes, its header expects at least "
            f"{block_size * total_blocks:,}); restore it from a copy or pass another --db."
        )


def migrate(con) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMP)")
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    current = row[0] or 0
    if current > SCHEMA_VERSION:
        raise UsageError(
            f"the database has schema version {current}, newer than this evalseed ({SCHEMA_VERSION}); upgrade evalseed."
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            MIGRATIONS[version - 1](con)
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, _now()])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def open_db(path: str | Path, *, read_only: bool = False, wait_s: float = 10.0):
    """A connection with the schema up to date. Read-only opens of a missing file are an error."""
    path = str(path)
    if Path(path).is_dir():  # a Parquet history folder (`evalseed export --parquet`), read in place
        from .history.export import open_folder

        if not read_only:
            raise UsageError(f"{path}: a Parquet history folder is read-only; merge it into a DuckDB file to write.")
        return open_folder(path)
    if read_only and not Path(path).exists():
        raise UsageError(f"{path}: no such database; run `evalseed run` first or pass --db.")
    if read_only:
        con = _connect(path, True, wait_s)
        _check_complete(con, path)
        try:
            v = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        except Exception:
            con.close()
            raise UsageError(f"{path}: not an evalseed database (no schema_version table).") from None
        if v is None or v < SCHEMA_VERSION:
            # An older file: upgrade it in place (migrations are cheap), then reopen read-only.
            con.close()
            con = _connect(path, False, wait_s)
            migrate(con)
            con.close()
            con = _connect(path, True, wait_s)
        return con
    con = _connect(path, False, wait_s)
    _check_complete(con, path)
    try:
        migrate(con)
    except UsageError:
        con.close()
        raise
    except Exception as e:
        con.close()
        raise UsageError(f"{path}: cannot prepare the database ({str(e).splitlines()[0]}).") from None
    return con


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# Serialising the JSON columns was half the CPU of a batch write with json.dumps; orjson does it
# 4x faster. The options make its output match json.dumps(ensure_ascii=False, compact,
# default=str) value for value: datetimes and dataclasses go through str() as before, non-string
# keys become strings. Anything orjson refuses (an int past 64 bits...) takes the json path.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _json(v: Any) -> str | None:
    if v is None:
        return None
    try:
        return orjson.dumps(v, default=str, option=_ORJSON_OPTS).decode()
    except (TypeError, ValueError):
        return _ENCODE(v)


class ResultWriter:
    """Collects result rows and writes them in one transaction per batch.

    `replace_keys` are (suite, case_id, model, repeat) keys whose existing rows (a resumed run's
    errors) are deleted in the same transaction that inserts their new row, so a case never has
    two rows and never none.
    """

    def __init__(self, con, run_id: str, *, batch_rows: int = 2000, replace_keys: Iterable[tuple] = (),
                 where: str = "the database"):
        self.con = con
        self.run_id = run_id
        self.where = where
        self.batch_rows = batch_rows
        self.replace_keys = set(replace_keys)
        self._rows: list[dict] = []
        self.written = 0
        # The last write's error while the database refuses rows; None once a write succeeds.
        self.failed: StoreFailed | None = None

    @property
    def pending(self) -> int:
        return len(self._rows)

    def add(self, row: dict) -> None:
        self._rows.append(row)
        # While the database refuses rows, answers wait in memory for the next explicit flush.
        if self.failed is None and len(self._rows) >= self.batch_rows:
            self.flush()

    def flush(self) -> int:
        if not self._rows:
            return 0
        import pyarrow as pa

        rows, self._rows = self._rows, []
        # Column by column: one comprehension per column is several times cheaper than a
        # Python-level loop over rows x columns.
        columns: dict[str, list] = {
            c: [_json(r.get(c)) for r in rows] if c in JSON_COLUMNS else [r.get(c) for r in rows]
            for c in RESULT_NAMES
        }
        types = _arrow_types()
        table = pa.table({c: _arrow_array(columns[c], types[c]) for c in RESULT_NAMES})
        replace = [
            (r["suite"], r["case_id"], r["model"], r["repeat"])
            for r in rows
            if (r["suite"], r["case_id"], r["model"], r["repeat"]) in self.replace_keys
        ]
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for key in replace:
                con.execute(
                    'DELETE FROM results WHERE run_id = ? AND suite = ? AND case_id = ? AND model = ? AND "repeat" = ?',
                    [self.run_id, *key],
                )
            con.register("_evalseed_batch", table)
            cols = ", ".join(f'"{c}"' for c in RESULT_NAMES)
            con.execute(f"INSERT INTO results ({cols}) SELECT {cols} FROM _evalseed_batch")
            con.unregister("_evalseed_batch")
            con.execute("COMMIT")
        except BaseException as e:
            # A failed COMMIT has already ended the transaction; ROLLBACK then fails too and must
            # not hide the first error.
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            self._rows = rows + self._rows
            if isinstance(e, Exception):
                reason = (str(e).strip().splitlines() or [type(e).__name__])[-1]
                self.failed = StoreFailed(f"{self.where} could not take {len(self._rows)} answered rows ({reason})")
                raise self.failed from e
            raise
        self.failed = None
        self.replace_keys.difference_update(replace)
        self.written += len(rows)
        return len(rows)

    def spill(self, folders: Iterable[Path], name: str) -> Path | None:
        """Save the rows the database would not take as JSON lines in the first folder that takes
        them (the database's folder, then elsewhere: the disk may be full); `recover` reads them
        back on --resume. None when no folder could."""
        data = b"".join(orjson.dumps({c: r.get(c) for c in RESULT_NAMES}, default=str,
                                     option=_ORJSON_OPTS & ~orjson.OPT_PASSTHROUGH_DATETIME) + b"\n"
                        for r in self._rows)
        for folder in folders:
            target = Path(folder) / name
            tmp = target.with_name(target.name + ".tmp")
            try:
                old = target.read_bytes() if target.exists() else b""
                tmp.write_bytes(old + data)
                os.replace(tmp, target)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                continue
            self._rows = []
            return target
        return None


def _arrow_array(values: list, typ):
    import pyarrow as pa

    try:
        return pa.array(values, type=typ)
    except (UnicodeEncodeError, pa.ArrowException, TypeError, ValueError, OverflowError):
        # One odd value must not fail the batch and every row in it: a lone surrogate (half an
        # emoji, as a token stream can send) becomes U+FFFD, a list where text belongs (content
        # parts) its JSON, a number out of range or of the wrong type NULL.
        return pa.array([_coerce(v, typ) for v in values], type=typ)


def _utf8_safe(v: Any) -> Any:
    return v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if isinstance(v, str) else v


def _coerce(v: Any, typ) -> Any:
    import pyarrow as pa

    if v is None:
        return None
    if pa.types.is_string(typ):
        return _utf8_safe(v if isinstance(v, str) else _json(v))
    if pa.types.is_boolean(typ):
        return v if isinstance(v, bool) else None
    if pa.types.is_integer(typ):
        return v if isinstance(v, int) and not isinstance(v, bool) and -2 ** 63 <= v < 2 ** 63 else None
    if pa.types.is_floating(typ):
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e308 else None
    if pa.types.is_timestamp(typ):
        return v if isinstance(v, datetime) else None
    return None


@lru_cache(maxsize=1)
def _arrow_types() -> dict:
    import pyarrow as pa

    m = {
        "VARCHAR": pa.string(),
        "JSON": pa.string(),
        "INTEGER": pa.int64(),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "TIMESTAMP": pa.timestamp("us"),
    }
    return {c: m[t] for c, t in RESULT_COLUMNS}


# ---- runs -------------------------------------------------------------------------------------


def new_run_id() -> str:
    """`YYYYMMDD-HHMMSS-xxxxxx`: sorts by start time, unique enough to merge databases."""
    import secrets

    return _now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def insert_run(con, run_id: str, *, label: str | None, git_sha: str | None, version: str, config: dict) -> None:
    con.execute(
        "INSERT INTO runs (run_id, started_at, finished_at, status, label, git_sha, evalseed_version, config) "
        "VALUES (?, ?, NULL, 'running', ?, ?, ?, ?)",
        [run_id, _now(), label, git_sha, version, _json(config)],
    )


def insert_prices(con, run_id: str, prices: dict) -> None:
    rows = [
        [run_id, model, prices.get("as_of"), p.get("input"), p.get("cached_input"), p.get("output"),
         p.get("long_input"), p.get("long_output"), p.get("per_image")]
        for model, p in prices["models"].items()
    ]
    if rows:
        con.executemany("INSERT INTO run_prices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def unsaved_file_name(db_path: str | Path, run_id: str) -> str:
    return f"{Path(db_path).name}.{run_id}.unsaved.jsonl"


def recover(con, run_id: str, files: Iterable[Path]) -> int:
    """Store the rows an earlier attempt saved beside the database (ResultWriter.spill), each
    replacing any row of the same case, then remove the file. Returns the rows stored."""
    total = 0
    timestamps = [c for c, t in RESULT_COLUMNS if t == "TIMESTAMP"]
    for path in files:
        if not path.is_file():
            continue
        rows = []
        for line in path.read_bytes().splitlines():
            if line.strip():
                row = orjson.loads(line)
                for c in timestamps:
                    if isinstance(row.get(c), str):
                        row[c] = datetime.fromisoformat(row[c])
                rows.append(row)
        writer = ResultWriter(con, run_id, replace_keys={(r["suite"], r["case_id"], r["model"], r["repeat"]) for r in rows})
        for row in rows:
            writer.add(row)
        writer.flush()
        path.unlink()
        total += len(rows)
    return total


def finish_run(con, run_id: str, status: str) -> None:
    con.execute("UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?", [_now(), status, run_id])


def add_to_run_config(con, run_id: str, key: str, value: Any) -> None:
    """Record something learnt during the run (e.g. why a sequential gate stopped) in its config."""
    config = run_config(con, run_id)
    config[key] = value
    con.execute("UPDATE runs SET config = ? WHERE run_id = ?", [_json(config), run_id])


def set_run_status(con, run_id: str, status: str) -> None:
    con.execute("UPDATE runs SET status = ?, finished_at = NULL WHERE run_id = ?", [status, run_id])


def resolve_run(con, ref: str | None) -> str:
    """A run id from `latest`, None (= latest), a full id or a unique prefix."""
    if ref in (None, "", "latest"):
        row = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        if not row:
            raise UsageError("the database holds no runs yet; run `evalseed run` first.")
        return row[0]
    rows = con.execute("SELECT run_id FROM runs WHERE run_id LIKE ? || '%' ORDER BY run_id", [ref]).fetchall()
    if not rows:
        raise UsageError(f"no run {ref!r} in the database; `evalseed runs` lists them.")
    exact = [r[0] for r in rows if r[0] == ref]
    if exact:
        return exact[0]
    if len(rows) > 1:
        raise UsageError(f"run id prefix {ref!r} is ambiguous ({len(rows)} runs); give more characters.")
    return rows[0][0]


def run_config(con, run_id: str) -> dict:
    row = con.execute("SELECT config FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if not row:
        raise UsageError(f"no run {run_id!r} in the database.")
    return json.loads(row[0]) if row[0] else {}


def stored_keys(con, run_id: str) -> tuple[set[tuple], set[tuple]]:
    """(keys with a final row, keys whose row is an error) for a run, for --resume."""
    done: set[tuple] = set()
    errors: set[tuple] = set()
    for suite, case_id, model, rep, status in con.execute(
        'SELECT suite, case_id, model, "repeat", status FROM results WHERE run_id = ?', [run_id]
    ).fetchall():
        key = (suite, case_id, model, rep)
        (errors if status == "error" else done).add(key)
    return done, errors


def fetch_rows(con, where: str = "TRUE", params: list | None = None, columns: list[str] | None = None) -> list[dict]:
    """Result rows as dicts, JSON columns parsed. For modest row counts (metrics, drill-down)."""
    cols = columns or RESULT_NAMES
    sel = ", ".join(f'"{c}"' for c in cols)
    cur = con.execute(f"SELECT {sel} FROM results WHERE {where}", params or [])
    out = []
    for rec in cur.fetchall():
        d = dict(zip(cols, rec))
        for c in JSON_COLUMNS.intersection(cols):
            if d[c] is not None:
                d[c] = json.loads(d[c])
        out.append(d)
    return out
