"""The page's "Which model should I use?": per suite (and pooled), the router's near-best rule
(`evalseed.router.evaluate.operate`, objective `near-best`) applied to the leaderboard's figures:
the cheapest entrant whose accuracy lies within the best entrant's 95% interval, i.e. not
distinguishable from the best on this data. One more condition the page states: a less accurate
entrant is picked only when it costs at least `MIN_SAVING` less per case than the best; a saving
below that (or one that cannot be told, the best having no price) is not worth a lower accuracy
on the page's say-so, and the best is kept.
"""

from __future__ import annotations

import math

# A less accurate pick must save at least this share of the best entrant's cost per case.
MIN_SAVING = 0.05


def recommendations(boards: list[dict], min_saving: float = MIN_SAVING) -> list[dict]:
    """Per leaderboard with ranked rows: {suite, pick, best, saving, alternatives, same, held_back,
    min_saving}. `held_back` is the cheaper entrant inside the interval that the saving threshold
    kept out, with its saving (None when none was)."""
    import numpy as np

    from ..router.evaluate import operate

    out = []
    for b in boards:
        rows = [e for e in b["rows"] if e["acc"] is not None and e["n"] and not e.get("unranked")]
        if not rows:
            continue
        best = max(rows, key=lambda e: (e["acc"], -(e["cost_case"] if e["cost_case"] is not None else math.inf)))
        tol = max(best["acc"] - best["acc_low"], 0.0) if best.get("acc_low") is not None else 0.0
        q = np.array([[e["acc"] for e in rows]], dtype=float)
        c = np.array([[e["cost_case"] if e["cost_case"] is not None else np.inf for e in rows]], dtype=float)
        i = int(operate(q, c, None, {"kind": "near-best", "tolerance": {"default": tol}}, [None], [None], [""])[0])
        near = rows[i] if np.isfinite(c[0, i]) else best  # nothing priced within: the best
        saving = None
        if near is not best and best["cost_case"] and near["cost_case"] is not None:
            saving = 1 - near["cost_case"] / best["cost_case"]
        pick, held_back = near, None
        if near is not best and near["acc"] < best["acc"] and (saving is None or saving < min_saving):
            pick, held_back = best, {"entrant": near["entrant"], "saving": saving}
        within = [e for e in rows if e["acc"] >= best["acc"] - tol - 1e-12]
        out.append({
            "suite": b["suite"], "pick": pick, "best": best, "saving": saving if pick is not best else None,
            "alternatives": sorted((e["entrant"] for e in within if e is not pick), key=str),
            "same": pick is best, "held_back": held_back, "min_saving": min_saving,
        })
    return out
