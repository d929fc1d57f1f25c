"""A Comparison as a rich table plus reasons and flipped cases, for the terminal and CI logs."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, cast

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

if TYPE_CHECKING:
    from rich.text import JustifyMethod

_FLIPS_SHOWN_TERMINAL = 8


def print_table(cmp: Comparison, file=None) -> None:
    """The comparison as a rich table plus reasons and flipped cases, to stdout (or `file`)."""
    from rich.console import Console
    from rich.table import Table

    out = file or sys.stdout
    # CI logs are not terminals: rich would squeeze the table into 80 columns.
    width = None if out.isatty() or "COLUMNS" in os.environ else 200
    console = Console(file=out, width=width, highlight=False, soft_wrap=False)
    b, c = cmp.base, cmp.cand
    console.print(f"[bold]evalseed compare[/]  base {b.run_id} ({', '.join(b.models)})  vs  "
                  f"candidate {c.run_id} ({', '.join(c.models)})")
    pairs = {(u.base_model, u.cand_model) for u in cmp.units}
    many = len(pairs) > 1
    if not many:
        console.print(f"models: {models_text(cmp.units[0])}", markup=False)
    table = Table(show_lines=False, header_style="bold",
                  caption="[..] = 95% intervals; detectable = the drop caught 80% of the time at this size; "
                          "cost in % of base mean per case",
                  caption_justify="left")
    cols = [("suite", "left")] + ([("models", "left")] if many else []) + [
        ("n", "right"), ("base acc", "right"), ("cand acc", "right"), ("diff pts", "right"),
        ("worse/better", "right"), ("p Holm", "right"), ("detectable", "right"), ("unanswered", "right"), ("cost", "right"),
        ("p50 latency", "right"), ("verdict", "left")]
    for col, just in cols:
        table.add_column(col, justify=cast("JustifyMethod", just))
    for u in unit_rows(cmp):
        style = "red" if u.failed else ("yellow" if u.infra_failed else ("green" if u.verdict == "improvement" else None))
        cells = [u.name] + ([models_text(u)] if many else []) + [
            str(u.n_pairs), acc_cell(u, "base"), acc_cell(u, "cand"), diff_cell(u),
            f"{u.worse}/{u.better}", p_text(u.p_holm), mdd_cell(u), unanswered_cell(u), delta_text(u.cost),
            delta_text(u.latency_p50), verdict_word(u)]
        table.add_row(*cells, style=style)
    console.print(table)
    for u in unit_rows(cmp):
        noise = [f"{side} {n.unstable_cases}/{n.cases} cases unstable, pairwise disagreement {pct_text(n.pairwise_disagreement)}"
                 for side, n in u.noise.items() if n]
        if noise:
            console.print(f"  {u.name} within-model noise: " + "; ".join(noise))
        if u.failed or u.infra_failed:
            for r in u.reasons:
                console.print(f"  [red]{u.name}[/]: {r}", markup=True)
        if (lo := left_out_text(u)):
            console.print(f"  {u.name}: {lo}", markup=False)
        if (u.power or {}).get("warning"):
            console.print(f"  [yellow]warning[/]: {u.power['warning']}", markup=True)
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
            console.print(f"  [red]{new['suite']}[/]: {new['reason']}", markup=True)
    if cmp.partial:
        console.print(f"[bold yellow]PARTIAL comparison[/]: {'; '.join(cmp.partial)}; "
                      "only the cases both runs hold were compared.")
    if cmp.failed:
        console.print("[bold red]verdict: REGRESSION[/] (exit 1)")
    elif cmp.infra_failed:
        console.print("[bold yellow]verdict: the candidate's infrastructure failed[/] (exit 3): too many cases went "
                      "unanswered to judge it; not a quality regression")
    else:
        console.print("[bold green]verdict: no regression[/]")
