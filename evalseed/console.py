"""One place that decides how wide tables are: COLUMNS when it is set, else a terminal's own
width, else 160 columns in logs and pipes (rich would otherwise squeeze tables into 80 and cut
every name)."""

from __future__ import annotations

import os


def console(stderr: bool = False):
    from rich.console import Console

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return Console(stderr=stderr, width=int(columns))
    c = Console(stderr=stderr)
    if not c.is_terminal:
        c = Console(stderr=stderr, width=160)
    return c
