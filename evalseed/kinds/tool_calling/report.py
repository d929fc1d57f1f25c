"""The report's tool-calling section: failure reasons by entrant (the metrics layer's counts)."""

from __future__ import annotations

from typing import Any, Sequence

from ..base import SuiteEntries


def section(con: Any, out_dir: str | None, suites: Sequence[SuiteEntries]) -> list[dict]:
    out = []
    for suite, entries in suites:
        totals: dict[str, dict] = {}
        reasons: dict[str, dict[str, int]] = {}
        for entrant, m in entries:
            failures = m.kind_metrics.get("failure_reasons") or {}
            totals[entrant] = {"n": m.counts.ok + m.counts.errors, "failed": sum(failures.values())}
            for reason, c in failures.items():
                reasons.setdefault(reason, {})[entrant] = c
        ranked = sorted(reasons.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        out.append({"suite": suite, "entrants": sorted(totals), "totals": totals,
                    "reasons": [{"reason": k, "counts": v} for k, v in ranked]})
    return out
