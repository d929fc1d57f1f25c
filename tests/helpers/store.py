"""Reading what a run stored, read-only, through the documented tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence


def select(db: Path | str, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """The rows of one query on a DuckDB file opened read-only (and closed again)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def result_rows(db, where: str = "TRUE", parse_json: bool = False) -> list[dict]:
    """Rows of the `results` table as dicts, in (suite, case, model, repeat) order; JSON columns
    parsed when asked."""
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
