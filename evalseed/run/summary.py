"""The figures after a run, per suite and model, as `evalseed.metrics` defines them for every
view: the table printed after `run` and `runs RUN_ID`, and the records of `runs RUN_ID --json`."""

from __future__ import annotations

from ..console import console
from .queries import latency_and_cost, run_scope


def summary_rows(con, run_id: str) -> list[dict]:
    """Per (suite, model) of a run: cases, rows, ok, errors, skipped, accuracy and the kind's
    metrics as `evalseed.metrics` defines them for every view, plus the latency quantiles (ok
    rows), the cost and whether answers were replayed. What `runs RUN_ID --json` prints."""
    from .. import metrics
    from ..files import json_safe

    groups = metrics.suite_metrics(con, run_scope(run_id))
    measured = latency_and_cost(con, run_id)
    out = []
    for key in sorted(groups):
        p50, p95, cost, replayed = measured.get(key, (None, None, None, None))
        out.append(json_safe({**groups[key].to_dict(("model",)), "latency_p50_ms": p50, "latency_p95_ms": p95,
                              "cost_usd": cost, "replayed": bool(replayed)}))
    return out


def cost_text(v: float | None) -> str:
    """A cost in USD as the tables show it."""
    return f"{v:.4f}" if v is not None else "-"


def ms_text(v: float | None) -> str:
    """A duration in milliseconds as the tables show it."""
    return f"{v:,.0f}" if v is not None else "-"


# Columns of the summary table; the kind's other scalar figures go into its last column.
TABLE_KEYS = {"suite", "model", "kind", "cases", "rows", "ok", "errors", "skipped", "accuracy", "latency_p50_ms",
              "latency_p95_ms", "cost_usd", "replayed"}


def summary_table(rows: list[dict]) -> tuple[list, list[list[str]]]:
    """The summary's columns and cells: ids in full, figures as text, the kind's metrics last."""
    from ..tables import Col

    repeated = any(r["rows"] != r["cases"] for r in rows)
    cols = [Col("suite", key=True), Col("model", key=True), Col("cases", "right")]
    cols += [Col("rows", "right")] if repeated else []
    cols += [Col(h, "right") for h in ("ok", "errors", "skipped", "accuracy", "p50 ms", "p95 ms", "cost $")]
    cols += [Col("kind metrics", wrap=True)]
    cells = []
    for r in rows:
        acc = f"{r['accuracy']:.3f}" if r["accuracy"] is not None else "-"
        cells.append([r["suite"], r["model"] + (" (replayed)" if r["replayed"] else ""), str(r["cases"]),
                      *([str(r["rows"])] if repeated else []), str(r["ok"]), str(r["errors"]), str(r["skipped"]),
                      acc, ms_text(r["latency_p50_ms"]), ms_text(r["latency_p95_ms"]), cost_text(r["cost_usd"]),
                      kind_text(r)])
    return cols, cells


def print_summary(con, run_id: str, out=None) -> None:
    """The run's table: as a table when it fits the terminal uncut, else one block per suite and
    model (evalseed.tables)."""
    from ..tables import print_fitted

    rows = summary_rows(con, run_id)
    if not rows:
        return
    cols, cells = summary_table(rows)
    print_fitted(out or console(), cols, cells, title=f"run {run_id}")


def kind_text(record: dict) -> str:
    """A kind's scalar metrics as one short text (`macro_f1 0.61 · unparsed 3`)."""
    parts = []
    for k, v in record.items():
        if k in TABLE_KEYS or isinstance(v, bool) or v is None:
            continue
        if isinstance(v, float):
            parts.append(f"{k} {v:.3g}")
        elif isinstance(v, int) and v:
            parts.append(f"{k} {v}")
    return " · ".join(parts)
