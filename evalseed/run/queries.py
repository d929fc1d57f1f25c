"""The SQL that `run`, `runs` and `rescore` run on the `runs` and `results` tables, in one place
(the store's queries live in evalseed.store; these are the ones only these commands need)."""

from __future__ import annotations

import json
from typing import Any

# The stored figures of an answered row: rescore hands them to the scorer as the call's.
MEASURED = ["latency_ms", "ttft_ms", "output_tps", "prompt_tokens", "completion_tokens", "reasoning_tokens",
            "cached_tokens", "images", "cost_usd", "attempts", "replayed"]


def spent_on_run(con, run_id: str) -> float:
    """What the run's stored rows cost so far, graded calls and judge calls (a resumed run's
    budget starts from it). A generation row keeps its judge calls' cost apart from its own
    `cost_usd`, in `details.judge.cost_usd` (kinds/generation/details.py); it is counted here as
    the run counted it against --budget-usd while it ran."""
    row = con.execute(
        """SELECT coalesce(sum(cost_usd), 0),
                  coalesce(sum(TRY_CAST(json_extract_string(details, '$.judge.cost_usd') AS DOUBLE)), 0)
           FROM results WHERE run_id = ?""", [run_id]).fetchone()
    return float(row[0] or 0.0) + float(row[1] or 0.0)


def run_scope(run_id: str):
    """The metrics layer's view of one run's rows, grouped by suite and model."""
    from .. import metrics

    return metrics.Scope("(SELECT * FROM results WHERE run_id = ?)", ("model",), (run_id,))


def latency_and_cost(con, run_id: str) -> dict[tuple[str, str], list[Any]]:
    """Per (suite, model): latency p50 and p95 over ok rows, total cost, whether any row was replayed."""
    return {
        (suite, model): rest for suite, model, *rest in con.execute(
            """SELECT suite, model,
                      quantile_cont(latency_ms, 0.5) FILTER (status = 'ok'),
                      quantile_cont(latency_ms, 0.95) FILTER (status = 'ok'),
                      sum(cost_usd), bool_or(replayed)
               FROM results WHERE run_id = ? GROUP BY suite, model""", [run_id]).fetchall()
    }


def run_header(con, run_id: str) -> tuple:
    """(started_at, finished_at, status, label) of a run."""
    return con.execute("SELECT started_at, finished_at, status, label FROM runs WHERE run_id = ?", [run_id]).fetchone()


def list_runs(con, limit: int, since: str | None = None) -> list[tuple]:
    """(run_id, started_at, status, label, models, rows, cost) of the newest `limit` runs (started
    on or after `since`), newest first; `models` sorted, from the rows, else from the run's config."""
    from ..errors import UsageError

    try:
        rows = con.execute(
            """SELECT r.run_id, r.started_at, r.status, r.label,
                      coalesce(list_sort(list(DISTINCT x.model) FILTER (x.model IS NOT NULL)), []),
                      any_value(r.config), count(x.case_id), sum(x.cost_usd)
               FROM runs r LEFT JOIN results x USING (run_id)
               WHERE ? IS NULL OR r.started_at >= CAST(? AS TIMESTAMP)
               GROUP BY r.run_id, r.started_at, r.status, r.label ORDER BY r.started_at DESC LIMIT ?""",
            [since, since, limit]).fetchall()
    except Exception as e:
        if since is not None and "Conversion" in type(e).__name__ + str(e):
            raise UsageError(f"--since {since!r} is not a date or timestamp; use e.g. 2026-11-01.") from None
        raise
    out = []
    for run_id, started, status, label, models, config, n, cost in rows:
        if not models and config:
            models = list((json.loads(config) or {}).get("models") or [])
        out.append((run_id, started, status, label, list(models), n, cost))
    return out


def rows_to_rescore(con, run_id: str) -> list[dict]:
    """The run's rows that hold an answer to score: ok rows, and rows a scorer failed on."""
    from .. import store

    return store.fetch_rows(con, "run_id = ? AND (status = 'ok' OR starts_with(error, 'ScorerError: '))", [run_id],
                            ["suite", "case_id", "model", "repeat", "request", "response", "output_text", "details",
                             *MEASURED])


def write_verdicts(con, run_id: str, updates: list[dict]) -> None:
    """Store rescored verdicts (key columns plus status, error, score, passed, details as JSON
    text, output_text or None to keep the stored one): one set-based UPDATE in one transaction,
    so all rows are rescored or none."""
    import pyarrow as pa

    table = pa.Table.from_pylist(updates, schema=pa.schema([
        ("suite", pa.string()), ("case_id", pa.string()), ("model", pa.string()), ("repeat", pa.int64()),
        ("status", pa.string()), ("error", pa.string()), ("score", pa.float64()), ("passed", pa.bool_()),
        ("details", pa.string()), ("output_text", pa.string())]))
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_rescored", table)
        con.execute(
            """UPDATE results SET status = u.status, error = u.error, score = u.score, passed = u.passed,
                      details = u.details::JSON, output_text = coalesce(u.output_text, results.output_text)
               FROM _rescored u
               WHERE results.run_id = ? AND results.suite = u.suite AND results.case_id = u.case_id
                 AND results.model = u.model AND results."repeat" = u."repeat" """, [run_id])
        con.unregister("_rescored")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
