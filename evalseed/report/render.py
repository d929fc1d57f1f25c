"""Render reports: one self-contained HTML file per report, plus `index.html` of the folder.

`report_command` is what `evalseed report` calls. Data comes from `data.build` (DuckDB SQL), charts
from `charts` (inline SVG), the page from Jinja2 templates with autoescaping on: every string from
a suite or a model is escaped by the template engine, and the drill-down data travels as JSON in a
`<script type="application/json">` block with `<`, `>` and `&` escaped, read by our JS with
`textContent` only.
"""

from __future__ import annotations

import html
import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..compare import compare_runs
from ..errors import UsageError
from ..files import write_atomic
from . import charts
from .data import ReportOptions

META_NAME = "evalseed-report"
TEMPLATES = Path(__file__).parent / "templates"
KIND_TEMPLATES = Path(__file__).parent.parent / "kinds"


def safe_json(value: Any) -> str:
    """JSON that can sit inside a <script> element: no `</script>`, no `<!--`, no HTML entity
    surprises, no raw line separators (which older JS parsers treat as newlines)."""
    s = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _clean_floats(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dict):
        return {k: _clean_floats(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_floats(x) for x in v]
    return v


# ---- formatting filters -----------------------------------------------------------------------


def _pct(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v * 100:.{digits}f}%"


def _money(v: Any) -> str:
    if v is None:
        return "–"
    if v == 0:
        return "$0"
    if abs(v) >= 100:
        return f"${v:,.0f}"
    if abs(v) >= 1:
        return f"${v:,.2f}"
    if abs(v) >= 0.01:
        return f"${v:.3f}"
    if abs(v) < 1e-7:
        return f"${v:.1e}"
    # Two significant digits without exponent notation: $0.000042, not $4.2e-05.
    digits = -math.floor(math.log10(abs(v))) + 1
    return f"${v:.{digits}f}"


def _scaled(v: Any, units: tuple[tuple[float, float, str], ...], plain: str) -> str:
    """A duration in the first unit it reaches: (at least, divide by, format) in falling order."""
    if v is None:
        return "–"
    for at_least, divisor, fmt in units:
        if v >= at_least:
            return fmt.format(v / divisor)
    return plain.format(v)


def _ms(v: Any) -> str:
    return _scaled(v, ((10_000, 1000, "{:.1f} s"), (1000, 1000, "{:.2f} s")), "{:.0f} ms")


def _num(v: Any, digits: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isnan(v):
        return "–"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def _secs(v: Any) -> str:
    return _scaled(v, ((3600, 3600, "{:.1f} h"), (60, 60, "{:.1f} min")), "{:.1f} s")


def _sortval(v: Any) -> str:
    """data-v attribute for sortable columns: a number, or empty for missing (sorts last)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(float(v))
    return str(v)


def _env():
    import jinja2

    env = jinja2.Environment(
        # The page's templates, then each kind's section partial (`<kind>/section.html.j2`).
        loader=jinja2.FileSystemLoader([str(TEMPLATES), str(KIND_TEMPLATES)]),
        autoescape=True,  # every template, whatever its extension: suite and model text is hostile input
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=_pct, money=_money, ms=_ms, num=_num, secs=_secs, sortval=_sortval,
                       tojson_safe=lambda v: __import__("markupsafe").Markup(safe_json(_clean_floats(v))))
    return env


def kind_views(sections: dict[str, list[dict]]) -> list[dict]:
    """The kinds' report sections in page order (`Kind.report_order`, then registry order), each
    with its title, its template partial (`evalseed/kinds/<kind>/section.html.j2`) and its data,
    charts added (`Kind.report_charts`)."""
    from ..kinds import all_kinds

    kinds = sorted((k for k in all_kinds() if sections.get(k.name)), key=lambda k: k.report_order)
    for k in kinds:
        k.report_charts(sections[k.name])
    return [{"name": k.name, "title": k.title, "template": k.report_template, "sections": sections[k.name]}
            for k in kinds]


def _assets() -> dict:
    """CSS and scripts inlined into every report, and a Content-Security-Policy that allows only
    these exact scripts (by hash) and no network at all: even if some text escaped the escaping,
    an injected script would not run and nothing could be fetched."""
    import base64
    import hashlib

    from markupsafe import Markup

    css = (TEMPLATES / "_style.css").read_text(encoding="utf-8")
    errors_js = (TEMPLATES / "_errors.js").read_text(encoding="utf-8")
    app_js = (TEMPLATES / "_app.js").read_text(encoding="utf-8")
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode() + "'"
        for js in (errors_js, app_js)
    )
    # Images are embedded thumbnails (data: URIs): the page loads nothing, not even from its folder.
    csp = (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return {"css": Markup(css), "errors_js": Markup(errors_js), "app_js": Markup(app_js), "csp": csp}


# ---- one report -------------------------------------------------------------------------------


def report_filename(run_ids: list[str]) -> str:
    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", s)[:60]

    if len(run_ids) == 1:
        return f"{clean(run_ids[0])}.html"
    if len(run_ids) == 2:
        return f"{clean(run_ids[0])}-vs-{clean(run_ids[1])}.html"
    return f"{clean(run_ids[0])}-and-{len(run_ids) - 1}-more.html"


def _comparison(con, run_ids: list[str]) -> dict | None:
    if len(run_ids) != 2:
        return None
    try:
        # A report shows what two runs hold even when one is partial; the gate is compare's job,
        # and the partial statements are shown above the table.
        result = compare_runs(con, run_ids[0], run_ids[1], allow_partial=True)
    except UsageError as e:
        return {"unavailable": str(e)}
    return {"data": result.to_dict()}  # to_dict is JSON-safe already (NaN -> None)


def verdict_banner(comparison: dict | None) -> dict | None:
    """The comparison's verdict for the top of the page: compare's own words and counts (its
    `to_dict()`), or None without a comparison or when it could not be made."""
    c = (comparison or {}).get("data")
    if not isinstance(c, dict):
        return None
    units = c.get("units") or []
    return {"verdict": c.get("verdict"), "failed": bool(c.get("failed")),
            "base": (c.get("base") or {}).get("run_id"), "cand": (c.get("cand") or {}).get("run_id"),
            "regressed": [u.get("suite") for u in units if u.get("failed")],
            "improved": [u.get("suite") for u in units if u.get("verdict") == "improvement"],
            "suites": len(units)}


def _router(con, run_ids: list[str], router_path: str | None) -> dict | None:
    if not router_path:
        return None
    if not Path(router_path).exists():
        raise UsageError(f"{router_path}: no such router file; train one with `evalseed route train` or drop --router.")
    try:
        from ..router import report_data
    except ImportError:
        return {"unavailable": "the router module (evalseed.router) is not installed in this build."}
    try:
        return {"data": _clean_floats(report_data(con, run_ids, router_path))}
    except UsageError as e:
        return {"unavailable": str(e)}


def build_context(con, run_ids: list[str], *, out_dir: str, router_path: str | None = None,
                  opts: ReportOptions | None = None) -> dict:
    """Data + charts for the template (separate from writing so tests can inspect it)."""
    from . import data

    d = data.build(con, run_ids, out_dir=out_dir, opts=opts)
    entrants = [m["entrant"] for m in d["header"]["models"]]
    palette = charts.colors(entrants)
    qc = []
    for b in d["boards"]:
        pts = [{"entrant": e["entrant"], "acc": e["acc"], "low": e["acc_low"], "high": e["acc_high"],
                "cost": e["cost_1k"]} for e in b["rows"] if not e.get("unranked")]
        if sum(p["acc"] is not None for p in pts) < 2:
            continue  # one point is no trade-off: the leaderboard says it all
        title = f"Accuracy vs cost: {b['suite'] or 'all suites'}"
        qc.append({"suite": b["suite"], "svg": charts.quality_cost(pts, palette, title=title),
                   "frontier": [p["entrant"] for p in charts.pareto_frontier(
                       [{**p, "cost": p["cost"] or 0.0} for p in pts if p["acc"] is not None])]})
    from ..kinds import all_kinds

    views = kind_views(d["kinds"])
    comparison = _comparison(con, run_ids)
    drill = d.pop("drill")
    now = datetime.now(timezone.utc)
    runs = d["header"]["runs"]
    title = ("Comparison " + " vs ".join(run_ids) if len(run_ids) == 2 else "Report " + ", ".join(run_ids))
    meta = {"title": title, "runs": run_ids, "generated": now.strftime("%Y-%m-%d %H:%M UTC"),
            "labels": [r.get("label") for r in runs],
            "started": [str(r.get("started_at"))[:19] for r in runs],
            "models": entrants, "suites": [s["suite"] for s in d["header"]["suites"]],
            "cases": d["header"]["totals"]["cases"]}
    from .. import __version__ as version

    return {
        **d,
        "title": title,
        "meta_json": json.dumps(meta, default=str),
        "generated": meta["generated"],
        "version": version,
        "palette": palette,
        "qc": qc,
        "latency_svg": charts.latency(d["latency"], palette),
        "drill_meta": {k: v for k, v in drill.items() if k != "cases"},
        "cases": drill["cases"],
        "comparison": comparison,
        "verdict": verdict_banner(comparison),
        "router": None,
        "router_routes": {},
        "kind_views": views,
        "kind_titles": {k.name: k.title for k in all_kinds()},
        **_assets(),
    }


def render_report(con, run_ids: list[str], out_dir: str | Path, *, router_path: str | None = None,
                  opts: ReportOptions | None = None) -> Path:
    """Write one report for `run_ids` (resolved ids) into `out_dir`; returns its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = build_context(con, run_ids, out_dir=str(out), router_path=router_path, opts=opts)
    ctx["router"] = _router(con, run_ids, router_path)
    rd = (ctx["router"] or {}).get("data")
    if isinstance(rd, dict):
        ctx["router"]["svg"] = charts.router_curve(rd, ctx["palette"])
        ctx["router_routes"] = {r.get("suite"): r for r in rd.get("routes") or [] if isinstance(r, dict)}
    page = _env().get_template("report.html.j2").render(**ctx)
    path = out / report_filename(run_ids)
    # A reader never sees half a report. errors="replace": a lone surrogate from an old database
    # must not cost the whole report.
    write_atomic(path, page, errors="replace", umask_mode=True)
    return path


# ---- the folder index -------------------------------------------------------------------------

_META_RE = re.compile(r'<meta name="evalseed-report" content="([^"]*)"')


def read_meta(path: Path) -> dict | None:
    """The metadata a report carries in its <head>, or None for other HTML files."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(16_384)
    except OSError:
        return None
    m = _META_RE.search(head)
    if not m:
        return None
    try:
        return json.loads(html.unescape(m.group(1)))
    except ValueError:
        return None


def _ours(path: Path) -> bool:
    """True for a file evalseed wrote: a report (its metadata) or an index (its marker; indexes
    from before the marker are known by their title)."""
    if path.name != "index.html":
        return read_meta(path) is not None
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return False
    return 'name="evalseed-index"' in head or "<title>evalseed reports</title>" in head


def check_overwrites(out_dir: str | Path, names: list[str]) -> None:
    """Refuse to replace a file evalseed did not write (a site's own index.html in -o DIR)."""
    for name in names:
        path = Path(out_dir) / name
        if path.exists() and not _ours(path):
            raise UsageError(f"{path} exists and was not written by evalseed; it would be replaced. Write the "
                             "reports into an empty folder or one evalseed made (e.g. -o reports/).")


def write_index(out_dir: str | Path) -> Path:
    """(Re)write `index.html` listing every evalseed report in the folder, newest first."""
    out = Path(out_dir)
    items = []
    for p in sorted(out.glob("*.html")):
        if p.name == "index.html":
            continue
        meta = read_meta(p)
        if meta is None:
            continue
        items.append({"file": p.name, "mtime": p.stat().st_mtime, "size": p.stat().st_size, **meta})
    items.sort(key=lambda x: (x.get("generated") or "", x["mtime"]), reverse=True)
    page = _env().get_template("index.html.j2").render(items=items, folder=str(out.resolve()))
    path = out / "index.html"
    write_atomic(path, page, errors="replace", umask_mode=True)
    return path


# ---- the command ------------------------------------------------------------------------------


def report_command(db: str, run_refs: list[str], out_dir: str, router_path: str | None = None) -> int:
    """`evalseed report`: resolve runs (none = the latest), render, refresh the index, print paths."""
    import typer

    from .. import store

    if router_path and not Path(router_path).exists():
        raise UsageError(f"{router_path}: no such router file; train one with `evalseed route train` or drop --router.")
    if len(set(run_refs)) != len(run_refs):
        raise UsageError("the same run is given twice; give each run once.")
    con = store.open_db(db, read_only=True)
    try:
        refs: list[str | None] = list(run_refs) or [None]  # none given: the latest run
        run_ids = [store.resolve_run(con, ref) for ref in refs]
        if len(set(run_ids)) != len(run_ids):
            raise UsageError("two of the given run ids name the same run; give each run once.")
        for rid in run_ids:
            if not con.execute("SELECT 1 FROM results WHERE run_id = ? LIMIT 1", [rid]).fetchone():
                raise UsageError(f"run {rid} has no results yet; nothing to report.")
        check_overwrites(out_dir, [report_filename(run_ids), "index.html"])
        try:
            path = render_report(con, run_ids, out_dir, router_path=router_path)
        except OSError as e:
            raise UsageError(f"{out_dir}: cannot write the report ({e.strerror or e}); pick another -o folder.") from None
    finally:
        con.close()
    try:
        index = write_index(out_dir)
    except OSError as e:
        raise UsageError(f"{out_dir}: cannot write index.html ({e.strerror or e}); pick another -o folder.") from None
    typer.echo(str(path))
    typer.echo(f"index: {index}", err=True)
    return 0
