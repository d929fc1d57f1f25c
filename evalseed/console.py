"""One place that decides how wide tables are: a terminal's own width, or 160 columns in logs
and pipes (rich would otherwise squeeze tables into 80 and cut every name)."""

from __future__ import annotations


def console(stderr: bool = False):
    from rich.console import Console

    c = Console(stderr=stderr)
    if not c.is_terminal:
        c = Console(stderr=stderr, width=160)
    return c
