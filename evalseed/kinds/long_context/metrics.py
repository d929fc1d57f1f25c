"""`long_context` suites: mean answer F1, and accuracy per (length, depth) grid cell for the
heat map, both averaged like accuracy; each cell also counts its asked rows, passes, skipped and
errored rows (a skipped cell shows where a model's window ends). Cases that are no grid cell
(explicit documents) get their own accuracy under `explicit`."""

from __future__ import annotations

from typing import Any

from ...metrics.rules import ASKED, OK, PASSED, answer, number
from ...metrics.scope import Scope, case_means

# Error and skipped rows may lack the grid details, but a generated case's id names its cell:
# spec.grid_case_id writes `needle-<tokens>-at-<depth in percent, 3 digits>`.
GRID_ID_PATTERN = r"^needle-(\d+)-at-(\d{3})$"
_GRID = f"'{GRID_ID_PATTERN}'"
TOKENS = (f"coalesce(TRY_CAST(details->>'target_tokens' AS BIGINT), "
          f"TRY_CAST(regexp_extract(case_id, {_GRID}, 1) AS BIGINT))")
DEPTH = (f"coalesce(TRY_CAST(details->>'depth' AS DOUBLE), "
         f"TRY_CAST(regexp_extract(case_id, {_GRID}, 2) AS DOUBLE) / 100)")


def metrics(con, scope: Scope) -> dict[tuple, dict[str, Any]]:
    f1 = case_means(con, scope, "long_context", {"mean_f1": (number("f1"), "TRUE")})
    rows, w = scope.query(
        con,
        f"""SELECT {scope.group}, t, d, sum(asked), sum(passes), sum(skipped), sum(errors),
                   avg(rate), avg(f1), sum(pt_sum) / nullif(sum(pt_n), 0)
            FROM c GROUP BY {scope.group}, t, d ORDER BY ALL""",
        f"""c AS (SELECT {scope.case}, {TOKENS} AS t, {DEPTH} AS d,
                         count(*) FILTER ({ASKED}) AS asked, count(*) FILTER ({PASSED}) AS passes,
                         count(*) FILTER (status = 'skipped') AS skipped,
                         count(*) FILTER (status = 'error') AS errors,
                         avg({answer('passed')}) FILTER ({ASKED}) AS rate,
                         avg({answer(number('f1'))}) FILTER ({ASKED}) AS f1,
                         sum(prompt_tokens) FILTER ({OK}) AS pt_sum, count(prompt_tokens) FILTER ({OK}) AS pt_n
                  FROM base WHERE kind = 'long_context' GROUP BY {scope.case}, t, d)""",
    )
    out: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = scope.key(r[:w])
        t, d, asked, passes, skipped, errors, acc, mean_f1, pt = r[w:]
        m = out.setdefault(key, {"mean_f1": f1.get(key, {}).get("mean_f1"),
                                 "explicit": {"n": 0, "accuracy": None},
                                 "heatmap": {"lengths": [], "depths": [], "cells": []}})
        if t is None or d is None:
            m["explicit"] = {"n": int(asked), "accuracy": acc}
            continue
        m["heatmap"]["cells"].append({"tokens": int(t), "depth": float(d), "n": int(asked), "passed": int(passes),
                                      "skipped": int(skipped), "errors": int(errors), "accuracy": acc,
                                      "mean_f1": mean_f1, "mean_prompt_tokens": pt})
    for m in out.values():
        cells = m["heatmap"]["cells"]
        m["heatmap"]["lengths"] = sorted({c["tokens"] for c in cells})
        m["heatmap"]["depths"] = sorted({c["depth"] for c in cells})
    return out
