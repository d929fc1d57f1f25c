"""Everything a report shows, aggregated in DuckDB SQL from the `results`, `runs` and `run_prices`
tables; Python only adds the intervals (evalseed.stats) and shapes dicts for the templates.

No HTML here: `render.py` turns this into a page. Row counts handed to Python are bounded by the
number of (suite, model, distinct value) groups and the drill-down cap, never by the run size, so
a 100,000-row run costs the same Python work as a 1,000-row one apart from the SQL itself.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .choice import recommendations
from .drilldown import ReportOptions, drilldown, error_table
from .values import num, rows_of
from .variants import variant_groups

BOOTSTRAP_RESAMPLES = 2000


def _q(s: str) -> str:
    """A SQL string literal (run ids come from our own table, but quote them properly anyway)."""
    return "'" + str(s).replace("'", "''") + "'"


def prepare_view(con, run_ids: list[str]) -> dict[tuple[str, str], str]:
    """Create temp view `r` (the runs' rows plus an `entrant` column) and return the entrant map.

    An entrant is what the leaderboard ranks: the model name, or `model @run` when the same model
    appears in several of the reported runs (so a re-run of one model is not silently pooled).
    """
    pairs = con.execute(
        f"SELECT DISTINCT run_id, model FROM results WHERE run_id IN ({', '.join(_q(r) for r in run_ids)})"
    ).fetchall()
    runs_per_model: dict[str, int] = {}
    for _, m in pairs:
        runs_per_model[m] = runs_per_model.get(m, 0) + 1
    entrants = {(rid, m): (m if runs_per_model[m] == 1 else f"{m} @{rid[:12]}") for rid, m in pairs}
    con.execute("CREATE OR REPLACE TEMP TABLE report_entrants (run_id VARCHAR, model VARCHAR, entrant VARCHAR)")
    if entrants:
        con.executemany("INSERT INTO report_entrants VALUES (?, ?, ?)", [[r, m, e] for (r, m), e in entrants.items()])
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW r AS
            SELECT res.*, e.entrant FROM results res
            JOIN report_entrants e ON e.run_id = res.run_id AND e.model = res.model
            WHERE res.run_id IN ({', '.join(_q(r) for r in run_ids)})"""
    )
    return entrants


# ---- header -----------------------------------------------------------------------------------


def header(con, run_ids: list[str]) -> dict:
    """Runs, totals, suites (with content hashes from the run config), models and prices."""
    runs = []
    for rid in run_ids:
        row = rows_of(con, "SELECT * FROM runs WHERE run_id = ?", [rid])[0]
        try:
            cfg = json.loads(row["config"]) if row.get("config") else {}
        except (TypeError, ValueError):
            cfg = {}
        wall = None
        if row.get("started_at") and row.get("finished_at"):
            wall = (row["finished_at"] - row["started_at"]).total_seconds()
        runs.append({**row, "config": cfg, "wall_s": wall})
    totals = rows_of(
        con,
        """SELECT count(DISTINCT (suite, case_id)) AS cases, count(*) AS rows,
                  count(*) FILTER (status = 'ok') AS ok, count(*) FILTER (status = 'error') AS errors,
                  count(*) FILTER (status = 'skipped') AS skipped, count(*) FILTER (status = 'filtered') AS filtered,
                  count(*) FILTER (finish_reason = 'length') AS cut, sum(cost_usd) AS spend,
                  count(*) FILTER (replayed) AS replayed, count(DISTINCT entrant) AS entrants
           FROM r""",
    )[0]
    walls = [x["wall_s"] for x in runs if x["wall_s"] is not None]
    totals["wall_s"] = sum(walls) if walls else None
    suites = rows_of(
        con,
        """SELECT suite, any_value(kind) AS kind, count(DISTINCT case_id) AS cases,
                  count(DISTINCT entrant) AS entrants, max("repeat") + 1 AS repeats
           FROM r GROUP BY suite ORDER BY suite""",
    )
    hashes: dict[str, dict] = {}
    for run in runs:
        for s in _config_suites(run["config"]):
            hashes.setdefault(s["name"], s)
    for s in suites:
        info = hashes.get(s["suite"], {})
        s["hash"] = info.get("hash")
        s["path"] = info.get("path")
        s["description"] = info.get("description")
    models = rows_of(
        con,
        """SELECT entrant, any_value(model) AS model, any_value(run_id) AS run_id,
                  string_agg(DISTINCT provider, ', ') AS provider, count(*) AS rows
           FROM r GROUP BY entrant ORDER BY entrant""",
    )
    from ..config import VERSION_RE

    table: dict[str, dict] = {}
    for run in runs:
        mt = run["config"].get("model_table") if isinstance(run["config"], dict) else None
        if isinstance(mt, dict):
            for name, info in mt.items():
                if isinstance(info, dict):
                    table.setdefault(name, info)
    for m in models:
        hit = VERSION_RE.match(m["model"] or "")
        info = table.get(m["model"], {})
        m["family"] = info.get("family") or (hit.group("family") if hit else m["model"])
        m["version"] = hit.group("version") if hit else None
        m["inherited_from"] = info.get("inherited_from")
        m["context_window"] = info.get("context_window")
        m["base_model"] = info.get("base_model")
        m["request_params"] = info.get("request_params") or {}
    prices = rows_of(
        con,
        f"""SELECT run_id, model, as_of, input, cached_input, output, long_input, long_output, per_image
            FROM run_prices WHERE run_id IN ({', '.join(_q(r) for r in run_ids)})
              AND model IN (SELECT DISTINCT model FROM r)
            ORDER BY run_id, model""",
    )
    return {"runs": runs, "totals": totals, "suites": suites, "models": models, "prices": prices}


def _config_suites(cfg: dict) -> list[dict]:
    """Suites from a run's stored config, whatever shape the runner chose (list of dicts or a
    name -> hash / name -> dict mapping)."""
    raw = cfg.get("suites") if isinstance(cfg, dict) else None
    out: list[dict] = []
    if isinstance(raw, list):
        for s in raw:
            if isinstance(s, dict) and s.get("name"):
                out.append({"name": s["name"], "hash": s.get("hash") or s.get("content_hash") or s.get("sha256"),
                            "path": s.get("path"), "description": s.get("description")})
    elif isinstance(raw, dict):
        for name, v in raw.items():
            if isinstance(v, dict):
                out.append({"name": name, "hash": v.get("hash") or v.get("content_hash") or v.get("sha256"),
                            "path": v.get("path"), "description": v.get("description")})
            else:
                out.append({"name": name, "hash": str(v) if v is not None else None, "path": None, "description": None})
    return out


# ---- the figures ------------------------------------------------------------------------------

# The report's groups: an entrant is one (run, model), so both ride along in the embedded data.
METRIC_KEYS = ("entrant", "run_id", "model")


def figures(con) -> dict[str, dict]:
    """Counts, accuracy and the kinds' metrics of view `r` (evalseed.metrics, the definitions
    every view shares): per (suite, entrant) under "suites", per entrant over all its suites
    under "pooled"; their latency, time-to-first-token and cost figures (`metrics.measures`)
    under "measures" (both groupings in one mapping: pooled keys have suite None)."""
    from .. import metrics

    scopes = {"suites": metrics.Scope("r", METRIC_KEYS), "pooled": metrics.Scope("r", METRIC_KEYS, pooled=True)}
    figs: dict[str, dict] = {part: metrics.suite_metrics(con, sc) for part, sc in scopes.items()}
    figs["measures"] = {k: v for sc in scopes.values() for k, v in metrics.measures(con, sc).items()}
    return figs


# The measures embedded beside each record (the names `evalseed runs RUN_ID --json` uses where it
# has them); `binary_scores`, `priced` and `answers` only steer the page.
EMBEDDED_MEASURES = ("latency_p50_ms", "latency_p95_ms", "ttft_p50_ms", "ttft_p95_ms", "ttft_answer_p50_ms",
                     "ttft_answer_p95_ms", "output_tps_p50", "cost_usd", "cost_per_1k_cases_usd",
                     "reasoning_tokens_mean", "thinking")


def metrics_data(figs: dict[str, dict]) -> list[dict]:
    """What the page embeds as JSON (`metrics-data`): one record per (suite, entrant), then one
    per entrant pooled over its suites (suite null), the same records `evalseed runs RUN_ID
    --json` prints, with the latency and cost measures beside them."""
    from ..files import json_safe

    measured = figs.get("measures", {})
    return [json_safe({**m.to_dict(METRIC_KEYS), **{n: measured.get(k, {}).get(n) for n in EMBEDDED_MEASURES}})
            for part in ("suites", "pooled") for k, m in sorted(figs[part].items(),
                                                                key=lambda kv: tuple(str(x) for x in kv[0]))]


def _by_entrant(figs: dict[str, dict]) -> dict[tuple, Any]:
    """(suite or None, entrant) -> its SuiteMetrics."""
    return {(k[0], k[1]): m for part in ("suites", "pooled") for k, m in figs[part].items()}


# ---- leaderboard ------------------------------------------------------------------------------

# A leaderboard row's figures from `metrics.measures`, under the names the templates use.
BOARD_MEASURES = {"lat_p50": "latency_p50_ms", "lat_p95": "latency_p95_ms", "ttft_p50": "ttft_p50_ms",
                  "ttft_p95": "ttft_p95_ms", "ttfa_p50": "ttft_answer_p50_ms", "ttfa_p95": "ttft_answer_p95_ms",
                  "tps": "output_tps_p50", "spend": "cost_usd", "cost_case": "cost_per_case_usd",
                  "cost_1k": "cost_per_1k_cases_usd", "reasoning": "reasoning_tokens_mean", "thinking": "thinking",
                  "binary_scores": "binary_scores"}


def _case_score_sql() -> str:
    """Per group, the distinct values of each case's mean score over its asked repeats (an error
    scores 0) and how many cases have each: what the score interval resamples."""
    from ..metrics.rules import ASKED, SCORE, answer

    return f"""
WITH c AS (
    SELECT suite, entrant, case_id, avg({answer(SCORE)}) AS v
    FROM r WHERE {ASKED} GROUP BY suite, entrant, case_id)
SELECT suite, entrant, v, count(*) AS c FROM c GROUP BY GROUPING SETS ((suite, entrant, v), (entrant, v))
"""


def _grouped_values(con, sql: str) -> dict[tuple, tuple[list, list]]:
    """{(suite or None, entrant): (distinct values, their counts)} from a GROUPING SETS query."""
    out: dict[tuple, tuple[list, list]] = {}
    for suite, entrant, v, c in con.execute(sql).fetchall():
        vs, cs = out.setdefault((suite, entrant), ([], []))
        vs.append(v)
        cs.append(c)
    return out


def _mean_interval(values: list[float], counts: list[int]) -> dict:
    """95% percentile bootstrap interval of a mean given distinct values and their counts; many
    distinct values (continuous scores on a big run) resample on a 0.01 grid, so a 100,000-row
    report renders in seconds (`stats.bootstrap_mean_counts`)."""
    from .. import stats

    if not sum(counts):
        return {"estimate": None, "low": None, "high": None}
    iv = stats.bootstrap_mean_counts(values, counts, n_resamples=BOOTSTRAP_RESAMPLES, round_to=2)
    return {"estimate": iv.estimate, "low": iv.low, "high": iv.high}


def leaderboards(con, figs: dict[str, dict] | None = None) -> list[dict]:
    """One table per suite plus an overall table (key None), each a list of entrant rows with
    accuracy and its 95% interval (evalseed.metrics: errors count as failed, skipped cases are
    left out and counted beside it), mean score (bootstrap 95%), latency, speed, cost, errors."""
    from .. import stats

    figs = figs or figures(con)
    by = _by_entrant(figs)
    rows = [{"suite": k[0], "entrant": k[1], **{name: v[src] for name, src in BOARD_MEASURES.items()}}
            for k, v in figs["measures"].items()]
    scores = _grouped_values(con, _case_score_sql())
    kinds = dict(con.execute("SELECT suite, any_value(kind) FROM r GROUP BY suite").fetchall())
    tables: dict[Any, list[dict]] = {}
    for row in rows:
        m = by[(row["suite"], row["entrant"])]
        acc = m.accuracy
        iv = acc.interval(n_resamples=BOOTSTRAP_RESAMPLES, seed=stats.DEFAULT_SEED, round_to=2) if acc.cases else None
        row["n"] = acc.cases
        c = m.counts
        row["ok"], row["errors"], row["skipped"], row["filtered"], row["cut"] = (
            c.ok, c.errors, c.skipped, c.filtered, c.cut_at_max_tokens)
        row["acc"] = acc.estimate
        row["acc_low"] = iv.low if iv else None
        row["acc_high"] = iv.high if iv else None
        row["acc_method"] = "wilson" if acc.single else "bootstrap over cases"
        vs, cs = scores.get((row["suite"], row["entrant"]), ([], []))
        sc = _mean_interval(vs, cs)
        row["score"], row["score_low"], row["score_high"] = sc["estimate"], sc["low"], sc["high"]
        for k in ("lat_p50", "lat_p95", "ttft_p50", "ttft_p95", "ttfa_p50", "ttfa_p95", "tps", "spend", "reasoning"):
            row[k] = num(row[k])
        tables.setdefault(row["suite"], []).append(row)
    # Overall figures pool different suites, so they only rank entrants that ran the same suites:
    # the suite set most entrants share. Others (an image model beside text models) are listed
    # but not ranked.
    suite_sets: dict[str, frozenset] = {}
    for key, entries in tables.items():
        if key is not None:
            for e in entries:
                suite_sets[e["entrant"]] = suite_sets.get(e["entrant"], frozenset()) | {key}
    groups: dict[frozenset, int] = {}
    for ss in suite_sets.values():
        groups[ss] = groups.get(ss, 0) + 1
    main_set = max(groups, key=lambda ss: (groups[ss], len(ss), sorted(ss))) if groups else frozenset()
    out = []
    order = sorted((k for k in tables if k is not None), key=str)
    for key in ([None] if None in tables else []) + order:
        entries = tables[key]
        for e in entries:
            e["suites"] = len(suite_sets.get(e["entrant"], ()))
            e["unranked"] = key is None and suite_sets.get(e["entrant"]) != main_set
        entries.sort(key=lambda x: (x["unranked"], -(x["acc"] if x["acc"] is not None else -1), x["entrant"]))
        ranked = [e for e in entries if not e["unranked"]]
        out.append({
            "suite": key,
            "kind": kinds.get(key) if key else None,
            "rows": entries,
            "show_score": not all(e["binary_scores"] for e in entries if e["binary_scores"] is not None),
            "show_filtered": any(e["filtered"] for e in entries), "show_cut": any(e["cut"] for e in entries),
            "show_ttfa": any(e["thinking"] and e["ttfa_p50"] is not None for e in entries),
            "best": _best(ranked),
            "unranked": [e["entrant"] for e in entries if e["unranked"]],
            "suite_count": len(main_set),
        })
    return out


# Column -> which direction is better. Only columns where "best" means something to a chooser.
BEST_DIRECTION = {"acc": max, "score": max, "lat_p50": min, "lat_p95": min, "ttft_p50": min,
                  "ttft_p95": min, "tps": max, "cost_1k": min, "errors": min}


def _best(entries: list[dict]) -> dict[str, set[str]]:
    best: dict[str, set[str]] = {}
    if len(entries) < 2:
        return best
    for col, pick in BEST_DIRECTION.items():
        vals = [(e[col], e["entrant"]) for e in entries if e.get(col) is not None]
        if len(vals) < 2:
            continue
        target = pick(v for v, _ in vals)
        if all(v == target for v, _ in vals):
            continue  # a tie across the board marks nothing
        best[col] = {name for v, name in vals if v == target}
    return best


# ---- charts' data -----------------------------------------------------------------------------


def latency_distributions(con) -> dict | None:
    """Per entrant: latency quantiles and a histogram on log-spaced bins (ok rows only)."""
    q = rows_of(
        con,
        """SELECT entrant, count(*) AS n,
                  quantile_cont(latency_ms, [0.05, 0.25, 0.5, 0.75, 0.95]) AS qs,
                  min(latency_ms) AS lo, max(latency_ms) AS hi
           FROM r WHERE status = 'ok' AND latency_ms > 0 GROUP BY entrant ORDER BY entrant""",
    )
    if not q:
        return None
    lo = min(x["lo"] for x in q)
    hi = max(x["hi"] for x in q)
    lo = max(lo, 0.01)
    hi = max(hi, lo * 1.01)
    bins = 40
    a, b = math.log10(lo), math.log10(hi)
    width = (b - a) / bins
    hist = con.execute(
        f"""SELECT entrant, least({bins - 1}, greatest(0, floor((log10(latency_ms) - {a}) / {width})))::INT AS bin,
                   count(*) FROM r WHERE status = 'ok' AND latency_ms > 0 GROUP BY ALL"""
    ).fetchall()
    counts: dict[str, list[int]] = {x["entrant"]: [0] * bins for x in q}
    for entrant, k, c in hist:
        counts[entrant][k] += c
    for x in q:
        x["qs"] = [float(v) for v in x["qs"]]
        x["hist"] = counts[x["entrant"]]
    return {"lo": lo, "hi": hi, "bins": bins, "entrants": q}


# ---- per kind ---------------------------------------------------------------------------------


def kind_sections(con, out_dir: str | None, figs: dict[str, dict] | None = None) -> dict[str, list[dict]]:
    """Per task kind present in the rows, in registry order, its section's data (its
    `Kind.report_data`; kinds without rows are absent). The figures are the metrics layer's; the
    kinds query only their breakdowns (fields, gallery)."""
    from ..kinds import all_kinds

    figs = figs or figures(con)
    present = {m.kind for m in figs["suites"].values()}
    return {k.name: k.report_data(con, out_dir, per_suite(figs, k.name)) for k in all_kinds() if k.name in present}


def per_suite(figs: dict[str, dict], kind: str) -> list[tuple[str, list[tuple[str, Any]]]]:
    """[(suite, [(entrant, SuiteMetrics), ...]), ...] of one kind, both sorted."""
    suites: dict[str, list] = {}
    for (suite, entrant, *_), m in sorted(figs["suites"].items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if m.kind == kind:
            suites.setdefault(suite, []).append((entrant, m))
    return sorted(suites.items())


# ---- the whole report -------------------------------------------------------------------------


def build(con, run_ids: list[str], *, out_dir: str | None = None, opts: ReportOptions | None = None) -> dict:
    """All data for one report over `run_ids` (already resolved)."""
    opts = opts or ReportOptions()
    prepare_view(con, run_ids)
    head = header(con, run_ids)
    figs = figures(con)
    boards = leaderboards(con, figs)
    return {
        "run_ids": run_ids,
        "header": head,
        "boards": boards,
        "recommendations": recommendations(boards),
        "variants": variant_groups(head, boards),
        "latency": latency_distributions(con),
        "kinds": kind_sections(con, out_dir, figs),
        "metrics": metrics_data(figs),
        "drill": drilldown(con, opts),
        "error_table": error_table(con),
    }
