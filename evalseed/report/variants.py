"""Model variants side by side: when a report holds variants of one base model (the same model id
sent with different request params, e.g. seed-1-8 with thinking on and off: `ModelInfo.base_model`
and `request_params`, recorded in `runs.config.model_table`), the page sets them next to each
other per suite and pooled: accuracy with its interval, cost per 1,000 cases, latency p50/p95,
time to the first answer token and reasoning tokens. Every figure is a leaderboard row's, i.e.
the metrics layer's; nothing is computed here."""

from __future__ import annotations

import json
from typing import Any

# The leaderboard columns the comparison shows (data.leaderboards' row keys).
COLUMNS = ("acc", "acc_low", "acc_high", "n", "cost_1k", "lat_p50", "lat_p95", "ttft_p50", "ttfa_p50", "ttfa_p95",
           "reasoning", "thinking", "errors", "filtered", "cut")


def params_text(params: Any) -> str:
    """Request params as a short `key=value` list (`thinking=enabled` for `{thinking: {type: X}}`)."""
    if not isinstance(params, dict) or not params:
        return ""
    parts = []
    for k, v in sorted(params.items()):
        if k == "thinking" and isinstance(v, dict) and set(v) == {"type"}:
            v = v["type"]
        parts.append(f"{k}={v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))}")
    return ", ".join(parts)


def variant_groups(head: dict, boards: list[dict]) -> list[dict]:
    """Per base model with two or more entrants among its variants (and itself, when it ran
    plainly): {base, entrants: [{entrant, params}], boards: [{suite, rows}]}, the pooled board
    (suite None) first unless there is one suite, each board's rows those entrants' leaderboard
    figures."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in head["models"]:
        base = m.get("base_model") or m["model"]
        groups.setdefault(base, []).append({"entrant": m["entrant"], "params": params_text(m.get("request_params")),
                                            "variant": bool(m.get("base_model"))})
    out: list[dict[str, Any]] = []
    for base, members in sorted(groups.items()):
        if len(members) < 2 or not any(x["variant"] for x in members):
            continue
        names = {x["entrant"] for x in members}
        tables: list[dict[str, Any]] = []
        for b in boards:
            rows = [{"entrant": e["entrant"], **{k: e.get(k) for k in COLUMNS}} for e in b["rows"] if e["entrant"] in names]
            if len(rows) >= 2:
                tables.append({"suite": b["suite"], "rows": sorted(rows, key=lambda r: r["entrant"])})
        if len(tables) == 2 and tables[0]["suite"] is None:
            tables = tables[1:]  # one suite: its table is the pooled one
        if tables:
            out.append({"base": base, "entrants": sorted(members, key=lambda x: x["entrant"]), "boards": tables})
    return out
