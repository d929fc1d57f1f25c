"""The command line: parse, call, print. Work happens in the modules each command imports lazily,
so `evalseed --help` and the first request of a run come fast.

`common` holds the Typer apps and the plumbing; each other module registers one group of commands
on them when imported here."""

from __future__ import annotations

# In this order: it is the order of `evalseed --help`.
from . import runs, project, results, route, imports, local  # noqa: F401, I001  (they register the commands)
from .common import app, main

__all__ = ["app", "main"]
