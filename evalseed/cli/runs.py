"""`evalseed run`, `validate`, `models`, `runs`, `rescore`: the core commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .common import ALLOW_PARTIAL_OPTION, DB_OPTION, MAX_ERROR_RATE_OPTION, SINCE_OPTION, app, fail as _fail, guard as _guard


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
    budget_usd: Optional[float] = typer.Option(None, "--budget-usd", min=0, help="Stop before spending more than this; requests in flight count at their worst case "
                                "(with thinking on, 65,536 output tokens unless max_completion_tokens is set)."),
    label: Optional[str] = typer.Option(None, "--label", help="A note stored with the run."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Finish run RUN_ID: only missing or errored cases."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate, count requests, estimate cost; call nothing."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="With --gate: the run to compare against."),
    gate: bool = typer.Option(False, "--gate", help="After the run, compare with --baseline; exit 1 on regression."),
    sequential: bool = typer.Option(False, "--sequential", help="With --gate: random order, stop each suite as soon as "
                                    "its verdict is settled (anytime-valid; docs/ci.md)."),
    max_error_rate: float = MAX_ERROR_RATE_OPTION,
    allow_partial: bool = ALLOW_PARTIAL_OPTION,
    rpm: Optional[int] = typer.Option(None, "--rpm", min=1, help="Requests per minute per model."),
    tpm: Optional[int] = typer.Option(None, "--tpm", min=1, help="Tokens per minute per model."),
    timeout: float = typer.Option(300.0, "--timeout", min=0.1, help="Seconds per request attempt."),
    max_attempts: int = typer.Option(6, "--max-attempts", min=1, max=20, help="Attempts per request, retries included."),
    out_dir: Path = typer.Option(Path("runs"), "-o", "--out", "--out-dir", help="Folder for run artefacts (generated images)."),
    config: Optional[Path] = typer.Option(None, "--config", help="evalseed.yaml (default: ./evalseed.yaml if present)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    max_answer_bytes: int = typer.Option(4 * 1024 * 1024, "--max-answer-bytes", min=1024,
                                         help="Bytes of text kept per answer; a longer answer is cut and marked so."),
    allow_download_from: Optional[List[str]] = typer.Option(
        None, "--allow-download-from", help="A private address or network (10.0.0.0/8) that links in answers may "
        "point at; repeat for more. Default: public addresses and the run's own server only."),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: run only shard I of N (by case, balanced by "
                                        "estimated tokens); merge the shards with `evalseed merge` (docs/scaling.md)."),
    group: Optional[str] = typer.Option(None, "--group", help="With --shard: the run group id all shards share "
                                        "(the merged run's id); default: the date and a hash of the plan."),
    shards: Optional[int] = typer.Option(None, "--shards", min=1, max=1024, help="With --ray: run N shards as Ray "
                                         "tasks, then merge them into --db."),
    ray: bool = typer.Option(False, "--ray", help="Run the --shards on Ray (pip install 'evalseed[ray]')."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="With --ray: the cluster's address "
                                              "(default: RAY_ADDRESS, else a local Ray instance)."),
    suite: Optional[List[str]] = typer.Option(None, "--suite", help="Run only this suite (its name; shell patterns; repeat for more)."),
    case: Optional[List[str]] = typer.Option(None, "--case", help="Run only this case id (shell patterns; repeat for more)."),
    tag: Optional[List[str]] = typer.Option(None, "--tag", help="Run only cases with this tag (repeat: any of them)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Run only the first N (selected) cases of each suite."),
    repeats: Optional[int] = typer.Option(None, "--repeats", min=1, max=100, help="Repeats per case, in place of the suites' own."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0, help="Temperature, in place of the suites' params."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Max tokens per answer, in place of the suites' params."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's summary as JSON on stdout (run id, status, "
                                 "per suite and model); everything else goes to stderr."),
) -> None:
    """Run suites against models and store every case in DuckDB."""
    from ..run.command import run_command
    from ..run.plan import RunOptions
    from ..suites.filters import Selection

    if gate and not baseline:
        _fail(2, "--gate needs --baseline RUN_ID (the run to compare against).")
    if sequential and not gate:
        _fail(2, "--sequential needs --baseline RUN_ID --gate.")
    if cassettes not in ("off", "replay", "record", "auto"):
        _fail(2, f"--cassettes must be off, replay, record or auto, not {cassettes!r}.")
    opts = RunOptions(
        paths=[str(p) for p in paths or []], models=models, provider=provider, db=str(db), concurrency=concurrency,
        base_url=base_url, api_key_env=api_key_env, cassettes=cassettes, cassette_dir=str(cassette_dir),
        budget_usd=budget_usd, label=label, resume=resume, dry_run=dry_run, rpm=rpm, tpm=tpm,
        timeout=timeout, max_attempts=max_attempts, out_dir=str(out_dir),
        config=str(config) if config else None, progress=progress, max_answer_bytes=max_answer_bytes,
        allow_download_from=list(allow_download_from or []), shard=shard, group=group,
        selection=Selection(suites=list(suite or []), cases=list(case or []), tags=list(tag or []), limit=limit,
                            repeats=repeats, temperature=temperature, max_tokens=max_tokens),
        json=as_json,
    )
    if shard and (gate or shards or ray):
        _fail(2, "--shard runs one shard; gate after merging the shards, and use --shards N --ray to run them all.")
    if shards or ray:
        from ..shards_ray import ray_command

        raise typer.Exit(_guard(ray_command, opts, shards, ray, ray_address, gate, baseline))
    if gate and not dry_run:
        from ..compare import check_baseline
        from ..errors import UsageError

        try:  # an unknown baseline fails before any call; `latest` is pinned to the run before this one
            baseline = check_baseline(str(db), baseline or "")  # --gate without --baseline failed above
        except UsageError as e:
            _fail(e.exit_code, str(e))
        if sequential:
            opts.sequential_baseline = baseline
    code = _guard(run_command, opts)
    if code == 0 and gate and not dry_run:
        import contextlib

        from ..compare import gate_after_run

        # With --json, stdout holds the run's JSON alone: the gate's table goes to stderr.
        with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
            code = _guard(gate_after_run, str(db), baseline, opts.run_id, allow_partial=allow_partial,
                          max_error_rate=max_error_rate)
    raise typer.Exit(code)


@app.command()
def validate(
    paths: List[Path] = typer.Argument(..., help="Suite files or folders."),
    config: Optional[Path] = typer.Option(None, "--config", help="evalseed.yaml"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output: suites and problems."),
) -> None:
    """Check suites without running them."""
    from ..run.validate import validate_command

    raise typer.Exit(_guard(validate_command, [str(p) for p in paths], str(config) if config else None, as_json))


@app.command()
def models(
    config: Optional[Path] = typer.Option(None, "--config", help="evalseed.yaml"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output, limits per provider included."),
) -> None:
    """List models, their prices, context windows and features, and the model sets."""
    from ..run.models import models_command

    raise typer.Exit(_guard(models_command, str(config) if config else None, as_json))


@app.command()
def runs(
    run_id: Optional[str] = typer.Argument(None, help="A run (id, unique prefix or latest): show its summary."),
    db: Path = DB_OPTION,
    limit: int = typer.Option(20, "--limit", min=1, help="Show at most N runs."),
    since: Optional[str] = SINCE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON: per suite and model, counts, accuracy and the "
                                                       "kind's metrics (with RUN_ID), or the list of runs."),
) -> None:
    """List the runs stored in the database (read only), newest first, with their models; with RUN_ID, that run's summary."""
    from ..run.stored_runs import runs_command

    raise typer.Exit(_guard(runs_command, str(db), limit, run_id, as_json, since))


@app.command()
def rescore(
    run_id: str = typer.Argument("latest", help="The run whose stored responses to score again."),
    db: Path = DB_OPTION,
    judge: Optional[str] = typer.Option(None, "--judge", help="Ask this model again for every judge check's verdict (the graded models are not asked)."),
) -> None:
    """Re-score a run's stored responses with the current scorers; no call to a graded model."""
    from ..run.rescore import rescore_command

    raise typer.Exit(_guard(rescore_command, str(db), run_id, judge))
