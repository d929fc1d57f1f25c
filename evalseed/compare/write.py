"""The comparison's files: Markdown, JUnit XML and JSON, each written whole or not at all
(temporary file, then rename), so a CI step never uploads half a report."""

from __future__ import annotations

import json

from ..files import write_atomic
from .junit import render_junit
from .markdown import render_markdown
from .result import Comparison


def write_markdown(cmp: Comparison, path: str) -> None:
    write_atomic(path, render_markdown(cmp))


def write_junit(cmp: Comparison, path: str) -> None:
    write_atomic(path, render_junit(cmp))


def write_json(cmp: Comparison, path: str) -> None:
    write_atomic(path, json.dumps(cmp.to_dict(), indent=2, ensure_ascii=False) + "\n")
