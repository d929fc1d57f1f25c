"""The report's classification section: a confusion matrix per suite and entrant, with the metrics
layer's macro-F1 over every label above it."""

from __future__ import annotations

from typing import Any, Sequence

from ..base import SuiteEntries

CONFUSION_MAX_LABELS = 20  # labels drawn per matrix; macro-F1 is over all of them


def section(con: Any, out_dir: str | None, suites: Sequence[SuiteEntries]) -> list[dict]:
    from collections import Counter

    from .labels import ERROR, NOT_A_LABEL, UNPARSED

    out = []
    for suite, entries in suites:
        mats = []
        for entrant, m in entries:
            km = m.kind_metrics
            confusion: dict[str, dict[str, int]] = km.get("confusion") or {}
            seen: Counter = Counter()
            for e, row in confusion.items():
                for p, n in row.items():
                    seen[e] += n
                    if p not in NOT_A_LABEL:
                        seen[p] += n
            # Only so many labels fit on a page: the most frequent are drawn. Macro-F1 (above the
            # matrix) is the metrics layer's, over every label.
            shown = sorted(sorted(seen, key=lambda lab: (-seen[lab], lab))[:CONFUSION_MAX_LABELS])
            markers = [x for x in (UNPARSED, ERROR) if any(x in row for row in confusion.values())]
            cols = shown + markers
            matrix = [[confusion.get(e, {}).get(p, 0) for p in cols] for e in shown]
            mats.append({"entrant": entrant, "labels": shown, "cols": cols, "matrix": matrix,
                         "max": max((max(rw) for rw in matrix if rw), default=0),
                         "truncated": len(seen) > len(shown), "label_count": len(seen),
                         "macro_f1": km.get("macro_f1"), "n": sum(sum(row.values()) for row in confusion.values()),
                         "unparsed": km.get("unparsed", 0), "errors": m.counts.errors})
        out.append({"suite": suite, "matrices": mats})
    return out
