"""`evalseed report` and `evalseed compare`: what the stored runs say."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import EvalseedError
from .common import (
    ALLOW_PARTIAL_OPTION,
    DB_OPTION,
    MAX_ERROR_RATE_OPTION,
    RUNS_OPTION,
    SINCE_OPTION,
    app,
    fail as _fail,
    guard as _guard,
    json_to_stdout as _json_to_stdout,
)


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
    from .. import store
    from ..router.data import select_runs

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

    from ..report.render import report_command

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


# ---- compare ------------------------------------------------------------------------------------


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
    from ..compare import compare_command

    raise typer.Exit(_json_to_stdout(
        json_out, lambda path: _guard(
            compare_command, str(db), base_run, cand_run, alpha=alpha, min_drop=min_drop,
            max_cost_increase=max_cost_increase, max_latency_increase=max_latency_increase,
            base_model=base_model, cand_model=cand_model, junit=str(junit) if junit else None,
            markdown=str(markdown) if markdown else None, json_path=path,
            allow_partial=allow_partial, max_error_rate=max_error_rate)))


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
    from ..compare.plan import plan_command

    raise typer.Exit(_guard(plan_command, str(db), base_run, as_json=as_json, drop=drop, power=power, alpha=alpha,
                            min_drop=min_drop, flip_rate=flip_rate, model=model))


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
    from ..run.judge_pair import judge_pair_command

    raise typer.Exit(_guard(judge_pair_command, str(db), run_id, models, judge, as_json, suite, rubric,
                            str(config) if config else None))
