"""A Comparison as a width-safe table (evalseed.tables) plus reasons and flipped cases, for the terminal and CI logs."""

from __future__ import annotations

import os

from .cells import (
    acc_cell,
    delta_text,
    diff_cell,
    left_out_text,
    mdd_cell,
    models_text,
    p_text,
    pct_text,
    unanswered_cell,
    unit_rows,
    verdict_word,
)
from .result import Comparison

_FLIPS_SHOWN_TERMINAL = 8


def _console(file):
    """evalseed.console's width rules (COLUMNS, else the terminal's, else 160 in logs) for stdout
    or for another file."""
    from rich.console import Console

    from ..console import console

    if file is None:
        return console()
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return Console(file=file, width=int(columns), highlight=False)
    return Console(file=file, width=None if file.isatty() else 160, highlight=False)


def print_table(cmp: Comparison, file=None) -> None:
    """The comparison as a table plus reasons and flipped cases, to stdout (or `file`). The table
    is evalseed.tables' (never a cut header or id: stacked when the width cannot hold it)."""
    from rich.markup import escape

    from ..tables import Col, min_width, print_fitted

    console = _console(file)
    b, c = cmp.base, cmp.cand
    # Names are data, not markup: a variant `local[constrained=true]` must print as is.
    console.print(f"[bold]evalseed compare[/]  base {escape(b.run_id)} ({escape(', '.join(b.models))})  vs  "
                  f"candidate {escape(c.run_id)} ({escape(', '.join(c.models))})", highlight=False)
    pairs = {(u.base_model, u.cand_model) for u in cmp.units}
    many = len(pairs) > 1
    if not many:
        console.print(f"models: {models_text(cmp.units[0])}", markup=False, highlight=False)
    # models wraps between names (the overall row lists them all); no name is ever cut.
    cols = [Col("suite", key=True)] + ([Col("models", key=True, wrap=True)] if many else []) + [
        Col(h, "right") for h in ("n", "base acc", "cand acc", "diff pts", "worse/better", "p Holm", "detectable",
                                  "unanswered", "cost", "p50 latency")] + [Col("verdict")]
    rows, styles = [], []
    for u in unit_rows(cmp):
        styles.append("red" if u.failed else ("yellow" if u.infra_failed else ("green" if u.verdict == "improvement"
                                                                               else None)))
        # With a models column the suite column holds the suite alone (u.name repeats the models).
        rows.append([u.suite if many and u is not cmp.overall else u.name] + ([models_text(u)] if many else []) + [
            str(u.n_pairs), acc_cell(u, "base"), acc_cell(u, "cand"), diff_cell(u),
            f"{u.worse}/{u.better}", p_text(u.p_holm), mdd_cell(u), unanswered_cell(u), delta_text(u.cost),
            delta_text(u.latency_p50), verdict_word(u)])
    # Too wide for one line per row: each figure above its interval and headers on two lines (each
    # whole), then stacked (one block per row) if still too wide.
    narrow = [[v.replace(" [", "\n[").replace(" (", "\n(") for v in r] for r in rows]
    narrow_cols = [Col(c.header.replace(" ", "\n").replace("/", "/\n"), c.justify, c.wrap, c.key) for c in cols]
    if min_width(cols, rows) > console.width and min_width(narrow_cols, narrow) <= console.width:
        cols, rows = narrow_cols, narrow
    print_fitted(console, cols, rows, styles=styles,
                 legend="[..] = 95% intervals; detectable = the drop caught 80% of the time at this size; "
                        "cost in % of base mean per case")
    for u in unit_rows(cmp):
        noise = [f"{side} {n.unstable_cases}/{n.cases} cases unstable, pairwise disagreement {pct_text(n.pairwise_disagreement)}"
                 for side, n in u.noise.items() if n]
        if noise:
            console.print(f"  {u.name} within-model noise: " + "; ".join(noise), markup=False)
        if u.failed or u.infra_failed:
            for r in u.reasons:
                console.print(f"  [red]{escape(u.name)}[/]: {escape(r)}", markup=True)
        if (lo := left_out_text(u)):
            console.print(f"  {u.name}: {lo}", markup=False)
        if (u.power or {}).get("warning"):
            console.print(f"  [yellow]warning[/]: {escape(u.power['warning'])}", markup=True)
        if not u.failed:
            for t in u.metric_tests:
                console.print(f"  {u.name} {t['metric']} {pct_text(t['base'])} -> {pct_text(t['cand'])}: {t['reason']}",
                              markup=False)
        flips = u.flips["regressed"]
        if flips and (u.failed or len(flips) <= _FLIPS_SHOWN_TERMINAL):
            shown = ", ".join(f.case_id for f in flips[:_FLIPS_SHOWN_TERMINAL])
            more = f" and {len(flips) - _FLIPS_SHOWN_TERMINAL} more" if len(flips) > _FLIPS_SHOWN_TERMINAL else ""
            console.print(f"  {u.name} pass->fail: {shown}{more}", markup=False)
    for note in cmp.notes:
        console.print(f"  note: {note}", markup=False)
    for new in cmp.new_suites:
        if new["failed"]:
            console.print(f"  [red]{escape(new['suite'])}[/]: {escape(new['reason'])}", markup=True)
    if cmp.partial:
        console.print(f"[bold yellow]PARTIAL comparison[/]: {escape('; '.join(cmp.partial))}; "
                      "only the cases both runs hold were compared.")
    if cmp.failed:
        console.print("[bold red]verdict: REGRESSION[/] (exit 1)")
    elif cmp.infra_failed:
        console.print("[bold yellow]verdict: the candidate's infrastructure failed[/] (exit 3): too many cases went "
                      "unanswered to judge it; not a quality regression")
    else:
        console.print("[bold green]verdict: no regression[/]")
