"""Inline SVG charts drawn from the report data: quality vs cost (log cost, Pareto frontier),
latency distributions, and the long-context heat map.

Our own few hundred lines instead of a plotting library: the report must open from disk with no
network and no JS library, and these three chart types need only lines, circles and text. Every
piece of text is escaped here (names come from suites and model strings), and the result is a
`Markup` so the templates do not escape the SVG itself.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from markupsafe import Markup, escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#393b79", "#637939"]


def colors(entrants: Iterable[str]) -> dict[str, str]:
    """A stable colour per entrant (sorted order), shared by every chart of one report."""
    return {e: PALETTE[i % len(PALETTE)] for i, e in enumerate(sorted(set(entrants)))}


def _f(x: float) -> str:
    return f"{x:.1f}"


def pareto_frontier(points: Sequence[dict]) -> list[dict]:
    """The points no other point beats on both cost (lower) and accuracy (higher), by cost.

    Points without a cost are left out (they cannot be placed on the cost axis); equal cost keeps
    the more accurate one.
    """
    usable = [p for p in points if p.get("cost") is not None and p.get("acc") is not None]
    usable.sort(key=lambda p: (p["cost"], -p["acc"]))
    frontier: list[dict] = []
    best = -math.inf
    for p in usable:
        if p["acc"] > best:
            frontier.append(p)
            best = p["acc"]
    return frontier


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    start, stop = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = (1, 2, 5) if stop - start <= 3 else (1,)
    for e in range(start, stop + 1):
        for m in steps:
            v = m * 10**e
            if lo <= v <= hi:
                ticks.append(v)
    return ticks


def _money(v: float) -> str:
    if v == 0:
        return "$0"
    if v >= 100:
        return f"${v:,.0f}"
    if v >= 1:
        return f"${v:.2f}".rstrip("0").rstrip(".")
    s = f"{v:.6f}".rstrip("0").rstrip(".")
    return "$" + s


def _ms(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g} s"
    return f"{v:g} ms"


def quality_cost(points: Sequence[dict], palette: dict[str, str], *, title: str = "", width: int = 640,
                 height: int = 340) -> Markup:
    """Accuracy (y, with 95% interval bars) against cost per 1,000 cases (x, log scale).

    `points`: dicts with entrant, acc, low, high, cost (USD per 1,000 cases; 0 or None allowed:
    drawn in a separate "free / unpriced" lane at the left, since a log axis has no zero).
    """
    ml, mr, mt, mb = 58, 16, 14, 44
    pw, ph = width - ml - mr, height - mt - mb
    pts = [p for p in points if p.get("acc") is not None]
    if not pts:
        return Markup('<p class="muted">No scored cases to chart.</p>')
    positive = [p["cost"] for p in pts if p.get("cost")]
    lane = any(not p.get("cost") for p in pts)
    lane_w = 46 if lane else 0
    if positive:
        lo, hi = min(positive), max(positive)
        if hi / lo < 10:  # at least one decade so the ticks say something
            mid = math.sqrt(lo * hi)
            lo, hi = mid / math.sqrt(10), mid * math.sqrt(10)
        lo, hi = lo / 1.6, hi * 1.6
    else:
        lo, hi = 0.01, 1.0
    la, lb = math.log10(lo), math.log10(hi)

    def x_of(cost: float | None) -> float:
        if not cost:
            return ml + lane_w / 2
        return ml + lane_w + (math.log10(cost) - la) / (lb - la) * (pw - lane_w)

    ymin = min(min(p["low"] if p.get("low") is not None else p["acc"] for p in pts), 1.0)
    ymin = max(0.0, math.floor((ymin - 0.02) * 10) / 10)
    ymax = 1.0

    def y_of(a: float) -> float:
        return mt + (ymax - a) / (ymax - ymin) * ph

    out = [f'<svg class="chart qc" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title or "Accuracy against cost")}" xmlns="http://www.w3.org/2000/svg">']
    if title:
        out.append(f"<title>{escape(title)}</title>")
    # Grid and axes.
    step = 0.1 if ymax - ymin > 0.35 else 0.05
    a = ymin
    while a <= ymax + 1e-9:
        y = y_of(a)
        out.append(f'<line class="grid" x1="{ml}" x2="{ml + pw}" y1="{_f(y)}" y2="{_f(y)}"/>')
        out.append(f'<text class="tick" x="{ml - 6}" y="{_f(y + 4)}" text-anchor="end">{a * 100:.0f}%</text>')
        a = round(a + step, 10)
    if positive:
        for t in _log_ticks(lo, hi):
            x = x_of(t)
            out.append(f'<line class="grid" x1="{_f(x)}" x2="{_f(x)}" y1="{mt}" y2="{mt + ph}"/>')
            out.append(f'<text class="tick" x="{_f(x)}" y="{mt + ph + 16}" text-anchor="middle">{escape(_money(t))}</text>')
    if lane:
        xl = ml + lane_w
        out.append(f'<line class="lane" x1="{xl}" x2="{xl}" y1="{mt}" y2="{mt + ph}"/>')
        out.append(f'<text class="tick" x="{_f(ml + lane_w / 2)}" y="{mt + ph + 16}" text-anchor="middle">$0 / n.a.</text>')
    out.append(f'<rect class="frame" x="{ml}" y="{mt}" width="{pw}" height="{ph}"/>')
    out.append(f'<text class="axis" x="{ml + pw / 2}" y="{height - 6}" text-anchor="middle">'
               f"cost per 1,000 cases (USD, log scale)</text>")
    out.append(f'<text class="axis" transform="translate(14 {mt + ph / 2}) rotate(-90)" text-anchor="middle">'
               f"accuracy (95% CI)</text>")
    # Frontier first, so points draw over it.
    front = pareto_frontier([{**p, "cost": p.get("cost") or 0.0} for p in pts])
    if len(front) > 1:
        path = " ".join(f"{_f(x_of(p['cost']))},{_f(y_of(p['acc']))}" for p in front)
        out.append(f'<polyline class="frontier" points="{path}"/>')
    front_names = {p["entrant"] for p in front}
    dots = [(x_of(p.get("cost")), y_of(p["acc"])) for p in pts]
    boxes: list[tuple[float, float, float, float]] = []
    for p in sorted(pts, key=lambda p: -p["acc"]):
        x, y = x_of(p.get("cost")), y_of(p["acc"])
        c = palette.get(p["entrant"], "#333")
        tip = (f"{p['entrant']}: accuracy {p['acc'] * 100:.1f}%"
               + (f" [{p['low'] * 100:.1f}, {p['high'] * 100:.1f}]" if p.get("low") is not None else "")
               + (f", {_money(p['cost'])} per 1,000 cases" if p.get("cost") else ", no price")
               + (" (Pareto frontier)" if p["entrant"] in front_names else ""))
        out.append(f'<g class="pt" data-entrant="{escape(p["entrant"])}"><title>{escape(tip)}</title>')
        if p.get("low") is not None and p.get("high") is not None:
            out.append(f'<line class="ci" stroke="{c}" x1="{_f(x)}" x2="{_f(x)}" '
                       f'y1="{_f(y_of(p["low"]))}" y2="{_f(y_of(p["high"]))}"/>')
        ring = ' class="front"' if p["entrant"] in front_names else ""
        out.append(f'<circle{ring} cx="{_f(x)}" cy="{_f(y)}" r="5" fill="{c}"/>')
        lx, ly, anchor, box = _place_label(p["entrant"], x, y, boxes, dots, (ml, mt, ml + pw, mt + ph))
        boxes.append(box)
        out.append(f'<text class="lbl" x="{_f(lx)}" y="{_f(ly)}" text-anchor="{anchor}">{escape(p["entrant"])}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


def _place_label(text: str, x: float, y: float, boxes: list, dots: list, frame: tuple) -> tuple:
    """Pick a label position around a point that overlaps no earlier label, no other point and
    stays inside the plot; when every candidate collides, the least-overlapping one wins."""
    w, h = 6.3 * len(text) + 2, 12.0
    x0f, y0f, x1f, y1f = frame
    candidates = [(8, 4, "start"), (-8, 4, "end"), (8, -9, "start"), (-8, -9, "end"), (8, 16, "start"),
                  (-8, 16, "end"), (8, -21, "start"), (-8, -21, "end"), (8, 28, "start"), (-8, 28, "end")]
    best = None
    for dx, dy, anchor in candidates:
        lx, ly = x + dx, y + dy
        bx0 = lx if anchor == "start" else lx - w
        box = (bx0, ly - h + 3, bx0 + w, ly + 3)
        cost = 0.0
        for b in boxes:
            ox = max(0.0, min(box[2], b[2]) - max(box[0], b[0]))
            oy = max(0.0, min(box[3], b[3]) - max(box[1], b[1]))
            cost += ox * oy
        for px, py in dots:
            if (px, py) != (x, y) and box[0] - 5 < px < box[2] + 5 and box[1] - 5 < py < box[3] + 5:
                cost += 60
        if box[0] < x0f or box[2] > x1f + 10 or box[1] < y0f - 4 or box[3] > y1f:
            cost += 500
        if cost == 0:
            return lx, ly, anchor, box
        if best is None or cost < best[0]:
            best = (cost, (lx, ly, anchor, box))
    assert best is not None  # the loop above sees at least one placement
    return best[1]


def latency(dist: dict | None, palette: dict[str, str], *, width: int = 640) -> Markup:
    """One row per entrant: a histogram of latencies on log-spaced bins, with a box for p25-p75,
    whiskers for p5-p95 and a tick at the median."""
    if not dist or not dist.get("entrants"):
        return Markup('<p class="muted">No successful requests with a latency.</p>')
    rows = dist["entrants"]
    longest = max(len(r["entrant"]) for r in rows)
    ml, mr, mt, row_h = int(min(250, max(110, 14 + 6.4 * longest))), 16, 8, 34
    height = mt + row_h * len(rows) + 40
    pw = width - ml - mr
    lo, hi = dist["lo"], dist["hi"]
    if hi / lo < 10:
        mid = math.sqrt(lo * hi)
        lo, hi = min(lo, mid / math.sqrt(10)), max(hi, mid * math.sqrt(10))
    la, lb = math.log10(lo), math.log10(hi)

    def x_of(v: float) -> float:
        return ml + (math.log10(max(v, lo)) - la) / (lb - la) * pw

    out = [f'<svg class="chart lat" viewBox="0 0 {width} {height}" role="img" aria-label="Latency per model" '
           f'xmlns="http://www.w3.org/2000/svg"><title>Latency distribution per model</title>']
    base_y = mt + row_h * len(rows)
    for t in _log_ticks(lo, hi):
        x = x_of(t)
        out.append(f'<line class="grid" x1="{_f(x)}" x2="{_f(x)}" y1="{mt}" y2="{base_y}"/>')
        out.append(f'<text class="tick" x="{_f(x)}" y="{base_y + 14}" text-anchor="middle">{escape(_ms(t))}</text>')
    out.append(f'<text class="axis" x="{ml + pw / 2}" y="{height - 6}" text-anchor="middle">'
               "latency, request start to last byte (log scale)</text>")
    bins = dist["bins"]
    d_lo, d_hi = math.log10(dist["lo"]), math.log10(dist["hi"])
    for i, r in enumerate(rows):
        y0 = mt + i * row_h
        c = palette.get(r["entrant"], "#333")
        p5, p25, p50, p75, p95 = r["qs"]
        tip = (f"{r['entrant']}: n={r['n']}, p5 {_ms(round(p5))}, p25 {_ms(round(p25))}, p50 {_ms(round(p50))}, "
               f"p75 {_ms(round(p75))}, p95 {_ms(round(p95))}")
        out.append(f'<g class="row"><title>{escape(tip)}</title>')
        name = r["entrant"] if len(r["entrant"]) <= 37 else r["entrant"][:36] + "…"
        out.append(f'<text class="lbl" x="{ml - 8}" y="{_f(y0 + row_h / 2 + 4)}" text-anchor="end">{escape(name)}</text>')
        peak = max(r["hist"]) or 1
        for k, cnt in enumerate(r["hist"]):
            if not cnt:
                continue
            v0 = 10 ** (d_lo + (d_hi - d_lo) * k / bins)
            v1 = 10 ** (d_lo + (d_hi - d_lo) * (k + 1) / bins)
            x0, x1 = x_of(v0), x_of(v1)
            h = (row_h - 12) * cnt / peak
            out.append(f'<rect class="bar" fill="{c}" x="{_f(x0)}" y="{_f(y0 + row_h - 6 - h)}" '
                       f'width="{_f(max(x1 - x0 - 0.5, 0.8))}" height="{_f(h)}"/>')
        ym = y0 + row_h - 6
        out.append(f'<line class="whisker" x1="{_f(x_of(p5))}" x2="{_f(x_of(p95))}" y1="{_f(ym)}" y2="{_f(ym)}"/>')
        out.append(f'<rect class="box" x="{_f(x_of(p25))}" y="{_f(ym - 3)}" width="{_f(max(x_of(p75) - x_of(p25), 1))}" height="6"/>')
        out.append(f'<line class="median" x1="{_f(x_of(p50))}" x2="{_f(x_of(p50))}" y1="{_f(ym - 6)}" y2="{_f(ym + 6)}"/>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def _tokens(t: int) -> str:
    if t >= 1000 and t % 1000 == 0:
        return f"{t // 1000}k"
    if t >= 1000:
        return f"{t / 1000:.1f}k"
    return str(t)


def heatmap(hm: dict, *, cell: int = 46) -> Markup:
    """Accuracy by context length (columns) and needle depth (rows) for one entrant."""
    tokens, depths, grid = hm["tokens"], hm["depths"], hm["grid"]
    ml, mt = 52, 8
    width = ml + cell * len(tokens) + 8
    height = mt + cell * len(depths) + 34
    out = [f'<svg class="chart heat" viewBox="0 0 {width} {height}" width="{width}" role="img" '
           f'aria-label="{escape("Accuracy by length and depth: " + hm["entrant"])}" xmlns="http://www.w3.org/2000/svg">']
    for j, d in enumerate(depths):
        y = mt + j * cell
        out.append(f'<text class="tick" x="{ml - 6}" y="{_f(y + cell / 2 + 4)}" text-anchor="end">{d * 100:.0f}%</text>')
        for i, t in enumerate(tokens):
            x = ml + i * cell
            c = grid[j][i]
            if c is None or c["acc"] is None:
                label = "skipped" if c and c["skipped"] else "no cases"
                out.append(f'<g><title>{escape(f"{_tokens(t)} tokens, depth {d * 100:.0f}%: {label}")}</title>'
                           f'<rect class="cell empty" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}"/>'
                           f'<text class="cellt" x="{x + cell / 2 - 1}" y="{_f(y + cell / 2 + 4)}" text-anchor="middle">–</text></g>')
                continue
            acc = c["acc"]
            fill = f"hsl({acc * 125:.0f}, 55%, {82 - acc * 12:.0f}%)"
            tip = f"{_tokens(t)} tokens, depth {d * 100:.0f}%: {c['k']}/{c['n']} passed" + (
                f", {c['skipped']} skipped" if c["skipped"] else "")
            out.append(f'<g><title>{escape(tip)}</title><rect class="cell" x="{x}" y="{y}" width="{cell - 2}" '
                       f'height="{cell - 2}" fill="{fill}"/><text class="cellt" x="{x + cell / 2 - 1}" '
                       f'y="{_f(y + cell / 2 + 4)}" text-anchor="middle">{acc * 100:.0f}%</text></g>')
    for i, t in enumerate(tokens):
        tx = ml + i * cell + cell / 2 - 1
        out.append(f'<text class="tick" x="{_f(tx)}" y="{mt + cell * len(depths) + 14}" text-anchor="middle">{_tokens(t)}</text>')
    out.append(f'<text class="axis" x="{ml + cell * len(tokens) / 2}" y="{height - 4}" text-anchor="middle">tokens</text>')
    out.append(f'<text class="axis" transform="translate(10 {mt + cell * len(depths) / 2}) rotate(-90)" '
               'text-anchor="middle">depth</text>')
    out.append("</svg>")
    return Markup("".join(out))


def router_curve(rd: dict, palette: dict[str, str], *, width: int = 640, height: int = 340) -> Markup:
    """The router's quality against cost on held-out cases (evalseed.router.report_data): each
    model alone, the router's curve over its cost weight, the hull of single models (what mixing
    models without a router reaches), the oracle, and the trained operating point."""
    singles = [s for s in rd.get("singles") or [] if s.get("quality") is not None]
    curve = [p for p in rd.get("router_curve") or [] if p.get("quality") is not None]
    if not singles:
        return Markup('<p class="muted">The router returned no curve.</p>')
    # Costs come per call; shown per 1,000 calls like the other charts.
    pts = [(s.get("cost") or 0.0) * 1000 for s in singles] + [(p.get("cost") or 0.0) * 1000 for p in curve]
    oracle = rd.get("oracle") or {}
    op = rd.get("operating_point") or {}
    for extra in (oracle, op):
        if extra.get("cost") is not None:
            pts.append(extra["cost"] * 1000)
    positive = [c for c in pts if c > 0]
    lo, hi = (min(positive), max(positive)) if positive else (0.01, 1.0)
    if hi / lo < 10:
        mid = math.sqrt(lo * hi)
        lo, hi = mid / math.sqrt(10), mid * math.sqrt(10)
    lo, hi = lo / 1.4, hi * 1.4
    ml, mr, mt, mb = 58, 16, 14, 44
    pw, ph = width - ml - mr, height - mt - mb
    qs = [s["quality"] for s in singles] + [p["quality"] for p in curve] + [
        x["quality"] for x in (oracle, op) if x.get("quality") is not None]
    ymin = max(0.0, math.floor((min(qs) - 0.03) * 10) / 10)
    ymax = min(1.0, math.ceil((max(qs) + 0.03) * 10) / 10) if max(qs) < 0.97 else 1.0
    if ymax - ymin < 0.1:
        ymax = min(1.0, ymin + 0.1)

    def x_of(c: float | None) -> float:
        c = (c or 0.0) * 1000
        return ml + (math.log10(max(c, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * pw

    def y_of(q: float) -> float:
        return mt + (ymax - q) / (ymax - ymin) * ph

    out = [f'<svg class="chart router" viewBox="0 0 {width} {height}" role="img" aria-label="Router quality against cost" '
           'xmlns="http://www.w3.org/2000/svg"><title>Router: quality against cost on held-out cases</title>']
    step = 0.1 if ymax - ymin > 0.35 else 0.05
    a = ymin
    while a <= ymax + 1e-9:
        out.append(f'<line class="grid" x1="{ml}" x2="{ml + pw}" y1="{_f(y_of(a))}" y2="{_f(y_of(a))}"/>')
        out.append(f'<text class="tick" x="{ml - 6}" y="{_f(y_of(a) + 4)}" text-anchor="end">{a * 100:.0f}%</text>')
        a = round(a + step, 10)
    for t in _log_ticks(lo, hi):
        x = ml + (math.log10(t) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * pw
        out.append(f'<line class="grid" x1="{_f(x)}" x2="{_f(x)}" y1="{mt}" y2="{mt + ph}"/>')
        out.append(f'<text class="tick" x="{_f(x)}" y="{mt + ph + 16}" text-anchor="middle">{escape(_money(t))}</text>')
    out.append(f'<rect class="frame" x="{ml}" y="{mt}" width="{pw}" height="{ph}"/>')
    out.append(f'<text class="axis" x="{ml + pw / 2}" y="{height - 6}" text-anchor="middle">'
               "cost per 1,000 calls (USD, log scale)</text>")
    out.append(f'<text class="axis" transform="translate(14 {mt + ph / 2}) rotate(-90)" text-anchor="middle">'
               "quality (held-out cases)</text>")
    hull = [p for p in rd.get("zero_router") or [] if p.get("quality") is not None]
    if len(hull) > 1:
        path = " ".join(f"{_f(x_of(p['cost']))},{_f(y_of(p['quality']))}" for p in sorted(hull, key=lambda p: p["cost"] or 0))
        out.append(f'<polyline class="frontier" points="{path}"><title>models mixed at random (no router)</title></polyline>')
    if len(curve) > 1:
        path = " ".join(f"{_f(x_of(p['cost']))},{_f(y_of(p['quality']))}" for p in sorted(curve, key=lambda p: p["cost"] or 0))
        out.append(f'<polyline class="rcurve" points="{path}"><title>the router, cost weight swept</title></polyline>')
    dots = [(x_of(s["cost"]), y_of(s["quality"])) for s in singles]
    boxes: list = []
    for s in singles:
        x, y = x_of(s["cost"]), y_of(s["quality"])
        c = palette.get(s["model"], "#333")
        out.append(f'<g><title>{escape(s["model"])} alone: quality {s["quality"] * 100:.1f}%, '
                   f'{escape(_money((s["cost"] or 0) * 1000))} per 1,000 calls</title>'
                   f'<circle cx="{_f(x)}" cy="{_f(y)}" r="5" fill="{c}"/>')
        lx, ly, anchor, box = _place_label(s["model"], x, y, boxes, dots, (ml, mt, ml + pw, mt + ph))
        boxes.append(box)
        out.append(f'<text class="lbl" x="{_f(lx)}" y="{_f(ly)}" text-anchor="{anchor}">{escape(s["model"])}</text></g>')
    for p, label, cls in ((oracle, "oracle", "oracle"), (op, "router", "op")):
        if p.get("quality") is None:
            continue
        x, y = x_of(p.get("cost")), y_of(p["quality"])
        out.append(f'<g><title>{label}: quality {p["quality"] * 100:.1f}%, {escape(_money((p.get("cost") or 0) * 1000))} '
                   f'per 1,000 calls</title><rect class="{cls}" x="{_f(x - 5)}" y="{_f(y - 5)}" width="10" height="10"/>')
        lx, ly, anchor, box = _place_label(label, x, y, boxes, dots, (ml, mt, ml + pw, mt + ph))
        boxes.append(box)
        out.append(f'<text class="lbl" x="{_f(lx)}" y="{_f(ly)}" text-anchor="{anchor}">{label}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))
