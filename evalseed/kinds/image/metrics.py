"""`image` suites: mean score (the share of a case's images that passed their checks) averaged
like accuracy; images made, images that failed and cost per image over ok rows."""

from __future__ import annotations

from typing import Any

from ...metrics.rules import OK, SCORE, number
from ...metrics.scope import Scope, case_means, row_aggregates


def metrics(con, scope: Scope) -> dict[tuple, dict[str, Any]]:
    means = case_means(con, scope, "image", {"mean_score": (SCORE, "TRUE")})
    sums = row_aggregates(con, scope, "image", {
        "images": f"coalesce(sum(images) FILTER ({OK}), 0)",
        "failed_images": f"coalesce(sum(CAST({number('failed_images')} AS BIGINT)) FILTER ({OK}), 0)",
        "_cost": f"sum(cost_usd) FILTER ({OK})",
        "median_latency_ms": f"quantile_cont(latency_ms, 0.5) FILTER ({OK})",
    })
    out = {}
    for k in means.keys() | sums.keys():
        s = dict(sums.get(k, {}))
        cost = s.pop("_cost", None)
        images = int(s.get("images") or 0)
        out[k] = {**means.get(k, {}), **s, "images": images,
                  "cost_per_image_usd": cost / images if cost is not None and images else None}
    return out
