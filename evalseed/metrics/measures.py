"""What answering cost and how long it took, per group of a `Scope`: latency, time to first token
and to first answer token (quantiles over ok rows), output speed, spend and cost per case, and
reasoning tokens. The report's leaderboard, its model-variant comparison and its embedded
records read these, so a figure shown twice is computed once.

`ttft_ms` is the first streamed token of any kind (for a thinking model, of its chain of thought);
`ttft_answer_ms` the first token of the answer itself (docs/design.md, "The `results` table").
"""

from __future__ import annotations

from typing import Any

from .rules import ASKED, OK
from .scope import Scope


def _q(col: str, p: float) -> str:
    return f"quantile_cont({col}, {p}) FILTER ({OK})"


MEASURES = {
    "answers": f"count(*) FILTER ({ASKED})",
    "latency_p50_ms": _q("latency_ms", 0.5),
    "latency_p95_ms": _q("latency_ms", 0.95),
    "ttft_p50_ms": _q("ttft_ms", 0.5),
    "ttft_p95_ms": _q("ttft_ms", 0.95),
    "ttft_answer_p50_ms": _q("ttft_answer_ms", 0.5),
    "ttft_answer_p95_ms": _q("ttft_answer_ms", 0.95),
    "output_tps_p50": f"median(output_tps) FILTER ({OK})",
    "cost_usd": "sum(cost_usd)",
    "priced": "count(cost_usd)",
    "reasoning_tokens_mean": f"avg(reasoning_tokens) FILTER ({OK})",
    # The model thought: a chain of thought was billed, or the answer's first token came after
    # the first token of any kind.
    "thinking": f"coalesce(bool_or(coalesce(reasoning_tokens, 0) > 0 OR ttft_answer_ms > ttft_ms) FILTER ({OK}), FALSE)",
    "binary_scores": "bool_and(score IS NULL OR score IN (0, 1))",
}


def measures(con, scope: Scope) -> dict[tuple, dict[str, Any]]:
    """Per group of `scope` (keyed as `Scope.key`): the `MEASURES`, plus `cost_per_case_usd` and
    `cost_per_1k_cases_usd`: the spend over the rows asked (None when no row has a cost)."""
    sel = ", ".join(f'{e} AS "{n}"' for n, e in MEASURES.items())
    rows, w = scope.query(con, f"SELECT {scope.group}, {sel} FROM base GROUP BY {scope.group}")
    out = {}
    for r in rows:
        m = dict(zip(MEASURES, r[w:]))
        per_case = m["cost_usd"] / m["answers"] if (m["priced"] and m["answers"]) else None
        m["cost_per_case_usd"] = per_case
        m["cost_per_1k_cases_usd"] = per_case * 1000 if per_case is not None else None
        out[scope.key(r[:w])] = m
    return out
