"""Small helpers the report's data modules share (`data`, `drilldown`, the kinds' `report.py`)."""

from __future__ import annotations

import math
from typing import Any


def rows_of(con: Any, sql: str, params: list | None = None) -> list[dict]:
    """The rows of a query as dicts keyed by column name."""
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def num(v: Any) -> float | None:
    """A float, or None for a missing, non-numeric or NaN value."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f
