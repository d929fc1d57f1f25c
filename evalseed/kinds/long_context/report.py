"""The report's long-context section: a heat map of accuracy by length and depth per entrant."""

from __future__ import annotations

from typing import Any, Sequence

from ..base import SuiteEntries

HEATMAP_MAX_MODELS = 12


def section(con: Any, out_dir: str | None, suites: Sequence[SuiteEntries]) -> list[dict]:
    out = []
    for suite, entries in suites:
        maps = []
        for entrant, m in entries[:HEATMAP_MAX_MODELS]:
            hm = m.kind_metrics.get("heatmap") or {"lengths": [], "depths": [], "cells": []}
            if not hm["cells"]:
                continue
            cells = {(c["tokens"], c["depth"]): c for c in hm["cells"]}
            grid = [[({"n": cells[(t, d)]["n"], "k": cells[(t, d)]["passed"], "skipped": cells[(t, d)]["skipped"],
                       "acc": cells[(t, d)]["accuracy"]} if (t, d) in cells else None)
                     for t in hm["lengths"]] for d in hm["depths"]]
            maps.append({"entrant": entrant, "tokens": hm["lengths"], "depths": hm["depths"], "grid": grid})
        out.append({"suite": suite, "maps": maps,
                    "no_grid": sum((m.kind_metrics.get("explicit") or {}).get("n", 0) for _, m in entries),
                    "more_models": max(0, len(entries) - HEATMAP_MAX_MODELS)})
    return out
