"""`generation` suites: the mean score (each case's weighted mean of its checks' scores), averaged
like accuracy, and the pass rate of each check, by the name it is reported under (its `name`, else
its type). The pass rate (`accuracy`) is the envelope's.

A check's pass rate is averaged like accuracy too: per case, the share of its asked rows (times
its checks of that name) on which the check passed, an error row failing every check the case
carries (`details.checks` lists them on error rows, without verdicts); then the mean over the
cases that carry the check. `check_cases` says over how many cases each rate is taken, since
case-level checks cover only some cases.
"""

from __future__ import annotations

from typing import Any

from ...metrics.rules import ASKED, SCORE, answer
from ...metrics.scope import Scope, case_means

CHECK_PASSED = "TRY_CAST(j.value->>'passed' AS BOOLEAN)"


def metrics(con, scope: Scope) -> dict[tuple, dict[str, Any]]:
    means = case_means(con, scope, "generation", {"mean_score": (SCORE, "TRUE")})
    rows, w = scope.query(
        con,
        f"SELECT {scope.group}, check_name, avg(rate), count(*) FROM c GROUP BY ALL ORDER BY ALL",
        f"""c AS (SELECT {scope.case}, j.value->>'name' AS check_name, avg({answer(CHECK_PASSED)}) AS rate
                  FROM base, json_each(details->'checks') AS j
                  WHERE kind = 'generation' AND {ASKED} AND json_type(details->'checks') = 'ARRAY'
                  GROUP BY ALL)""",
    )
    out: dict[tuple, dict[str, Any]] = {k: {**m, "check_pass_rates": {}, "check_cases": {}} for k, m in means.items()}
    for r in rows:
        name, rate, cases = r[w:]
        m = out.setdefault(scope.key(r[:w]), {"mean_score": None, "check_pass_rates": {}, "check_cases": {}})
        m["check_pass_rates"][name] = rate
        m["check_cases"][name] = int(cases)
    return out
