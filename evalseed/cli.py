"""The command line: parse, call, print. Work happens in the modules each command imports lazily,
so `evalseed --help` and the first request of a run come fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup

from .errors import EvalseedError

_DEBUG = False


class _RootGroup(TyperGroup):
    """The root command: `--debug` is taken anywhere on the line (before a `--`), also after the
    subcommand, where a newcomer puts it."""

    def parse_args(self, ctx, args):
        global _DEBUG
        end = args.index("--") if "--" in args else len(args)
        _DEBUG = "--debug" in args[:end]
        args = [a for i, a in enumerate(args) if not (a == "--debug" and i < end)]
        return super().parse_args(ctx, args)


# -h everywhere; the subcommands inherit it from the root's context.
CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="evalseed",
    help="Evaluate, compare and route ByteDance Seed models over OpenAI-compatible APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_RootGroup,
    context_settings=CONTEXT,
)
route_app = typer.Typer(help="Learn which model to use per task, evaluate it, and pick.", no_args_is_help=True)
import_app = typer.Typer(help="Bring external data in: BFCL files as suites, outcome tables as runs.", no_args_is_help=True)
app.add_typer(route_app, name="route")
local_app = typer.Typer(help="The embedded offline model: build llama.cpp for this machine, show the build.",
                        no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(local_app, name="local")

DB_OPTION = typer.Option("evalseed.duckdb", "--db", help="The DuckDB file.")
RUNS_OPTION = typer.Option(None, "--runs", help="Run ids (or prefixes, or latest), comma-separated.")
SINCE_OPTION = typer.Option(None, "--since", help="Also every run started on or after this date (2026-11-01).")


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"evalseed {__version__}")
        raise typer.Exit(0)


# The gate's options shared by `compare` and `run --gate`: one definition each.
MAX_ERROR_RATE_OPTION = typer.Option(0.02, "--max-error-rate", help="Share of the candidate's rows that may go "
                                     "unanswered (error or skipped) before a significant rise is an infrastructure failure (exit 3).")
ALLOW_PARTIAL_OPTION = typer.Option(False, "--allow-partial", help="Compare the cases both runs hold even when the "
                                    "candidate lacks some of the base's or a run did not finish (every output says so).")


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks (also accepted after the subcommand)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    global _DEBUG
    _DEBUG = _DEBUG or debug


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
    from .run.command import run_command
    from .run.plan import RunOptions
    from .suites.filters import Selection

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
        from .shards_ray import ray_command

        raise typer.Exit(_guard(ray_command, opts, shards, ray, ray_address, gate, baseline))
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
        import contextlib

        from .compare import gate_after_run

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
    limit: int = typer.Option(20, "--limit", min=1, help="Show at most N runs."),
    since: Optional[str] = SINCE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON: per suite and model, counts, accuracy and the "
                                                       "kind's metrics (with RUN_ID), or the list of runs."),
) -> None:
    """List the runs stored in the database (read only), newest first, with their models; with RUN_ID, that run's summary."""
    from .run.stored_runs import runs_command

    raise typer.Exit(_guard(runs_command, str(db), limit, run_id, as_json, since))


@app.command()
def rescore(
    run_id: str = typer.Argument("latest", help="The run whose stored responses to score again."),
    db: Path = DB_OPTION,
    judge: Optional[str] = typer.Option(None, "--judge", help="Ask this model again for every judge check's verdict (the graded models are not asked)."),
) -> None:
    """Re-score a run's stored responses with the current scorers; no call to a graded model."""
    from .run.rescore import rescore_command

    raise typer.Exit(_guard(rescore_command, str(db), run_id, judge))


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


@app.command()
def merge(
    sources: List[Path] = typer.Argument(..., help="DuckDB files and Parquet export folders to merge."),
    into: Path = typer.Option(..., "--into", help="The DuckDB file to merge into (created if missing)."),
) -> None:
    """Merge runs from several files into one; the shards of a run group become one run. Idempotent;
    a conflicting duplicate stops the merge (exit 2) and nothing is written."""
    from .history.merge_command import merge_command

    raise typer.Exit(_guard(merge_command, [str(s) for s in sources], str(into)))


@app.command()
def export(
    db: Path = DB_OPTION,
    parquet: Path = typer.Option(..., "--parquet", help="The folder to write (replaced atomically)."),
) -> None:
    """Write runs, run_prices and results as Parquet, hive-partitioned by run and model; `--db DIR`
    then reads the folder in report, compare, route and runs."""
    from .history.merge_command import export_command

    raise typer.Exit(_guard(export_command, str(db), str(parquet)))


# ---- report (owner: report) -------------------------------------------------------------------


@app.command()
def report(
    run_ids: List[str] = typer.Argument(None, help="Runs to report (ids or unique prefixes); none = the latest. Two = a comparison."),
    db: Path = DB_OPTION,
    runs: Optional[str] = RUNS_OPTION,
    since: Optional[str] = SINCE_OPTION,
    out: Path = typer.Option(Path("reports"), "-o", "--out", help="Folder for the HTML files (index.html is refreshed)."),
    router: Optional[Path] = typer.Option(None, "--router", help="A trained router file: adds its recommendation."),
    open_it: bool = typer.Option(False, "--open", help="Open the report in the browser afterwards."),
    as_json: bool = typer.Option(False, "--json", help="Print the paths written as JSON (report, index, runs)."),
) -> None:
    """Render a self-contained HTML report (no network needed to open it) and print its path."""
    refs = list(run_ids or [])
    if runs or since:
        refs += _select_runs(str(db), runs, since, refs)
    raise typer.Exit(_guard(_report, str(db), refs, str(out), str(router) if router else None, open_it, as_json))


def _select_runs(db: str, runs: Optional[str], since: Optional[str], given: List[str]) -> List[str]:
    """The run ids `--runs` and `--since` name, beyond those given as arguments."""
    from . import store
    from .router.data import select_runs

    def pick() -> List[str]:
        con = store.open_db(db, read_only=True)
        try:
            ids = select_runs(con, [r.strip() for r in runs.split(",") if r.strip()] if runs else None, since)
            have = {store.resolve_run(con, r) for r in given}
        finally:
            con.close()
        return [i for i in ids if i not in have]

    try:
        return pick()
    except EvalseedError as e:
        _fail(e.exit_code, str(e))
        return []


def _report(db: str, refs: List[str], out: str, router: Optional[str], open_it: bool, as_json: bool) -> int:
    """report_command, its printed paths taken as data for --json and --open."""
    import contextlib
    import io
    import json

    from .report.render import report_command

    buf = io.StringIO()
    err = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        code = report_command(db, refs, out, router)
    paths = [line for line in buf.getvalue().splitlines() if line.strip()]
    index = next((line.split("index: ", 1)[1] for line in err.getvalue().splitlines() if line.startswith("index: ")), None)
    rest = [line for line in err.getvalue().splitlines() if not line.startswith("index: ")]
    for line in rest:
        typer.echo(line, err=True)
    if as_json:
        typer.echo(json.dumps({"report": paths[0] if paths else None, "index": index, "runs": refs or ["latest"],
                               "out": out}, indent=2))
    else:
        for p in paths:
            typer.echo(p)
        if index:
            typer.echo(f"index: {index}", err=True)
    if open_it and paths:
        import webbrowser

        if not webbrowser.open(Path(paths[0]).resolve().as_uri()):
            typer.echo(f"evalseed: no browser to open {paths[0]}; open it by hand.", err=True)
    return code


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
    json_out: Optional[str] = typer.Option(None, "--json", help="Write the full comparison as JSON to FILE; "
                                           "`--json -` prints it on stdout (the table goes to stderr)."),
    max_error_rate: float = MAX_ERROR_RATE_OPTION,
    allow_partial: bool = ALLOW_PARTIAL_OPTION,
) -> None:
    """Compare two runs case by case; exit 1 when the candidate is significantly worse, 3 when it left
    significantly more cases unanswered (its infrastructure failed), 2 when it does not cover the base."""
    from .compare import compare_command

    raise typer.Exit(_json_to_stdout(
        json_out, lambda path: _guard(
            compare_command, str(db), base_run, cand_run, alpha=alpha, min_drop=min_drop,
            max_cost_increase=max_cost_increase, max_latency_increase=max_latency_increase,
            base_model=base_model, cand_model=cand_model, junit=str(junit) if junit else None,
            markdown=str(markdown) if markdown else None, json_path=path,
            allow_partial=allow_partial, max_error_rate=max_error_rate)))


def _json_to_stdout(json_out: Optional[str], body) -> int:
    """Run `body(json_path)`; with `--json -`, into a temporary file whose JSON then goes to
    stdout alone, the command's human output to stderr."""
    if json_out != "-":
        return body(json_out or None)
    import contextlib
    import tempfile

    with tempfile.TemporaryDirectory(prefix="evalseed-json-") as tmp:
        path = str(Path(tmp) / "out.json")
        with contextlib.redirect_stdout(sys.stderr):
            code = body(path)
        if Path(path).exists():
            sys.stdout.write(Path(path).read_text(encoding="utf-8").rstrip("\n") + "\n")
    return code


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
    runs: Optional[str] = RUNS_OPTION,
    since: Optional[str] = SINCE_OPTION,
    out: Path = typer.Option(Path("router.json"), "-o", "--out", help="Where to write the router (JSON)."),
    policy: str = typer.Option("auto", "--policy", help="auto (simplest that wins on validation), global, table, knn, linear, logistic."),
    objective: str = typer.Option("near-best", "--objective", help="near-best (cheapest model within the best's interval per task), lambda (quality - lambda*cost - mu*latency), budget, or latency."),
    lam: Optional[float] = typer.Option(None, "--lambda", min=0, help="Quality points given up per USD per call (default 0: best quality)."),
    mu: Optional[float] = typer.Option(None, "--mu", min=0, help="Quality points given up per ms of latency."),
    budget: Optional[float] = typer.Option(None, "--budget", min=0, help="With --objective budget: USD per 1,000 calls."),
    slo_ms: Optional[float] = typer.Option(None, "--slo-ms", min=0, help="Latency SLO: avoid models predicted slower."),
    seed: int = typer.Option(0, "--seed", help="Seed of the grouped train/test split."),
    test_fraction: float = typer.Option(0.5, "--test-fraction", help="Share of cases held out for `route eval` (0: train on everything)."),
    train_runs: Optional[str] = typer.Option(None, "--train-runs", help="Explicit split: train on these runs (same as --runs)."),
    test_runs: Optional[str] = typer.Option(None, "--test-runs", help="Explicit split: test on these runs (all their cases)."),
    test_db: Optional[Path] = typer.Option(None, "--test-db", help="Explicit split: test on this database (its latest run, or --test-runs)."),
) -> None:
    """Learn which model to use per task from stored runs; save the router as JSON."""
    from .router.commands import train_command

    def both() -> int:
        from .errors import UsageError

        raise UsageError("--train-runs and --runs say the same thing; give one.")

    if train_runs and runs:
        raise typer.Exit(_guard(both))
    raise typer.Exit(_guard(_hinted(train_command, _ROUTE_HINTS), str(db), train_runs or runs, since, str(out), policy, objective, lam, mu,
                            budget, slo_ms, seed, test_fraction, test_runs, str(test_db) if test_db else None))


@route_app.command("eval")
def route_eval(
    ctx: typer.Context,
    db: Path = DB_OPTION,
    runs: Optional[str] = RUNS_OPTION,
    since: Optional[str] = SINCE_OPTION,
    router: Optional[Path] = typer.Option(None, "--router", help="A trained router to evaluate on its held-out cases."),
    json_out: Optional[str] = typer.Option(None, "--json", "-o", "--out", help="Write every number and curve to this "
                                           "JSON file; `--json -` prints it on stdout (the tables go to stderr)."),
    weak: Optional[str] = typer.Option(None, "--weak", help="Weak model for APGR/CPT (default: lowest quality)."),
    strong: Optional[str] = typer.Option(None, "--strong", help="Strong model for APGR/CPT (default: highest quality)."),
    budgets: Optional[str] = typer.Option(None, "--budgets", help="USD per 1,000 calls, comma-separated: quality reached."),
    splits: int = typer.Option(0, "--splits", min=0, help="Also refit each policy on N grouped splits (intervals)."),
    boot: int = typer.Option(200, "--bootstrap", min=0, help="Bootstrap resamples of the held-out cases per split."),
    policies: str = typer.Option("table,knn,linear", "--policies", help="Policies compared with --splits."),
    seed: int = typer.Option(0, "--seed", help="First split seed for --splits."),
    test_fraction: float = typer.Option(0.5, "--test-fraction", help="Held-out share for --splits."),
    test_runs: Optional[str] = typer.Option(None, "--test-runs", help="Evaluate on all cases of these runs (with --splits: train on --runs, test here)."),
    test_db: Optional[Path] = typer.Option(None, "--test-db", help="Evaluate on all of this database (its latest run, or --test-runs)."),
) -> None:
    """Single models, oracle, Zero router, the router's curve, AIQ, APGR and CPT on held-out cases."""
    from .router.commands import eval_command

    db_given = getattr(ctx.get_parameter_source("db"), "name", "") != "DEFAULT"
    raise typer.Exit(_json_to_stdout(json_out, lambda path: _guard(
        _hinted(eval_command, _ROUTE_HINTS), str(db), runs, since, str(router) if router else None, path, weak, strong,
        budgets, splits, boot, policies, seed, test_fraction, test_runs, str(test_db) if test_db else None, db_given)))


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

@route_app.command("serve")
def route_serve(
    upstream: str = typer.Option(..., "--upstream", help="The provider's OpenAI-compatible base URL (e.g. https://host/api/v3)."),
    router: Path = typer.Option(Path("router.json"), "--router", help="The trained router."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8300, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Environment variable with the provider key (default: pass the client's through)."),
    shadow: Optional[str] = typer.Option(None, "--shadow", help="Log the router's pick but send every request to this model."),
    log_db: Optional[Path] = typer.Option(None, "--log-db", help="DuckDB file for picks, latencies, usage and outcomes."),
) -> None:
    """An OpenAI-compatible proxy: model `router` gets the model the trained router picks."""
    from .router.serve import serve_command

    raise typer.Exit(_guard(serve_command, str(router), upstream, host, port, api_key_env, shadow,
                            str(log_db) if log_db else None))

# ---- import bfcl (owner: tool calling) --------------------------------------------------------


@import_app.command("bfcl")
def import_bfcl(
    files: List[Path] = typer.Argument(..., help="BFCL question files (JSON Lines); answers are read from possible_answer/ beside them."),
    out: Path = typer.Option(Path("suites/bfcl"), "-o", "--out", help="Folder for the suite files (one per BFCL file)."),
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
    id_col: Optional[str] = typer.Option(None, "--id-col", help="Column of stable prompt ids (default: id, prompt_id...; else a hash of the prompt)."),
) -> None:
    """Store an outcome table from elsewhere (e.g. RouteLLM's) as a run with provider `imported`."""
    from .importers.outcomes import import_outcomes_command as run_import

    raise typer.Exit(_guard(run_import, str(db), str(file), prompt_col=prompt_col, task_col=task_col,
                            domain_col=domain_col, models=model or None, prices=price or None,
                            completion_tokens=completion_tokens, exclude=str(exclude) if exclude else None,
                            label=label, force=force, id_col=id_col))



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


# What to do next, added to a routing error that does not say it (the router's own messages).
_ROUTE_HINTS = {
    "results for one model only": "name runs of other models too: --runs A,B or --since DATE (`evalseed runs` "
                                  "lists them with their models)",
}


def _hinted(fn, hints: dict):
    """`fn` whose UsageErrors containing a key of `hints` end with that next step."""
    from .errors import UsageError

    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UsageError as e:
            text = str(e)
            for needle, hint in hints.items():
                if needle in text and hint not in text:
                    raise UsageError(f"{text.rstrip('.')}; {hint}.") from e
            raise

    return call


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


# ---- judge-pair (owner: bundled; issue 17) -------------------------------------------------------
@app.command("judge-pair")
def judge_pair(
    run_id: str = typer.Argument("latest", help="The run whose stored answers to compare."),
    models: str = typer.Option(..., "--models", help="The two models to compare, A,B."),
    judge: str = typer.Option(..., "--judge", help="The judge model (asked twice per case, in both orders)."),
    suite: Optional[str] = typer.Option(None, "--suite", help="Only this suite."),
    rubric: Optional[str] = typer.Option(None, "--rubric", help="The rubric (default: each case's judge check's)."),
    config: Optional[Path] = typer.Option(None, "--config", help="evalseed.yaml with the judge's model table."),
    db: Path = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Counts, tests and every verdict as JSON."),
) -> None:
    """Judge two models' answers of a generation run against each other: win/tie/loss, sign test."""
    from .run.judge_pair import judge_pair_command

    raise typer.Exit(_guard(judge_pair_command, str(db), run_id, models, judge, as_json, suite, rubric,
                            str(config) if config else None))
