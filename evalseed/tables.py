"""Width-safe tables: a table whose headers and ids are never cut, at any terminal width.

rich squeezes a table that does not fit by wrapping and cutting every column, headers included
("sui…", "mod…", "seed-1-6-250…"). `fit_table` never does that: the columns marked `wrap` (free
text such as a kind's metrics) may wrap between words; every other cell and every header keeps
its full text. When even that does not fit the width, the table is stacked instead: one block per
row, its key columns (the ids) on a heading line in full, the other columns as `header: value`
pairs (`header: value`, three spaces apart) wrapped between pairs, never inside one, under a line saying what the headings hold. Anything that prints a table of ids and figures
can use it (the run summary, `runs`, `models` and compare's table do).

    print_fitted(console(), [Col("suite", key=True), Col("model", key=True), Col("accuracy", "right"),
                             Col("kind metrics", wrap=True)], rows, title="run X")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class Col:
    header: str
    justify: str = "left"   # left | right
    wrap: bool = False      # may wrap between words (free text); never for ids or figures
    key: bool = False       # an id: the heading of a row's block when stacked


def _widths(cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Column widths for a table that fits `width` uncut (min_width(...) <= width): every column
    that does not wrap at its widest cell, the wrapping ones sharing what is left, each at least
    its longest word (rich's own squeezing would cut inside words and ids)."""
    from rich.cells import cell_len

    natural, least = [], []
    for i, c in enumerate(cols):
        cells = [r[i] for r in rows] + [c.header]
        natural.append(max(cell_len(line) for v in cells for line in (v.splitlines() or [""])))
        least.append(max([8] + [cell_len(w) for v in cells for w in v.split()]) if c.wrap else natural[-1])
    room = width - 1 - 3 * len(cols)
    if sum(natural) <= room:
        return natural
    out = list(least)
    spare = room - sum(least)
    wants = [natural[i] - least[i] if c.wrap else 0 for i, c in enumerate(cols)]
    total = sum(wants) or 1
    for i, w in enumerate(wants):
        out[i] += spare * w // total
    return out


def _table(title: str | None, cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int,
           styles: Sequence[str | None] | None = None):
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for c, w in zip(cols, _widths(cols, rows, width)):
        table.add_column(c.header, justify=c.justify,  # type: ignore[arg-type]
                         no_wrap=not c.wrap, overflow="fold" if c.wrap else "ignore", width=w)
    for i, r in enumerate(rows):
        # Cells are data, not markup: a variant's name `local[constrained=true]` must print as is.
        table.add_row(*(Text(v) for v in r), style=styles[i] if styles else None)
    return table


def min_width(cols: Sequence[Col], rows: Sequence[Sequence[str]]) -> int:
    """The narrowest the table can be drawn with nothing cut: every header and every cell of a
    column that does not wrap in full, wrapping columns at their longest word (or 8), plus rich's
    box (a border and one space of padding on either side of each cell)."""
    from rich.cells import cell_len

    total = 1
    for i, c in enumerate(cols):
        cells = [r[i] for r in rows]
        if c.wrap:
            words = [cell_len(w) for v in cells + [c.header] for w in v.split()]
            w = max([8] + words)
        else:  # a cell may hold several lines (e.g. a figure above its interval)
            w = max(cell_len(line) for v in cells + [c.header] for line in (v.splitlines() or [""]))
        total += w + 3
    return total


def stacked_lines(cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """The rows as blocks: the key cells joined on one line, then `header: value` pairs filled up
    to `width` (a pair longer than the width gets a line of its own, uncut)."""
    lines: list[str] = []
    for r in rows:
        keys = [v for c, v in zip(cols, r) if c.key and v]
        heading = " · ".join(keys)
        # Ids are never cut: a heading too wide for one line puts each id on a line of its own.
        lines += [heading] if len(heading) <= width else [keys[0]] + [f"· {k}" for k in keys[1:]]
        line = " "
        for c, v in zip(cols, r):
            if c.key or v in ("", None):
                continue
            pair = f"{c.header}: {v}"
            if len(line) > 1 and len(line) + 3 + len(pair) > width:
                lines.append(line)
                line = " "
            line = f"{line}   {pair}" if len(line) > 1 else f"  {pair}"
        if len(line) > 1:
            lines.append(line)
    return lines


def print_fitted(console, cols: Sequence[Col], rows: Sequence[Sequence[Any]], title: str | None = None,
                 legend: str | None = None, styles: Sequence[str | None] | None = None) -> str:
    """Print `rows` as a table if it fits `console.width` uncut, else stacked. `styles`: a rich
    style per row (or None), for a table row or a block's heading line. Returns which layout was
    used ("table" or "stacked")."""
    rows = [["" if v is None else str(v) for v in r] for r in rows]
    if min_width(cols, rows) <= console.width:
        console.print(_table(title, cols, rows, console.width, styles), overflow="ignore", crop=False)
        layout = "table"
    else:
        from rich.text import Text

        if title:
            console.print(Text(title), overflow="ignore", crop=False)
        keys = " · ".join(c.header for c in cols if c.key)
        if keys:  # what the heading line of each block holds
            console.print(Text(f"({keys}, then the figures)"), overflow="ignore", crop=False)
        headings = {}  # the first line of each block is its heading
        n = 0
        lines = []
        for i, r in enumerate(rows):
            block = stacked_lines(cols, [r], console.width)
            headings[n] = styles[i] if styles else None
            n += len(block)
            lines += block
        for j, line in enumerate(lines):
            console.print(Text(line, style=headings.get(j) or ""), overflow="ignore", crop=False, soft_wrap=True)
        layout = "stacked"
    if legend:  # plain text, never markup ("[..]" is no style)
        from rich.text import Text

        console.print(Text(legend), highlight=False)
    return layout
