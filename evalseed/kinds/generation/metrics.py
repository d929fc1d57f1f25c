"""`generation` suites: the mean score (each case's weighted mean of its checks' scores), averaged
like accuracy, and the pass rate of each check, by the name it is reported under (its `name`, else
its type). The pass rate (`accuracy`) is the envelope's.

A check's pass rate is averaged like accuracy too: per case, the share of its asked rows (times
its checks of that name) on which the check passed, an error row failing every check the case
carries (`details.checks` lists them on error rows, without verdicts); then the mean over the
cases that carry the check. `check_cases` says over how many cases each rate is taken, since
case-level checks cover only some cases.

Judges: `judge_calls`, `judge_cost_usd` (None when a judge's price is unknown) and `judge_models`,
from `details.judge` of ok rows (the judge calls of a row, apart from its `cost_usd`); and
`judge_agreement`, per judge check name, over the ok rows of cases with a human label: the judge
check's verdict (an unusable verdict is a fail) against the label, as `n`, `accuracy`, Cohen's
`kappa` with `kappa_low` / `kappa_high` (a 95% percentile bootstrap over the rows,
`evalseed.scoring.agreement`), `human_pass_rate`, `judge_pass_rate`.
"""

from __future__ import annotations

from typing import Any

import json

from ...metrics.rules import ASKED, OK, SCORE, answer
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
    _judges(con, scope, out)
    return out


def _judges(con, scope: Scope, out: dict[tuple, dict[str, Any]]) -> None:
    from ...scoring.agreement import agreement

    where = f"kind = 'generation' AND {OK} AND json_type(details->'judge') = 'OBJECT'"
    rows, w = scope.query(con, f"""SELECT {scope.group}, sum(TRY_CAST(details->'judge'->>'calls' AS BIGINT)),
            sum(TRY_CAST(details->'judge'->>'cost_usd' AS DOUBLE)),
            count(*) FILTER (details->'judge'->>'cost_usd' IS NULL
                             AND TRY_CAST(details->'judge'->>'calls' AS BIGINT) > 0)
        FROM base WHERE {where} GROUP BY ALL""")
    for r in rows:
        calls, cost, unknown = r[w:]
        m = out.setdefault(scope.key(r[:w]), {"mean_score": None, "check_pass_rates": {}, "check_cases": {}})
        m.update(judge_calls=int(calls or 0), judge_cost_usd=None if unknown else float(cost or 0.0),
                 judge_models=[], judge_agreement={})
    rows, w = scope.query(con, f"""SELECT {scope.group}, j.value AS model FROM base,
            json_each(details->'judge'->'models') AS j WHERE {where} GROUP BY ALL ORDER BY ALL""")
    for r in rows:
        got = out.get(scope.key(r[:w]))
        if got is not None:
            got["judge_models"].append(json.loads(r[w]) if isinstance(r[w], str) else r[w])
    rows, w = scope.query(con, f"""SELECT {scope.group}, j.value->>'name',
            list(TRY_CAST(j.value->>'human_passed' AS BOOLEAN) ORDER BY suite, case_id, "repeat"),
            list(coalesce(TRY_CAST(j.value->>'passed' AS BOOLEAN), false) ORDER BY suite, case_id, "repeat")
        FROM base, json_each(details->'checks') AS j
        WHERE kind = 'generation' AND {OK} AND json_type(details->'checks') = 'ARRAY'
          AND j.value->>'type' = 'judge' AND TRY_CAST(j.value->>'human_passed' AS BOOLEAN) IS NOT NULL
        GROUP BY ALL ORDER BY ALL""")
    for r in rows:
        name, human, judge = r[w:]
        got = out.get(scope.key(r[:w]))
        if got is not None:
            got.setdefault("judge_agreement", {})[name] = agreement([int(x) for x in human], [int(x) for x in judge])
