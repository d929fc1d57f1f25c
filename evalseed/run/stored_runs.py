"""`evalseed runs`: the runs stored, newest first; with a run, that run's summary (table or JSON)."""

from __future__ import annotations

import json

from ..console import console
from .queries import list_runs, run_header
from .summary import cost_text, print_summary, summary_rows


def runs_command(db: str, limit: int, run_ref: str | None = None, as_json: bool = False) -> int:
    """The runs stored, newest first; with a run, that run's summary (as JSON with `as_json`)."""
    from rich.table import Table

    from .. import store

    con = store.open_db(db, read_only=True)
    try:
        if run_ref is not None:
            run_id = store.resolve_run(con, run_ref)
            if as_json:
                started, finished, status, label = run_header(con, run_id)
                print(json.dumps({"run_id": run_id, "status": status, "label": label,
                                  "started_at": str(started) if started else None,
                                  "finished_at": str(finished) if finished else None,
                                  "results": summary_rows(con, run_id)}, indent=2, ensure_ascii=False))
            else:
                print_summary(con, run_id)
            return 0
        rows = list_runs(con, limit)
    finally:
        con.close()
    if as_json:
        print(json.dumps([{"run_id": run_id, "started_at": str(started) if started else None, "status": status,
                           "label": label, "rows": n, "cost_usd": cost}
                          for run_id, started, status, label, n, cost in rows], indent=2, ensure_ascii=False))
        return 0
    table = Table()
    for col in ("run", "started", "status", "label", "rows", "cost $"):
        table.add_column(col)
    for run_id, started, status, label, n, cost in rows:
        table.add_row(run_id, str(started)[:19], status or "", label or "", str(n), cost_text(cost))
    console().print(table)
    return 0
