"""The report's case browser: cases with each entrant's answers side by side, capped so the page
opens quickly whatever the run size. Reads the report's view `r` (`data.prepare_view`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .values import num

# The drill-down embeds at most this many cases, and stops earlier when their JSON passes the byte
# budget: the page must open quickly and stay far below 20 MB whatever the run size.
CASE_CAP = 2000
CASE_BYTES_BUDGET = 8_000_000
TEXT_CAP = 1500  # characters of prompt / answer kept per cell (the full text stays in DuckDB)
REASONING_CAP = 3000
DETAILS_CAP = 4000
REPEATS_SHOWN = 5


@dataclass
class ReportOptions:
    case_cap: int = CASE_CAP
    case_bytes_budget: int = CASE_BYTES_BUDGET
    text_cap: int = TEXT_CAP


# The chain of thought wherever the response keeps it: the raw chat body, a bare message, or (tool
# calling) the first assistant step of a trajectory.
REASONING_SQL = """coalesce(r.response->>'$.choices[0].message.reasoning_content',
                            r.response->>'$.reasoning_content',
                            r.response->>'$.message.reasoning_content',
                            r.response->>'$.trajectory[0].reasoning_content')"""


def drilldown(con, opts: ReportOptions) -> dict:
    """Cases with each entrant's answers side by side, for the page's filterable table.

    Big runs are capped: cases where some entrant failed come first (they are what people open),
    then the rest in suite/case order, until `case_cap` cases or the byte budget is reached.
    """
    total = con.execute("SELECT count(DISTINCT (suite, case_id)) FROM r").fetchone()[0]
    tc = int(opts.text_cap)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE report_cases AS
            SELECT suite, case_id, bool_or(status <> 'ok' OR NOT coalesce(passed, FALSE)) AS any_fail
            FROM r GROUP BY suite, case_id
            ORDER BY any_fail DESC, suite, case_id LIMIT {int(opts.case_cap)}"""
    )
    rows = con.execute(
        f"""SELECT r.suite, r.case_id, r.kind, r.entrant, r."repeat", r.status, r.error, r.passed, r.score,
                   left(r.input_text, {tc}) AS prompt, length(r.input_text) AS prompt_len,
                   left(r.output_text, {tc}) AS answer, length(r.output_text) AS answer_len,
                   left({REASONING_SQL}, {REASONING_CAP}) AS reasoning,
                   length({REASONING_SQL}) AS reasoning_len,
                   r.details->'expected' AS expected,
                   CASE WHEN length(CAST(r.details AS VARCHAR)) > {DETAILS_CAP}
                        THEN left(CAST(r.details AS VARCHAR), {DETAILS_CAP}) || ' …(truncated)'
                        ELSE CAST(r.details AS VARCHAR) END AS details,
                   CASE WHEN json_type(r.details->'tags') = 'ARRAY' THEN CAST(r.details->'tags' AS VARCHAR) END AS tags,
                   r.latency_ms, r.cost_usd, r.finish_reason, c.any_fail
            FROM r JOIN report_cases c ON c.suite = r.suite AND c.case_id = r.case_id
            WHERE r."repeat" < {REPEATS_SHOWN}
            ORDER BY c.any_fail DESC, r.suite, r.case_id, r.entrant, r."repeat" """
    ).fetchall()
    cases: list[dict] = []
    index: dict[tuple, dict] = {}
    size = 0
    stopped_by_budget = False
    tags_seen: set[str] = set()
    for (suite, case_id, kind, entrant, rep, status, error, passed, score, prompt, prompt_len, answer,
         answer_len, reasoning, reasoning_len, expected, details, tags, latency, cost, finish, any_fail) in rows:
        key = (suite, case_id)
        case = index.get(key)
        if case is None:
            if size > opts.case_bytes_budget:
                stopped_by_budget = True
                break
            case = {"s": suite, "c": case_id, "k": kind, "p": prompt or "",
                    "pt": (prompt_len or 0) > tc, "e": _pretty(expected), "t": _tags(tags), "f": bool(any_fail),
                    "m": {}}
            tags_seen.update(case["t"])
            index[key] = case
            cases.append(case)
            size += _json_size({k: v for k, v in case.items() if k != "m"})
        a = {"r": rep, "st": status, "ok": bool(passed), "sc": num(score), "a": answer or "",
             "at": (answer_len or 0) > tc, "rs": reasoning or "", "rt": (reasoning_len or 0) > REASONING_CAP,
             "er": error or "", "d": details or "", "l": num(latency), "$": num(cost), "fr": finish or ""}
        case["m"].setdefault(entrant, []).append(a)
        size += _json_size(a)
    shown = len(cases)
    repeats = con.execute('SELECT max("repeat") + 1 FROM r').fetchone()[0] or 1
    note = None
    if shown < total:
        why = "the byte budget" if stopped_by_budget else f"the cap of {opts.case_cap:,} cases"
        note = (f"Showing {shown:,} of {total:,} cases ({why}): cases where some model failed come first. "
                "Every row is in the DuckDB file; query `results` for the rest.")
    if repeats > REPEATS_SHOWN:
        note = (note + " " if note else "") + f"Only the first {REPEATS_SHOWN} repeats of each case are shown."
    return {"cases": cases, "total": total, "shown": shown, "note": note, "tags": sorted(tags_seen),
            "text_cap": tc}


def _json_size(v: Any) -> int:
    """Bytes `v` takes in the page: JSON, UTF-8, with `<`, `>` and `&` as 6-byte escapes."""
    s = json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(s.encode("utf-8")) + 5 * (s.count("<") + s.count(">") + s.count("&"))


def _pretty(expected: str | None) -> str:
    if expected is None:
        return ""
    try:
        v = json.loads(expected)
    except ValueError:
        return expected
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))[:TEXT_CAP]


def _tags(raw: str | None) -> list[str]:
    if not raw:
        return []
    try:
        v = json.loads(raw)
    except ValueError:
        return []
    return [str(t) for t in v][:20] if isinstance(v, list) else []


ERRORS_SHOWN = 100  # rows of the errors table
ERROR_TEXT_CAP = 300


def error_table(con) -> dict:
    """The answers that did not end normally, grouped: per suite, entrant, status, finish reason
    and error message (cut to its start), how many rows. Errors, content-filter refusals and
    answers cut at the token limit (`finish_reason = 'length'`, ok rows scored as answered); the
    most frequent first, at most `ERRORS_SHOWN` groups."""
    from .values import rows_of

    groups = rows_of(
        con,
        f"""SELECT suite, entrant, status, finish_reason, left(coalesce(error, ''), {ERROR_TEXT_CAP}) AS error,
                   count(*) AS rows, min(case_id) AS example
            FROM r WHERE status IN ('error', 'filtered') OR finish_reason IN ('length', 'content_filter')
            GROUP BY ALL ORDER BY rows DESC, suite, entrant, status, error""")
    return {"rows": groups[:ERRORS_SHOWN], "groups": len(groups)}
