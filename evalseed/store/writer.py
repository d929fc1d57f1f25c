"""Writing: result rows in batches through Arrow (never a row per INSERT), each flush one
transaction, so a killed process leaves whole batches or nothing; rows the database refuses are
spilled beside it and recovered on --resume; and the writes on `runs` and `run_prices`."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import orjson

from ..errors import StoreFailed
from .queries import run_config
from .schema import JSON_COLUMNS, RESULT_COLUMNS, RESULT_NAMES, TIMESTAMP_COLUMNS, now

# Serialising the JSON columns was half the CPU of a batch write with json.dumps; orjson does it
# 4x faster. The options make its output match json.dumps(ensure_ascii=False, compact,
# default=str) value for value: datetimes and dataclasses go through str() as before, non-string
# keys become strings. Anything orjson refuses (an int past 64 bits...) takes the json path.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def to_json(v: Any) -> str | None:
    """A value for a JSON column (None stays NULL)."""
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
            c: [to_json(r.get(c)) for r in rows] if c in JSON_COLUMNS else [r.get(c) for r in rows]
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
        return _utf8_safe(v if isinstance(v, str) else to_json(v))
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
    return now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def insert_run(con: Any, run_id: str, *, label: str | None, git_sha: str | None, version: str, config: dict) -> None:
    con.execute(
        "INSERT INTO runs (run_id, started_at, finished_at, status, label, git_sha, evalseed_version, config) "
        "VALUES (?, ?, NULL, 'running', ?, ?, ?, ?)",
        [run_id, now(), label, git_sha, version, to_json(config)],
    )


def insert_prices(con: Any, run_id: str, prices: dict) -> None:
    rows = [
        [run_id, model, prices.get("as_of"), p.get("input"), p.get("cached_input"), p.get("output"),
         p.get("long_input"), p.get("long_output"), p.get("per_image")]
        for model, p in prices["models"].items()
    ]
    if rows:
        con.executemany("INSERT INTO run_prices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def finish_run(con: Any, run_id: str, status: str) -> None:
    con.execute("UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?", [now(), status, run_id])


def add_to_run_config(con: Any, run_id: str, key: str, value: Any) -> None:
    """Record something learnt during the run (e.g. why a sequential gate stopped) in its config."""
    config = run_config(con, run_id)
    config[key] = value
    con.execute("UPDATE runs SET config = ? WHERE run_id = ?", [to_json(config), run_id])


def set_run_status(con: Any, run_id: str, status: str) -> None:
    con.execute("UPDATE runs SET status = ?, finished_at = NULL WHERE run_id = ?", [status, run_id])


def set_run_times(con: Any, run_id: str, *, started_at: datetime | None = None,
                  finished_at: datetime | None = None) -> None:
    """Set a run's start and/or end time (synthetic runs for benchmarks and demos)."""
    if started_at is not None:
        con.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", [started_at, run_id])
    if finished_at is not None:
        con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [finished_at, run_id])


def delete_run(con: Any, run_id: str) -> None:
    """Remove a run and its results (a failed import's partial run)."""
    con.execute("DELETE FROM results WHERE run_id = ?", [run_id])
    con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])


# ---- rows saved beside the database -----------------------------------------------------------


def unsaved_file_name(db_path: str | Path, run_id: str) -> str:
    return f"{Path(db_path).name}.{run_id}.unsaved.jsonl"


def recover(con: Any, run_id: str, files: Iterable[Path]) -> int:
    """Store the rows an earlier attempt saved beside the database (ResultWriter.spill), each
    replacing any row of the same case, then remove the file. Returns the rows stored."""
    total = 0
    for path in files:
        if not path.is_file():
            continue
        rows = []
        for line in path.read_bytes().splitlines():
            if line.strip():
                row = orjson.loads(line)
                for c in TIMESTAMP_COLUMNS:
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
