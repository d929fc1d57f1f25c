"""The `evalseed compare` command and `run --gate`: compare, print, write the files, exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import store
from ..errors import UsageError
from .runs import compare_runs
from .terminal import print_table
from .write import write_json, write_junit, write_markdown


def compare_command(db: str, base_run: str, cand_run: str, *, junit: str | None = None, markdown: str | None = None,
                    json_path: str | None = None, **settings: Any) -> int:
    """The `evalseed compare` body: compare, print the table, write the files; 1 on a quality
    regression, else 3 when the candidate's infrastructure failed, else 0. `settings` are
    `compare_runs`' keyword arguments (alpha, min_drop, the cost and latency limits, base_model,
    cand_model, allow_partial, max_error_rate), with its defaults."""
    for path in (junit, markdown, json_path):
        if path:
            _check_writable(path)
    con = store.open_db(db, read_only=True)
    try:
        cmp = compare_runs(con, base_run, cand_run, **settings)
    finally:
        con.close()
    # Files first: a closed stdout (`| head`) must not cost the CI job its report.
    if junit:
        write_junit(cmp, junit)
    if markdown:
        write_markdown(cmp, markdown)
    if json_path:
        write_json(cmp, json_path)
    print_table(cmp)
    # A quality regression found on the cases both sides answered stands whatever the errors.
    return 1 if cmp.failed else (3 if cmp.infra_failed else 0)


def check_baseline(db_path: str, base_ref: str) -> str:
    """Before `run --gate` spends anything: the baseline run must exist in the database. Returns
    its full id, so that `latest` means the run before this one, not the one about to be made."""


    if not Path(db_path).exists():
        raise UsageError(f"{db_path}: no such database, so no baseline run {base_ref!r} to gate against; "
                         "pass the --db that holds the baseline.")
    con = store.open_db(db_path, read_only=True)
    try:
        return store.resolve_run(con, base_ref)
    finally:
        con.close()


def gate_after_run(db_path: str, base_ref: str, cand_run_id: str, **settings: Any) -> int:
    """`evalseed run ... --baseline RUN_ID --gate`: compare the fresh run with the baseline, print
    the table, return compare's code (1 regression, 3 the candidate's infrastructure failed, 0).
    `settings` are `compare_runs`' keyword arguments the run command passes on (allow_partial,
    max_error_rate); the others keep compare's defaults."""

    con = store.open_db(db_path, read_only=True)
    try:
        base_id = store.resolve_run(con, base_ref)
    finally:
        con.close()
    if base_id == cand_run_id:
        raise UsageError(f"the baseline {base_ref!r} is the run just made ({cand_run_id}); "
                         "pass the baseline's run id to --baseline.")
    return compare_command(db_path, base_id, cand_run_id, **settings)


def _check_writable(path: str) -> None:
    """Fail before any work when an output file cannot be written (its folder is missing)."""

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name for the output.")
    if not p.parent.exists():
        raise UsageError(f"{path}: the folder {p.parent} does not exist; create it or choose another path.")
