"""Macro-F1 and the confusion matrix of a classification, from counts of (expected label,
answered label). Every asked row is one answer; an answer that is no label is counted under
`UNPARSED`, an error row under `ERROR`: both are wrong for the expected label and predict no label.
"""

from __future__ import annotations

from typing import Any, Mapping

UNPARSED = "(unparsed)"
ERROR = "(error)"
NO_EXPECTED = "(none)"
NOT_A_LABEL = (UNPARSED, ERROR)


def label_metrics(cells: Mapping[tuple[str | None, str], int]) -> dict[str, Any]:
    """`cells`: (expected, answered) -> count. Macro-F1 is the mean of the per-label F1 over ALL
    labels that occur as expected or answered (a label nobody expected but a model answered
    counts, with F1 0); `unparsed` counts answers that were not a label; `confusion` is
    expected -> answered -> count."""
    cells = {k: n for k, n in cells.items() if n}
    labels = sorted({e for e, _ in cells if e is not None} | {p for _, p in cells if p not in NOT_A_LABEL})
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    confusion: dict[str, dict[str, int]] = {}
    for (e, p), n in cells.items():
        row = confusion.setdefault(e if e is not None else NO_EXPECTED, {})
        row[p] = row.get(p, 0) + n
        if e == p:
            tp[p] = tp.get(p, 0) + n
            continue
        if p not in NOT_A_LABEL:
            fp[p] = fp.get(p, 0) + n
        if e is not None:
            fn[e] = fn.get(e, 0) + n
    f1s = []
    for label in labels:
        t = tp.get(label, 0)
        denom = 2 * t + fp.get(label, 0) + fn.get(label, 0)
        f1s.append(2 * t / denom if denom else 0.0)
    return {
        "macro_f1": sum(f1s) / len(f1s) if f1s else None,
        "labels": len(labels),
        "unparsed": sum(n for (_, p), n in cells.items() if p == UNPARSED),
        "confusion": confusion,
    }
