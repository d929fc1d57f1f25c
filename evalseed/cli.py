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
local_app = typer.Typer(help="The embedded offline model: build llama.cpp for this machine, show the build.",
                        no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(local_app, name="local")

_DEBUG = False

DB_OPTION = typer.Option("evalseed.duckdb", "--db", help="The DuckDB file.")
# The gate's options shared by `compare` and `run --gate`: one definition each.
MAX_ERROR_RATE_OPTION = typer.Option(0.02, "--max-error-rate", help="Share of the candidate's rows that may go "
                                     "unanswered (error or skipped) before a significant rise is an infrastructure failure (exit 3).")
ALLOW_PARTIAL_OPTION = typer.Option(False, "--allow-partial", help="Compare the cases both runs hold even when the "
                                    "candidate lacks some of the base's or a run did not finish (every output says so).")


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
    out_dir: Path = typer.Option(Path("runs"), "--out-dir", help="Run artefacts (generated images)."),
    config: Optional[Path] = typer.Option(None, "--config", help="evalseed.yaml (default: ./evalseed.yaml if present)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    max_answer_bytes: int = typer.Option(4 * 1024 * 1024, "--max-answer-bytes", min=1024,
                                         help="Bytes of text kept per answer; a longer answer is cut and marked so."),
    allow_download_from: Optional[List[str]] = typer.Option(
        None, "--allow-download-from", help="A private address or network (10.0.0.0/8) that links in answers may "
        "point at; repeat for more. Default: public addresses and the run's own server only."),
) -> None:
    """Run suites against models and store every case in DuckDB."""
    from .run.command import run_command
    from .run.plan import RunOptions

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
        allow_download_from=list(allow_download_from or []),
    )
    if gate and not dry_run:
        from .compare import check_baseline
        from .errors import UsageError

        try:  # an unknown baseline fails before any call; `latest` is pinned to the run before this one
            baseline = check_baseline(str(db), baseline or "")  # --gate without --baseline failed above
        except UsageError as e:
            _fail(e.exit_code, str(e))
        if sequential:
            opts.sequential_baseline = baseline
    code = _guard(run_command, opts)
    if code == 0 and gate and not dry_run:
        from .compare import gate_after_run

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
    from .run.validate import validate_command

    raise typer.Exit(_guard(validate_command, [str(p) for p in paths], str(config) if config else None, as_json))


@app.command()
def models(
    config: Optional[Path] = typer.Option(None, "--config", help="evalseed.yaml"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output, limits per provider included."),
) -> None:
    """List models, their prices, context windows and features, and the model sets."""
    from .run.models import models_command

    raise typer.Exit(_guard(models_command, str(config) if config else None, as_json))


@app.command()
def runs(
    run_id: Optional[str] = typer.Argument(None, help="A run (id, unique prefix or latest): show its summary."),
    db: Path = DB_OPTION,
    limit: int = typer.Option(20, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: per suite and model, counts, accuracy and the "
                                                       "kind's metrics (with RUN_ID), or the list of runs."),
) -> None:
    """List the runs stored in the database, newest first; with RUN_ID, that run's summary."""
    from .run.stored_runs import runs_command

    raise typer.Exit(_guard(runs_command, str(db), limit, run_id, as_json))


@app.command()
def rescore(
    run_id: str = typer.Argument("latest", help="The run whose stored responses to score again."),
    db: Path = DB_OPTION,
) -> None:
    """Re-score a run's stored responses with the current scorers; no API calls."""
    from .run.rescore import rescore_command

    raise typer.Exit(_guard(rescore_command, str(db), run_id))


# ---- init (owner: ecosystem) ------------------------------------------------------------------


@app.command()
def init(
    folder: Path = typer.Argument(Path("."), help="Where to write the starter project (default: here)."),
    action: Optional[str] = typer.Option(None, "--action", help="Where evalseed's GitHub Action lives, as the "
                                         "workflow's `uses:` (OWNER/REPO@REF); default: a placeholder to replace."),
) -> None:
    """Write a starter project: one small suite per kind, evalseed.yaml and a CI workflow; never overwrites."""
    from .init_project import init_command

    raise typer.Exit(_guard(init_command, str(folder), action))


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
    max_error_rate: float = MAX_ERROR_RATE_OPTION,
    allow_partial: bool = ALLOW_PARTIAL_OPTION,
) -> None:
    """Compare two runs case by case; exit 1 when the candidate is significantly worse, 3 when it left
    significantly more cases unanswered (its infrastructure failed), 2 when it does not cover the base."""
    from .compare import compare_command

    raise typer.Exit(_guard(
        compare_command, str(db), base_run, cand_run, alpha=alpha, min_drop=min_drop,
        max_cost_increase=max_cost_increase, max_latency_increase=max_latency_increase,
        base_model=base_model, cand_model=cand_model, junit=str(junit) if junit else None,
        markdown=str(markdown) if markdown else None, json_path=str(json_out) if json_out else None,
        allow_partial=allow_partial, max_error_rate=max_error_rate,
    ))


@app.command("plan-gate")
def plan_gate(
    base_run: str = typer.Argument("latest", help="The baseline run whose per-case pass rates to plan from."),
    db: Path = DB_OPTION,
    drop: float = typer.Option(0.05, "--drop", help="The accuracy drop to catch (0.05 = 5 points)."),
    power: float = typer.Option(0.8, "--power", help="How often it should be caught (0.8 = 80% of the time)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level, Holm-corrected across suites, as compare's."),
    min_drop: float = typer.Option(0.02, "--min-drop", help="compare's --min-drop: a drop must be larger to fail."),
    flip_rate: Optional[float] = typer.Option(None, "--flip-rate", help="Share of cases two runs of one model disagree "
                                              "on; default: measured from the baseline's repeats, else 0.19."),
    model: Optional[str] = typer.Option(None, "--model", help="Plan for this model of the baseline only."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """How many cases (or repeats) each suite needs for the gate to catch a drop of --drop points with
    --power, from the baseline run's own per-case pass rates (the power math compare quotes)."""
    from .compare.plan import plan_command

    raise typer.Exit(_guard(plan_command, str(db), base_run, as_json=as_json, drop=drop, power=power, alpha=alpha,
                            min_drop=min_drop, flip_rate=flip_rate, model=model))

# ---- route (owner: router) --------------------------------------------------------------------


@route_app.command("train")
def route_train(
    db: Path = DB_OPTION,
    runs: Optional[str] = typer.Option(None, "--runs", help="Run ids (or prefixes, or latest), comma-separated."),
    since: Optional[str] = typer.Option(None, "--since", help="Also every run started on or after this date."),
    out: Path = typer.Option(Path("router.json"), "-o", "--out", help="Where to write the router (JSON)."),
    policy: str = typer.Option("auto", "--policy", help="auto (simplest that wins on validation), global, table, knn, linear, logistic."),
    objective: str = typer.Option("lambda", "--objective", help="lambda (quality - lambda*cost - mu*latency), budget, or latency."),
    lam: Optional[float] = typer.Option(None, "--lambda", min=0, help="Quality points given up per USD per call (default 0: best quality)."),
    mu: Optional[float] = typer.Option(None, "--mu", min=0, help="Quality points given up per ms of latency."),
    budget: Optional[float] = typer.Option(None, "--budget", min=0, help="With --objective budget: USD per 1,000 calls."),
    slo_ms: Optional[float] = typer.Option(None, "--slo-ms", min=0, help="Latency SLO: avoid models predicted slower."),
    seed: int = typer.Option(0, "--seed", help="Seed of the grouped train/test split."),
    test_fraction: float = typer.Option(0.5, "--test-fraction", help="Share of cases held out for `route eval`."),
) -> None:
    """Learn which model to use per task from stored runs; save the router as JSON."""
    from .router.commands import train_command

    raise typer.Exit(_guard(train_command, str(db), runs, since, str(out), policy, objective, lam, mu, budget,
                            slo_ms, seed, test_fraction))


@route_app.command("eval")
def route_eval(
    db: Path = DB_OPTION,
    runs: Optional[str] = typer.Option(None, "--runs", help="Run ids (or prefixes, or latest), comma-separated."),
    since: Optional[str] = typer.Option(None, "--since", help="Also every run started on or after this date."),
    router: Optional[Path] = typer.Option(None, "--router", help="A trained router to evaluate on its held-out cases."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every number and curve to this JSON file."),
    weak: Optional[str] = typer.Option(None, "--weak", help="Weak model for APGR/CPT (default: lowest quality)."),
    strong: Optional[str] = typer.Option(None, "--strong", help="Strong model for APGR/CPT (default: highest quality)."),
    budgets: Optional[str] = typer.Option(None, "--budgets", help="USD per 1,000 calls, comma-separated: quality reached."),
    splits: int = typer.Option(0, "--splits", min=0, help="Also refit each policy on N grouped splits (intervals)."),
    boot: int = typer.Option(200, "--bootstrap", min=0, help="Bootstrap resamples of the held-out cases per split."),
    policies: str = typer.Option("table,knn,linear", "--policies", help="Policies compared with --splits."),
    seed: int = typer.Option(0, "--seed", help="First split seed for --splits."),
    test_fraction: float = typer.Option(0.5, "--test-fraction", help="Held-out share for --splits."),
) -> None:
    """Single models, oracle, Zero router, the router's curve, AIQ, APGR and CPT on held-out cases."""
    from .router.commands import eval_command

    raise typer.Exit(_guard(eval_command, str(db), runs, since, str(router) if router else None,
                            str(json_out) if json_out else None, weak, strong, budgets, splits, boot, policies,
                            seed, test_fraction))


@route_app.command("pick")
def route_pick(
    text: str = typer.Argument(..., help="The prompt text ('-' reads standard input)."),
    router: Path = typer.Option(Path("router.json"), "--router", help="The trained router."),
    kind: Optional[str] = typer.Option(None, "--kind", help="The task kind (classification, tool_calling, ...)."),
    suite: Optional[str] = typer.Option(None, "--suite", help="The suite the prompt belongs to, if known."),
    tags: Optional[str] = typer.Option(None, "--tags", help="Tags, comma-separated."),
    lam: Optional[float] = typer.Option(None, "--lambda", min=0, help="Override the trained lambda."),
    mu: Optional[float] = typer.Option(None, "--mu", min=0, help="Override the trained mu."),
    slo_ms: Optional[float] = typer.Option(None, "--slo-ms", min=0, help="Override the latency SLO."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON with every model's predictions."),
) -> None:
    """Pick the model for one prompt, with its predicted quality and cost."""
    from .router.commands import pick_command

    raise typer.Exit(_guard(pick_command, str(router), text, kind, suite, tags, lam, mu, slo_ms, as_json))

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
) -> None:
    """Store an outcome table from elsewhere (e.g. RouteLLM's) as a run with provider `imported`."""
    from .importers.outcomes import import_outcomes_command as run_import

    raise typer.Exit(_guard(run_import, str(db), str(file), prompt_col=prompt_col, task_col=task_col,
                            domain_col=domain_col, models=model or None, prices=price or None,
                            completion_tokens=completion_tokens, exclude=str(exclude) if exclude else None,
                            label=label, force=force))



# ---- local (owner: local_build) ---------------------------------------------------------------


@local_app.command("install")
def local_install(
    rebuild: bool = typer.Option(False, "--rebuild", help="Build again even when evalseed's cache has the wheel."),
) -> None:
    """Build llama.cpp (llama-cpp-python) without native CPU tuning and install it here."""
    from .local_build import install

    def say(line: str) -> None:
        typer.echo(f"evalseed: {line}", err=True)

    raise typer.Exit(_guard(lambda: install(rebuild=rebuild, say=say) and 0))


@local_app.command("info")
def local_info(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Which llama.cpp build is installed, what this CPU needs, and what the build was compiled with."""
    import json

    from .local_build import installed, mismatch, profile, system_info

    have, want = installed(), profile()
    info = {"installed_version": have.version, "installed_from": have.origin, "built_for": have.profile,
            "this_cpu": want.name, "portable_build_args": list(want.cmake_args),
            "problem": mismatch(have, want), "system_info": system_info() if have.version else None}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            typer.echo(f"{key:>20}: {' '.join(value) if isinstance(value, list) else value}")
    raise typer.Exit(0)


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
