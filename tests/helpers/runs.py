"""A suite run in-process through the `cli` fixture against a stub server, and small utilities
over what it stored."""

from __future__ import annotations

from typing import Any

from .suites import SMALL_SUITE, write_suite

FLASH = "seed-1-6-flash-250715"


def run_suite(cli, tmp_path, srv, *extra: Any, suite: str = SMALL_SUITE, models: str = FLASH,
              db_name: str = "e.duckdb"):
    """`evalseed run` of `suite` (written to tmp_path/suites/tiny.yaml) on `models` at the stub
    server `srv`: (exit code, stdout, stderr, database path)."""
    p = write_suite(tmp_path / "suites", "tiny.yaml", suite)
    db = tmp_path / db_name
    code, out, err = cli("run", p, "--base-url", srv.base_url, "--models", models, "--db", db, "--no-progress", *extra)
    return code, out, err, db


def report_page(cli, db, out_dir) -> str:
    """`evalseed report` of the database into out_dir: the run's page (not the index) as text."""
    code, _, err = cli("report", "--db", db, "-o", out_dir)
    assert code == 0, err
    return next(p for p in out_dir.glob("*.html") if p.name != "index.html").read_text(encoding="utf-8")


def without_key(value: Any, key: str) -> Any:
    """A JSON value with `key` dropped from every object, however deep."""
    if isinstance(value, dict):
        return {k: without_key(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [without_key(v, key) for v in value]
    return value
