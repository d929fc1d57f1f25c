"""Opening the DuckDB file: one writer per file (DuckDB locks it, so a second process waits a
little, then is refused), a file cut short refused before any read, the schema brought up to date."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .migrations import SCHEMA_VERSION, migrate


def _connect(path: str, read_only: bool, wait_s: float) -> Any:
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


def _check_complete(con: Any, path: str) -> None:
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


def open_db(path: str | Path, *, read_only: bool = False, wait_s: float = 10.0) -> Any:
    """A connection with the schema up to date. Read-only opens of a missing file are an error."""
    path = str(path)
    if Path(path).is_dir():  # a Parquet history folder (`evalseed export --parquet`), read in place
        from ..history.export import open_folder

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

