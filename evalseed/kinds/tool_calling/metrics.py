"""`tool_calling` suites: accuracy split into cases that expect calls and irrelevance cases
(no call expected), averaged like accuracy; failure reasons counted over asked rows that did not
pass (an error row's reason is `request error`); BFCL-greedy disagreements, degraded answers and
mean steps over ok rows."""

from __future__ import annotations

from typing import Any

from ...metrics.rules import ASKED, OK, PASSED, flag, number
from ...metrics.scope import Scope, case_means, row_aggregates

# Error rows carry `expected` (the case's expected calls) but not the scorer's `irrelevance`.
IRRELEVANCE = ("coalesce(TRY_CAST(details->>'irrelevance' AS BOOLEAN), "
               "json_array_length(details->'expected') = 0, FALSE)")
REQUEST_ERROR = "request error"
REASON = f"""CASE WHEN status = 'error' THEN '{REQUEST_ERROR}'
                  ELSE coalesce(details->>'reason', details->'failure'->>'reason',
                                CASE WHEN json_type(details->'failure') = 'VARCHAR' THEN details->>'failure' END,
                                '(no reason recorded)') END"""


def metrics(con, scope: Scope) -> dict[tuple, dict[str, Any]]:
    means = case_means(con, scope, "tool_calling", {
        "call_accuracy": ("passed", f"NOT {IRRELEVANCE}"),
        "irrelevance_accuracy": ("passed", IRRELEVANCE),
    })
    counts = row_aggregates(con, scope, "tool_calling", {
        "greedy_disagreements":
            f"count(*) FILTER ({PASSED} AND TRY_CAST(details->>'greedy_passed' AS BOOLEAN) IS FALSE)",
        "mean_steps": f"avg(coalesce({number('steps')}, 0)) FILTER ({OK})",
        "degraded": f"count(*) FILTER ({OK} AND {flag('degraded')})",
    })
    reasons, w = scope.query(con, f"""SELECT {scope.group}, {REASON} AS reason, count(*)
        FROM base WHERE kind = 'tool_calling' AND {ASKED} AND NOT {PASSED} GROUP BY ALL ORDER BY ALL""")
    out = {k: {**means.get(k, {}), **counts.get(k, {}), "failure_reasons": {}} for k in means.keys() | counts.keys()}
    for r in reasons:
        out[scope.key(r[:w])]["failure_reasons"][r[w]] = int(r[w + 1])
    return out
