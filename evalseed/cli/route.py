"""`evalseed route train|eval|pick|serve`: the router."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import (
    DB_OPTION,
    RUNS_OPTION,
    SINCE_OPTION,
    route_app,
    guard as _guard,
    hinted as _hinted,
    ROUTE_HINTS as _ROUTE_HINTS,
    json_to_stdout as _json_to_stdout,
)


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
    from ..router.commands import train_command

    def both() -> int:
        from ..errors import UsageError

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
    from ..router.commands import eval_command

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
    from ..router.commands import pick_command

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
    from ..router.serve import serve_command

    raise typer.Exit(_guard(serve_command, str(router), upstream, host, port, api_key_env, shadow,
                            str(log_db) if log_db else None))
