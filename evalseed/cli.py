"""The command line: parse, call, print. Work happens in the modules each command imports lazily,
so `evalseed --help` and the first request of a run come fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import EvalseedError

app = typer.Typer(
    name="evalseed",
    help="Evaluate, compare and route ByteDance Seed models over OpenAI-compatible APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
route_app = typer.Typer(help="Learn which model to use per task, evaluate it, and pick.", no_args_is_help=True)
import_app = typer.Typer(help="Bring external data in: BFCL files as suites, outcome tables as runs.", no_args_is_help=True)
app.add_typer(route_app, name="route")
app.add_typer(import_app, name="import")

_DEBUG = False

DB_OPTION = typer.Option("evalseed.duckdb", "--db", help="The DuckDB file.")


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks.")) -> None:
    global _DEBUG
    _DEBUG = debug


# ---- run / validate / models / rescore (core) -------------------------------------------------


@app.command()
def run(
    paths: List[Path] = typer.Argument(..., help="Suite files or folders (every *.yaml / *.yml below)."),
    models: Optional[str] = typer.Option(None, "--models", help="A model set (default, text, images, local...) or a,b,c."),
    provider: Optional[str] = typer.Option(None, "--provider", help="aisa (default), ark, local, or one from evalseed.yaml."),
    db: Path = DB_OPTION,
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=1024, help="Requests in flight per model."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Send every model to this OpenAI-compatible server."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Environment variable holding the key."),
    cassettes: str = typer.Option("off", "--cassettes", help="off | replay | record | auto"),
    cassette_dir: Path = typer.Option(Path("cassettes"), "--cassette-dir", help="Where cassettes live."),
    budget_usd: Optional[float] = typer.Option(None, "--budget-usd", min=0, help="Stop before spending more than this."),
    label: Optional[str] = typer.Option(None, "--label", help="A note stored with the run."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Finish run RUN_ID: only missing or errored cases."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate, count requests, estimate cost; call nothing."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="With --gate: the run to compare against."),
    gate: bool = typer.Option(False, "--gate", help="After the run, compare with --baseline; exit 1 on regression."),
    rpm: Optional[int] = typer.Option(None, "--rpm", min=1, help="Requests per minute per model."),
    tpm: Optional[int] = typer.Option(None, "--tpm", min=1, help="Tokens per minute per model."),
    timeout: float = typer.Option(120.0, "--timeout", min=0.1, help="Seconds per request attempt."),
    max_attempts: int = typer.Option(6, "--max-attempts", min=1, max=20, help="Attempts per request, retries included."),
    out_dir: Path = typer.Option(Path("runs"), "--out-dir", help="Run artefacts (generated images)."),
    config: Optional[Path] = typer.Option(None, "--config", help="evalseed.yaml (default: ./evalseed.yaml if present)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run suites against models and store every case in DuckDB."""
    from .runner import RunOptions, run_command

    if gate and not baseline:
        _fail(2, "--gate needs --baseline RUN_ID (the run to compare against).")
    if cassettes not in ("off", "replay", "record", "auto"):
        _fail(2, f"--cassettes must be off, replay, record or auto, not {cassettes!r}.")
    opts = RunOptions(
        paths=[str(p) for p in paths], models=models, provider=provider, db=str(db), concurrency=concurrency,
        base_url=base_url, api_key_env=api_key_env, cassettes=cassettes, cassette_dir=str(cassette_dir),
        budget_usd=budget_usd, label=label, resume=resume, dry_run=dry_run, rpm=rpm, tpm=tpm,
        timeout=timeout, max_attempts=max_attempts, out_dir=str(out_dir),
        config=str(config) if config else None, progress=progress,
    )
    code = _guard(run_command, opts)
    if code == 0 and gate and not dry_run:
        from .compare import gate_after_run

        code = _guard(gate_after_run, str(db), baseline, opts.run_id)
    raise typer.Exit(code)


@app.command()
def validate(
    paths: List[Path] = typer.Argument(..., help="Suite files or folders."),
    config: Optional[Path] = typer.Option(None, "--config", help="evalseed.yaml"),
) -> None:
    """Check suites without running them."""
    from .runner import validate_command

    raise typer.Exit(_guard(validate_command, [str(p) for p in paths], str(config) if config else None))


@app.command()
def models(
    config: Optional[Path] = typer.Option(None, "--config", help="evalseed.yaml"),
) -> None:
    """List models, their prices, context windows and features, and the model sets."""
    from .runner import models_command

    raise typer.Exit(_guard(models_command, str(config) if config else None))


@app.command()
def runs(db: Path = DB_OPTION, limit: int = typer.Option(20, "--limit", min=1)) -> None:
    """List the runs stored in the database, newest first."""
    from .runner import runs_command

    raise typer.Exit(_guard(runs_command, str(db), limit))


@app.command()
def rescore(
    run_id: str = typer.Argument("latest", help="The run whose stored responses to score again."),
    db: Path = DB_OPTION,
) -> None:
    """Re-score a run's stored responses with the current scorers; no API calls."""
    from .runner import rescore_command

    raise typer.Exit(_guard(rescore_command, str(db), run_id))


# ---- report (owner: report) -------------------------------------------------------------------
# ---- compare (owner: compare) -----------------------------------------------------------------
# ---- route (owner: router) --------------------------------------------------------------------
# ---- import bfcl (owner: tool calling) --------------------------------------------------------
# ---- import outcomes (owner: router) ----------------------------------------------------------


# ---- plumbing ---------------------------------------------------------------------------------


def _fail(code: int, message: str) -> None:
    typer.echo(f"evalseed: {message}", err=True)
    raise typer.Exit(code)


def _guard(fn, *args, **kwargs) -> int:
    """Call a command body; turn our exceptions into one line on stderr and an exit code."""
    try:
        result = fn(*args, **kwargs)
    except EvalseedError as e:
        if _DEBUG:
            raise
        typer.echo(f"evalseed: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        typer.echo("evalseed: interrupted; finished cases are stored (resume with --resume RUN_ID).", err=True)
        return 130
    return int(result or 0)


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)
