"""`classification` suites: macro-F1, unparsed answers and the confusion matrix (labels.py),
counted over asked rows."""

from __future__ import annotations

from typing import Any

from .labels import ERROR, UNPARSED, label_metrics
from ...metrics.rules import ASKED
from ...metrics.scope import Scope


def metrics(con, scope: Scope) -> dict[tuple, dict[str, Any]]:
    rows, w = scope.query(con, f"""
        SELECT {scope.group}, details->>'expected' AS exp,
               CASE WHEN status = 'error' THEN '{ERROR}'
                    WHEN TRY_CAST(details->>'unparsed' AS BOOLEAN) IS TRUE OR details->>'predicted' IS NULL
                    THEN '{UNPARSED}' ELSE details->>'predicted' END AS pred,
               count(*) FILTER ({ASKED})
        FROM base WHERE kind = 'classification'
        GROUP BY ALL""")
    cells: dict[tuple, dict[tuple, int]] = {}
    for r in rows:
        exp, pred, n = r[w:]
        cells.setdefault(scope.key(r[:w]), {})[(exp, pred)] = int(n)
    # A group whose rows were all skipped still gets its keys (macro_f1 None), as every view shows.
    return {k: label_metrics(c) for k, c in cells.items()}
