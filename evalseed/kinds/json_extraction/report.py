"""The report's JSON extraction section: each entrant's validity and field scores (the metrics
layer's), and a per-field table of the share of answers with the field right."""

from __future__ import annotations

from typing import Any, Sequence

from ...report.values import num
from ..base import SuiteEntries

FIELDS_CAP = 200  # rows of the per-field table


def section(con: Any, out_dir: str | None, suites: Sequence[SuiteEntries]) -> list[dict]:
    # Per field: the expected answer's leaves (array positions folded to `[]`), each right unless
    # the scorer listed it under `mismatches` or `missing`, or the answer did not parse at all (an
    # error row is an answer that did not parse; skipped rows are out, as in every metric).
    # Paths are those of scoring.json_fields.flatten ("a.b[0].c").
    fields = con.execute(
        r"""WITH j AS (
               SELECT row_number() OVER () AS rid, suite, entrant, details,
                      CAST(details->'expected' AS VARCHAR) AS exp,
                      status = 'ok' AND coalesce((details->>'parsed')::BOOLEAN, TRUE) AS parsed
               FROM r WHERE kind = 'json_extraction' AND status IN ('ok', 'error')
                 AND json_type(details->'expected') IN ('OBJECT', 'ARRAY')),
           -- json_tree is the slow part: walk each distinct expected answer once, not once per model.
           tree AS (
               SELECT d.exp, substr(t.fullkey, 3) AS path
               FROM (SELECT DISTINCT exp FROM j) AS d, json_tree(d.exp) AS t
               WHERE t.type NOT IN ('OBJECT', 'ARRAY')),
           leaves AS (
               SELECT j.rid, j.suite, j.entrant, j.parsed, tree.path
               FROM j JOIN tree ON tree.exp = j.exp),
           wrong AS (
               SELECT rid, unnest(from_json(coalesce(details->'missing', '[]'), '["VARCHAR"]')) AS path FROM j
               UNION ALL
               SELECT rid, unnest(from_json(coalesce(details->'mismatches', '[]'), '[{"path": "VARCHAR"}]')).path FROM j)
           SELECT l.suite, regexp_replace(l.path, '\[[0-9]+\]', '[]', 'g') AS field, l.entrant,
                  avg(CASE WHEN l.parsed AND w.rid IS NULL THEN 1.0 ELSE 0.0 END) AS acc, count(*) AS n
           FROM leaves l LEFT JOIN (SELECT DISTINCT rid, path FROM wrong) w ON w.rid = l.rid AND w.path = l.path
           GROUP BY ALL ORDER BY 1, 2, 3"""
    ).fetchall()
    by_suite: dict[str, dict] = {}
    for suite, entries in suites:
        s = by_suite[suite] = {"suite": suite, "summary": [], "fields": {}, "entrants": []}
        for entrant, m in entries:
            km = m.kind_metrics
            s["summary"].append({"entrant": entrant, "n": m.accuracy.cases, "parsed": km.get("valid_json_rate"),
                                 "schema_valid": km.get("schema_valid_rate"), "precision": km.get("mean_precision"),
                                 "recall": km.get("mean_recall"), "field_f1": km.get("mean_field_f1"),
                                 "fenced": km.get("fenced"), "degraded": km.get("degraded")})
            s["entrants"].append(entrant)
    for suite, field, entrant, acc, n in fields:
        if suite in by_suite:
            by_suite[suite]["fields"].setdefault(field, {})[entrant] = {"acc": num(acc), "n": n}
    out = []
    for s in by_suite.values():
        s["field_count"] = len(s["fields"])
        s["fields"] = [{"field": k, "by": v} for k, v in sorted(s["fields"].items())[:FIELDS_CAP]]
        out.append(s)
    return out
