"""`evalseed import bfcl|outcomes`: external data in."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import DB_OPTION, import_app, guard as _guard


@import_app.command("bfcl")
def import_bfcl(
    files: List[Path] = typer.Argument(..., help="BFCL question files (JSON Lines); answers are read from possible_answer/ beside them."),
    out: Path = typer.Option(Path("suites/bfcl"), "-o", "--out", help="Folder for the suite files (one per BFCL file)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Import only the first N entries of each file."),
) -> None:
    """Convert BFCL question + possible-answer files into tool-calling suites."""
    from ..importers.bfcl import import_bfcl_command

    raise typer.Exit(_guard(import_bfcl_command, [str(f) for f in files], str(out), limit))

# ---- import outcomes ----------------------------------------------------------------------------


@import_app.command("outcomes")
def import_outcomes(
    file: Path = typer.Argument(..., help="A wide CSV: prompt, one correctness column per model, optional costs and task."),
    db: Path = DB_OPTION,
    prompt_col: Optional[str] = typer.Option(None, "--prompt-col", help="The prompt column (default: prompt, question, input...)."),
    task_col: Optional[str] = typer.Option(None, "--task-col", help="Column stored as kind (default: task)."),
    domain_col: Optional[str] = typer.Option(None, "--domain-col", help="Column stored as suite (default: domain, category...)."),
    model: Optional[List[str]] = typer.Option(None, "--model", help="A model column (repeat); default: every True/False column."),
    price: Optional[List[str]] = typer.Option(None, "--price", help="MODEL=IN,OUT USD per million tokens (repeat)."),
    completion_tokens: int = typer.Option(1, "--completion-tokens", min=0, help="Output tokens assumed when the file has no response text."),
    exclude: Optional[Path] = typer.Option(None, "--exclude", help="JSONL of prompts to leave out (eval_prompt or prompt)."),
    label: Optional[str] = typer.Option(None, "--label", help="A note stored with the run."),
    force: bool = typer.Option(False, "--force", help="Import even if this file was imported before."),
    id_col: Optional[str] = typer.Option(None, "--id-col", help="Column of stable prompt ids (default: id, prompt_id...; else a hash of the prompt)."),
) -> None:
    """Store an outcome table from elsewhere (e.g. RouteLLM's) as a run with provider `imported`."""
    from ..importers.outcomes import import_outcomes_command as run_import

    raise typer.Exit(_guard(run_import, str(db), str(file), prompt_col=prompt_col, task_col=task_col,
                            domain_col=domain_col, models=model or None, prices=price or None,
                            completion_tokens=completion_tokens, exclude=str(exclude) if exclude else None,
                            label=label, force=force, id_col=id_col))
