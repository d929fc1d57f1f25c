"""The read queries on the tables, for every module that reads them: runs by id or prefix, a run's
config, header and models, result rows as dicts, and the relations the metrics layer runs over.
SQL on `results` belongs here (or in `evalseed.metrics`, which computes the figures), so a change of
the table is made in one place."""

from __future__ import annotations

import json
from typing import Any, Iterable, NamedTuple, Sequence

from ..errors import UsageError
from .schema import JSON_COLUMNS, RESULT_NAMES


class RunHeader(NamedTuple):
    run_id: str
    started_at: Any
    finished_at: Any
    status: str | None
    label: str | None


class RunListing(NamedTuple):
    run_id: str
    started_at: Any
    status: str | None
    label: str | None
    rows: int
    cost_usd: float | None


# ---- runs -------------------------------------------------------------------------------------


def resolve_run(con: Any, ref: str | None) -> str:
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


def run_config(con: Any, run_id: str) -> dict:
    row = con.execute("SELECT config FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if not row:
        raise UsageError(f"no run {run_id!r} in the database.")
    return json.loads(row[0]) if row[0] else {}




def run_header(con: Any, run_id: str) -> RunHeader | None:
    """The run's times, status and label; None when there is no such run."""
    row = con.execute("SELECT run_id, started_at, finished_at, status, label FROM runs WHERE run_id = ?",
                      [run_id]).fetchone()
    return RunHeader(*row) if row else None


def run_record(con: Any, run_id: str) -> dict[str, Any] | None:
    """The run's `runs` row as a dict (config as stored JSON text); None when there is no such run."""
    cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def run_prices(con: Any, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The price rows the runs recorded (`run_prices`), ordered by run and model."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    cur = con.execute(
        f"""SELECT run_id, model, as_of, input, cached_input, output, long_input, long_output, per_image
            FROM run_prices WHERE run_id IN ({marks}) ORDER BY run_id, model""", list(run_ids))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def run_configs(con: Any) -> list[tuple[str, dict]]:
    """(run id, config) of every run."""
    return [(run_id, json.loads(cfg) if cfg else {})
            for run_id, cfg in con.execute("SELECT run_id, config FROM runs").fetchall()]


def runs_since(con: Any, since: str) -> list[str]:
    """The runs started at or after `since` (a date or timestamp, as DuckDB casts it), oldest first;
    UsageError when it is not one."""
    try:
        rows = con.execute(
            "SELECT run_id FROM runs WHERE started_at >= CAST(? AS TIMESTAMP) ORDER BY started_at", [since]
        ).fetchall()
    except Exception:
        raise UsageError(f"--since {since!r} is not a date or timestamp; use e.g. 2026-11-01.") from None
    return [r[0] for r in rows]


def list_runs(con: Any, limit: int) -> list[RunListing]:
    """The newest `limit` runs with their row count and cost, newest first (`evalseed runs`)."""
    return [RunListing(*r) for r in con.execute(
        """SELECT r.run_id, r.started_at, r.status, r.label, count(x.case_id), sum(x.cost_usd)
           FROM runs r LEFT JOIN results x USING (run_id)
           GROUP BY ALL ORDER BY r.started_at DESC LIMIT ?""", [limit]).fetchall()]


# ---- results ----------------------------------------------------------------------------------


def run_models(con: Any, run_id: str) -> list[str]:
    """The models a run holds results for, sorted."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT model FROM results WHERE run_id = ? ORDER BY model", [run_id]).fetchall()]


def runs_models(con: Any, run_ids: Sequence[str]) -> list[tuple[str, str]]:
    """The distinct (run id, model) pairs of the runs' results, sorted."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    return [(r, m) for r, m in con.execute(
        f"SELECT DISTINCT run_id, model FROM results WHERE run_id IN ({marks}) ORDER BY run_id, model",
        list(run_ids)).fetchall()]


def has_results(con: Any, run_id: str) -> bool:
    return con.execute("SELECT 1 FROM results WHERE run_id = ? LIMIT 1", [run_id]).fetchone() is not None


def spent_usd(con: Any, run_id: str) -> float:
    """What the run's stored rows cost (unknown costs as 0)."""
    row = con.execute("SELECT coalesce(sum(cost_usd), 0) FROM results WHERE run_id = ?", [run_id]).fetchone()
    return float(row[0] or 0.0)


def stored_keys(con: Any, run_id: str) -> tuple[set[tuple], set[tuple]]:
    """(keys with a final row, keys whose row is an error) for a run, for --resume."""
    done: set[tuple] = set()
    errors: set[tuple] = set()
    for suite, case_id, model, rep, status in con.execute(
        'SELECT suite, case_id, model, "repeat", status FROM results WHERE run_id = ?', [run_id]
    ).fetchall():
        key = (suite, case_id, model, rep)
        (errors if status == "error" else done).add(key)
    return done, errors


def fetch_rows(con: Any, where: str = "TRUE", params: list | None = None, columns: list[str] | None = None) -> list[dict]:
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


def suite_model_measures(con: Any, run_id: str) -> dict[tuple[str, str], tuple]:
    """Per (suite, model) of a run: (p50 and p95 latency of ok rows, total cost, any row replayed)."""
    return {
        (suite, model): tuple(rest) for suite, model, *rest in con.execute(
            """SELECT suite, model,
                      quantile_cont(latency_ms, 0.5) FILTER (status = 'ok'),
                      quantile_cont(latency_ms, 0.95) FILTER (status = 'ok'),
                      sum(cost_usd), bool_or(replayed)
               FROM results WHERE run_id = ? GROUP BY suite, model""", [run_id]).fetchall()
    }


def results_relation(run_id: str, suite: str | None = None, model: str | None = None,
                     case_ids: Sequence[str] | None = None) -> tuple[str, tuple]:
    """A parenthesised SELECT of one run's result rows (optionally one suite, one model, some
    cases) and its parameters: the relation a `metrics.Scope` runs over."""
    sql = "(SELECT * FROM results WHERE run_id = ?"
    params: list[Any] = [run_id]
    if suite is not None:
        sql += " AND suite = ?"
        params.append(suite)
    if model is not None:
        sql += " AND model = ?"
        params.append(model)
    if case_ids is not None:
        sql += " AND case_id IN (SELECT unnest(?::VARCHAR[]))"
        params.append(list(case_ids))
    return sql + ")", tuple(params)


def first_answers(con: Any, run_id: str, suite: str, model: str,
                  case_ids: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
    """{case_id: (output_text, details as stored JSON text)} of each case's first repeat."""
    ids = list(case_ids)
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    got: dict[str, tuple[str | None, str | None]] = {}
    for cid, out, det in con.execute(
        f'SELECT case_id, output_text, details FROM results WHERE run_id = ? AND suite = ? AND model = ? '
        f'AND case_id IN ({marks}) ORDER BY "repeat" DESC', [run_id, suite, model, *ids]
    ).fetchall():
        got[cid] = (out, det)  # DESC order: repeat 0 is written last
    return got


def case_prompts(con: Any, suites: Sequence[str]) -> list[tuple[str, str, str | None, str]]:
    """(suite, case_id, a prompt text, a run holding it) for every stored case of these suites:
    what an import checks its case ids against."""
    marks = ", ".join("?" for _ in suites)
    return con.execute(
        f"SELECT suite, case_id, any_value(input_text), any_value(run_id) FROM results WHERE suite IN ({marks}) "
        "GROUP BY suite, case_id", list(suites)).fetchall()
