"""The report's generation section: pass rate and mean score per entrant, and per-check pass rates."""

from __future__ import annotations

from typing import Any, Sequence

from ...report.values import num
from ..base import SuiteEntries


def section(con: Any, out_dir: str | None, suites: Sequence[SuiteEntries]) -> list[dict]:
    """Per generation suite: each entrant's pass rate and mean score, and a check-by-entrant table
    of per-check pass rates (checks in name order); where judges graded, their calls and cost
    (apart from the graded models') and their agreement with human labels. All the metrics
    layer's figures."""
    out = []
    for suite, entries in suites:
        checks: dict[str, dict[str, Any]] = {}
        summary = []
        judges = []
        agreement = []
        for entrant, m in entries:
            km = m.kind_metrics
            summary.append({"entrant": entrant, "n": m.accuracy.cases, "accuracy": m.accuracy.estimate,
                            "mean_score": km.get("mean_score"), "errors": m.counts.errors})
            if km.get("judge_calls") is not None:
                judges.append({"entrant": entrant, "calls": km.get("judge_calls"), "cost_usd": km.get("judge_cost_usd"),
                               "models": ", ".join(km.get("judge_models") or [])})
            for name, a in sorted((km.get("judge_agreement") or {}).items()):
                agreement.append({"entrant": entrant, "check": name, **a})
            for name, rate in (km.get("check_pass_rates") or {}).items():
                c = checks.setdefault(name, {"name": name, "by": {}, "cases": 0})
                c["by"][entrant] = num(rate)
                c["cases"] = max(c["cases"], (km.get("check_cases") or {}).get(name, 0))
        out.append({"suite": suite, "entrants": [e for e, _ in entries], "summary": summary,
                    "checks": [checks[k] for k in sorted(checks)], "judges": judges, "agreement": agreement})
    return out
