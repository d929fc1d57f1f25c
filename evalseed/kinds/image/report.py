"""The report's image section: a summary per entrant and a gallery of the images the rows saved,
each embedded as a small thumbnail (`report.thumbnails`) so the page works wherever it is moved."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...report.thumbnails import Thumbnails
from ...report.values import rows_of
from ..base import SuiteEntries

GALLERY_CAP = 48  # images per suite


def section(con: Any, out_dir: str | None, suites: Sequence[SuiteEntries]) -> list[dict]:
    import os

    items = rows_of(
        con,
        f"""SELECT suite, entrant, case_id, "repeat", passed, status, error, input_text,
                   details->'images' AS imgs
            FROM r WHERE kind = 'image'
            QUALIFY row_number() OVER (PARTITION BY suite ORDER BY case_id, entrant, "repeat") <= {GALLERY_CAP}
            ORDER BY suite, case_id, entrant, "repeat" """,
    )
    by_suite: dict[str, dict] = {}
    for suite, entries in suites:
        s = by_suite[suite] = {"suite": suite, "summary": [], "items": [], "total": 0}
        for entrant, m in entries:
            km = m.kind_metrics
            s["summary"].append({"entrant": entrant, "n": m.accuracy.cases, "accuracy": m.accuracy.estimate,
                                 "images": km.get("images"), "errors": m.counts.errors,
                                 # a judge's calls and cost, apart from the image model's
                                 "judge_calls": km.get("judge_calls"), "judge_cost_usd": km.get("judge_cost_usd"),
                                 "mean_judge_score": km.get("mean_judge_score")})
            s["judged"] = s.get("judged") or km.get("judge_calls") is not None
            s["total"] += m.counts.rows
    base = os.path.abspath(out_dir) if out_dir else os.getcwd()
    thumbs = Thumbnails()
    for it in items:
        try:
            imgs = json.loads(it["imgs"]) if it["imgs"] else []
        except ValueError:
            imgs = []
        shown = []
        for im in imgs if isinstance(imgs, list) else []:
            if not isinstance(im, dict):
                continue
            path = im.get("path")
            href = thumb = None
            exists = False
            if isinstance(path, str) and path:
                absolute = os.path.abspath(path)
                exists = os.path.exists(absolute)
                # The full image, relative to the report (works while report and run folder move
                # together); the thumbnail is in the page itself.
                href = os.path.relpath(absolute, base).replace(os.sep, "/")
                thumb = thumbs.make(absolute) if exists else None
            # The image kind records `ok` + `problems` (what failed); a `checks` map is accepted too.
            checks = im.get("checks")
            if isinstance(checks, dict):
                checks = [{"name": k, "ok": v} for k, v in checks.items()]
            elif isinstance(checks, list):
                checks = [c if isinstance(c, dict) else {"name": str(c), "ok": None} for c in checks]
            else:
                problems = im.get("problems")
                checks = [{"name": str(p), "ok": False} for p in (problems if isinstance(problems, list) else [])]
                if not checks and im.get("ok") is not None:
                    checks = [{"name": "checks passed" if im.get("ok") else "failed", "ok": bool(im.get("ok"))}]
            verdict = im.get("judge")
            if isinstance(verdict, dict) and isinstance(verdict.get("score"), (int, float)) \
                    and not any(str(c["name"]).startswith("judge: ") for c in checks):
                checks.append({"name": f"judge {verdict['score']:.2f}: {verdict.get('reason') or ''}"[:200], "ok": True})
            if isinstance(im.get("error"), dict) and not path:
                checks.insert(0, {"name": f"{im['error'].get('code', 'error')}: {im['error'].get('message', '')}"[:200],
                                  "ok": False})
            shown.append({"path": path, "href": href, "exists": exists, "thumb": thumb, "format": im.get("format"),
                          "width": im.get("width"), "height": im.get("height"), "bytes": im.get("bytes"),
                          "checks": checks})
        it["images_list"] = shown
        if it["suite"] in by_suite:
            by_suite[it["suite"]]["items"].append(it)
    for s in by_suite.values():
        s["thumbs_over_budget"] = thumbs.over_budget
    return list(by_suite.values())
