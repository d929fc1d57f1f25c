"""`evalseed init`, `merge`, `export`: the project and its history."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import DB_OPTION, app, guard as _guard


@app.command()
def init(
    folder: Path = typer.Argument(Path("."), help="Where to write the starter project (default: here)."),
    action: Optional[str] = typer.Option(None, "--action", help="Where evalseed's GitHub Action lives, as the "
                                         "workflow's `uses:` (OWNER/REPO@REF); default: a placeholder to replace."),
) -> None:
    """Write a starter project: one small suite per kind, evalseed.yaml and a CI workflow; never overwrites."""
    from ..init_project import init_command

    raise typer.Exit(_guard(init_command, str(folder), action))


@app.command()
def merge(
    sources: List[Path] = typer.Argument(..., help="DuckDB files and Parquet export folders to merge."),
    into: Path = typer.Option(..., "--into", help="The DuckDB file to merge into (created if missing)."),
) -> None:
    """Merge runs from several files into one; the shards of a run group become one run. Idempotent;
    a conflicting duplicate stops the merge (exit 2) and nothing is written."""
    from ..history.merge_command import merge_command

    raise typer.Exit(_guard(merge_command, [str(s) for s in sources], str(into)))


@app.command()
def export(
    db: Path = DB_OPTION,
    parquet: Path = typer.Option(..., "--parquet", help="The folder to write (replaced atomically)."),
) -> None:
    """Write runs, run_prices and results as Parquet, hive-partitioned by run and model; `--db DIR`
    then reads the folder in report, compare, route and runs."""
    from ..history.merge_command import export_command

    raise typer.Exit(_guard(export_command, str(db), str(parquet)))
