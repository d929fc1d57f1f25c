"""`image` suites: mean score (the share of a case's images that passed their checks) averaged
like accuracy; images made, images that failed and cost per image over ok rows. With a `judge`:
`judge_calls` and `judge_cost_usd` over ok rows (from `details.judge`, apart from the rows'
`cost_usd`; None when a row's judge price is unknown), and `mean_judge_score` (the mean of the
rows' `details.mean_judge_score`); all three None for a suite without a judge."""

from __future__ import annotations

from typing import Any

from ...metrics.rules import OK, SCORE, number
from ...metrics.scope import Scope, case_means, row_aggregates

_JUDGE = "(details->'judge')"


def metrics(con, scope: Scope) -> dict[tuple, dict[str, Any]]:
    means = case_means(con, scope, "image", {"mean_score": (SCORE, "TRUE")})
    sums = row_aggregates(con, scope, "image", {
        "images": f"coalesce(sum(images) FILTER ({OK}), 0)",
        "failed_images": f"coalesce(sum(CAST({number('failed_images')} AS BIGINT)) FILTER ({OK}), 0)",
        "_cost": f"sum(cost_usd) FILTER ({OK})",
        "median_latency_ms": f"quantile_cont(latency_ms, 0.5) FILTER ({OK})",
        "judge_calls": f"sum(TRY_CAST({_JUDGE}->>'calls' AS BIGINT)) FILTER ({OK})",
        "judge_cost_usd": f"""CASE WHEN count(*) FILTER ({OK} AND {_JUDGE}->>'cost_usd' IS NULL
                                                AND TRY_CAST({_JUDGE}->>'calls' AS BIGINT) > 0) = 0
                              THEN sum(TRY_CAST({_JUDGE}->>'cost_usd' AS DOUBLE)) FILTER ({OK}) END""",
        "mean_judge_score": f"avg({number('mean_judge_score')}) FILTER ({OK})",
    })
    out = {}
    for k in means.keys() | sums.keys():
        s = dict(sums.get(k, {}))
        cost = s.pop("_cost", None)
        images = int(s.get("images") or 0)
        out[k] = {**means.get(k, {}), **s, "images": images,
                  "cost_per_image_usd": cost / images if cost is not None and images else None}
    return out
