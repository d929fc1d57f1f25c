"""`json_extraction` suites. Rates and mean field scores are per-answer values averaged like
accuracy (over asked cases, an error row scoring 0); `fenced` and `degraded` count ok rows."""

from __future__ import annotations

from typing import Any

from ...metrics.rules import OK, flag, number
from ...metrics.scope import Scope, case_means, row_aggregates


def metrics(con, scope: Scope) -> dict[tuple, dict[str, Any]]:
    means = case_means(con, scope, "json_extraction", {
        "valid_json_rate": (flag("parsed"), "TRUE"),
        "schema_valid_rate": (flag("schema_valid"), "TRUE"),
        "mean_field_f1": (f"coalesce({number('f1')}, {number('field_f1')})", "TRUE"),
        "mean_precision": (number("precision"), "TRUE"),
        "mean_recall": (number("recall"), "TRUE"),
    })
    counts = row_aggregates(con, scope, "json_extraction", {
        "fenced": f"count(*) FILTER ({OK} AND {flag('fenced')})",
        "degraded": f"count(*) FILTER ({OK} AND {flag('degraded')})",
    })
    return {k: {**means.get(k, {}), **counts.get(k, {})} for k in means.keys() | counts.keys()}
