"""`evalseed runs`: the runs stored, newest first; with a run, that run's summary (table or JSON)."""

from __future__ import annotations

import json
import sys

from ..console import console
from .queries import list_runs, run_header
from .summary import cost_text, print_summary, summary_rows


def runs_command(db: str, limit: int, run_ref: str | None = None, as_json: bool = False,
                 since: str | None = None) -> int:
    """The runs stored, newest first (those started on or after `since`); with a run, that run's
    summary (as JSON with `as_json`)."""
    from .. import store
    from ..tables import Col, print_fitted

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
        rows = list_runs(con, limit, since)
    finally:
        con.close()
    if as_json:
        print(json.dumps([{"run_id": run_id, "started_at": str(started) if started else None, "status": status,
                           "label": label, "models": models, "rows": n, "cost_usd": cost}
                          for run_id, started, status, label, models, n, cost in rows], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no runs" + (f" started since {since}" if since else "") + f" in {db}; start one with `evalseed run suites/`.",
              file=sys.stderr)
        return 0
    cols = [Col("run", key=True), Col("started", key=True), Col("status"), Col("label", wrap=True),
            Col("models", wrap=True), Col("rows", "right"), Col("cost $", "right")]
    print_fitted(console(), cols, [[run_id, str(started)[:19], status or "", label or "", ", ".join(models), str(n),
                                    cost_text(cost)] for run_id, started, status, label, models, n, cost in rows])
    return 0
