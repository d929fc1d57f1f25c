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
    paths: Optional[List[Path]] = typer.Argument(None, help="Suite files or folders (every *.yaml / *.yml below)."),
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
        paths=[str(p) for p in paths or []], models=models, provider=provider, db=str(db), concurrency=concurrency,
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


@app.command()
def report(
    run_ids: List[str] = typer.Argument(None, help="Runs to report (ids or unique prefixes); none = the latest. Two = a comparison."),
    db: Path = DB_OPTION,
    out: Path = typer.Option(Path("reports"), "-o", "--out", help="Folder for the HTML files (index.html is refreshed)."),
    router: Optional[Path] = typer.Option(None, "--router", help="A trained router file: adds its recommendation."),
) -> None:
    """Render a self-contained HTML report (no network needed to open it) and print its path."""
    from .report.render import report_command

    raise typer.Exit(_guard(report_command, str(db), list(run_ids or []), str(out), str(router) if router else None))


# ---- compare (owner: compare) -----------------------------------------------------------------


@app.command()
def compare(
    base_run: str = typer.Argument(..., help="The baseline run (id, unique prefix, or latest)."),
    cand_run: str = typer.Argument(..., help="The candidate run, e.g. the new model version."),
    db: Path = DB_OPTION,
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level, Holm-corrected across suites."),
    min_drop: float = typer.Option(0.02, "--min-drop", help="Smallest accuracy drop that fails (0.02 = 2 points)."),
    max_cost_increase: Optional[float] = typer.Option(None, "--max-cost-increase", help="Fail when mean cost per case rises more than this ratio (0.2 = +20%)."),
    max_latency_increase: Optional[float] = typer.Option(None, "--max-latency-increase", help="Fail when p50 latency rises more than this ratio."),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="Use only this model of the base run."),
    cand_model: Optional[str] = typer.Option(None, "--cand-model", help="Use only this model of the candidate run."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML (one testcase per suite)."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write Markdown (fits a GitHub step summary)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full comparison as JSON."),
) -> None:
    """Compare two runs case by case; exit 1 when the candidate is significantly worse."""
    from .compare import compare_command

    raise typer.Exit(_guard(
        compare_command, str(db), base_run, cand_run, alpha=alpha, min_drop=min_drop,
        max_cost_increase=max_cost_increase, max_latency_increase=max_latency_increase,
        base_model=base_model, cand_model=cand_model, junit=str(junit) if junit else None,
        markdown=str(markdown) if markdown else None, json_path=str(json_out) if json_out else None,
    ))

# ---- route (owner: router) --------------------------------------------------------------------
# ---- import bfcl (owner: tool calling) --------------------------------------------------------


@import_app.command("bfcl")
def import_bfcl(
    files: List[Path] = typer.Argument(..., help="BFCL question files (JSON Lines); answers are read from possible_answer/ beside them."),
    out: Path = typer.Option(Path("suites/bfcl"), "--out", help="Folder for the suite files (one per BFCL file)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Import only the first N entries of each file."),
) -> None:
    """Convert BFCL question + possible-answer files into tool-calling suites."""
    from .importers.bfcl import import_bfcl_command

    raise typer.Exit(_guard(import_bfcl_command, [str(f) for f in files], str(out), limit))

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
