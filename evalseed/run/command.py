"""`evalseed run` from start to end: load or resume, plan, check, the dry run's estimate, then
the store (a new run or the resumed one), the engine, and the run's end state and exit code."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import __version__
from ..config import Config, load_config
from ..console import console
from ..errors import RunAborted, StoreFailed, UsageError
from .checks import api_key, check_base_url, check_budget_is_enforceable, check_network_options, needs_key
from .drive import drive
from .plan import Plan, RunOptions, learned_token_ratios, make_plan, run_config
from .summary import print_summary


def stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def run_command(opts: RunOptions) -> int:
    from ..suites.filters import Selection, check_selected, select_cases, select_suites
    from ..suites.loader import load_suites
    from ..tokens import ratios_from_record

    cfg = load_config(opts.config)
    stored_config: dict | None = None
    check_key_env(opts)
    if opts.resume:
        from .. import store

        con = store.open_db(opts.db)
        try:
            opts.run_id = store.resolve_run(con, opts.resume)
            stored_config = store.run_config(con, opts.run_id)
        finally:
            con.close()
        paths = [s["path"] for s in stored_config.get("suites", [])]
        ignored_notice(opts, stored_config)
        opts.selection = Selection.from_record(stored_config.get("selection"))
        suites = load_suites(paths)
        hashes = {s["name"]: s["hash"] for s in stored_config.get("suites", [])}
        for s in suites:
            if hashes.get(s.name) != s.content_hash:
                raise UsageError(
                    f"{s.path}: the suite changed since run {opts.run_id} started; start a new run instead of --resume."
                )
        opts.models = ",".join(stored_config["models"])
        opts.provider = stored_config.get("provider")
        opts.base_url = stored_config.get("base_url")
        opts.api_key_env = opts.api_key_env or stored_config.get("api_key_env")
    else:
        if not opts.paths:
            raise UsageError("name at least one suite file or folder, e.g. `evalseed run suites/`.")
        if opts.base_url:
            check_base_url(opts.base_url)
        suites = load_suites(opts.paths)
    selection = opts.selection or Selection()
    suites = select_suites(suites, selection)
    plan = make_plan(cfg, suites, opts.models, opts.provider, opts.base_url, opts.api_key_env)
    for sp in plan.suites:
        sp.cases = select_cases(sp.suite.name, sp.cases, selection)
    check_selected(plan.suites, selection)
    for kind in {id(sp.kind): sp.kind for sp in plan.suites}.values():
        kind.use_config(cfg)  # a kind with judges resolves and prices them in this run's config
    check_network_options(opts)
    if opts.budget_usd is not None:
        check_budget_is_enforceable(plan)
    for n in plan.notices:
        stderr(f"evalseed: {n}")
    shard_plan(plan, opts, stored_config)
    # A resumed run prepares its remaining cases with the ratios it started with.
    recorded = stored_config.get("token_ratios") if stored_config else None
    plan.with_token_ratios(ratios_from_record(recorded) if recorded is not None
                           else learned_token_ratios(opts.db, plan))
    if opts.dry_run:
        return dry_run(plan, opts)
    if opts.sequential_baseline:
        opts.sequential = sequential_gate(plan, opts)
    return execute(plan, cfg, opts, stored_config)


def shard_plan(plan: Plan, opts: RunOptions, stored_config: dict | None) -> None:
    """`--shard I/N`: keep this shard's cases (a resumed shard run plans the same shard again)."""
    from .. import shards

    record = (stored_config or {}).get("shard")
    if record:
        opts.shard_spec = shards.check_resumed_shard(record, plan)
        opts.shard_record = record
        return
    if not opts.shard:
        return
    if opts.sequential_baseline:
        raise UsageError("--shard cannot run a sequential gate; merge the shards, then compare.")
    index, count = shards.parse_shard(opts.shard)
    group = shards.check_group(opts.group) if opts.group else shards.default_group(plan, count)
    opts.shard_spec = shards.ShardSpec(index, count, group)
    opts.shard_record = shards.apply_shard(plan, opts.shard_spec)


def sequential_gate(plan: Plan, opts: RunOptions):
    """The monitor for `--sequential`: the baseline's per-case pass rates (over ok repeats) for
    the plan's suites, matched to the plan's one model as compare matches models."""
    from .. import compare, store
    from ..compare.sequential import SequentialGate

    if opts.resume:
        raise UsageError("--sequential cannot resume a run; start a new one.")
    if len(plan.models) != 1:
        raise UsageError("--sequential gates one model at a time; pass one model to --models.")
    if not opts.sequential_baseline:
        raise UsageError("--sequential needs --baseline RUN_ID and --gate.")
    con = store.open_db(opts.db, read_only=True)
    try:
        base = compare.baseline_case_rates(con, opts.sequential_baseline, next(iter(plan.models)),
                                           [sp.suite.name for sp in plan.suites])
    finally:
        con.close()
    return SequentialGate(base, {sp.suite.name: len(sp.cases) for sp in plan.suites}, seed=0)


def dry_run(plan: Plan, opts: RunOptions) -> int:
    from rich.table import Table

    from ..engine import case_worst_case

    table = Table(title="Dry run: nothing was sent", show_lines=False)
    for col in ("suite", "model", "requests", "skipped", "est. prompt tokens", "max cost $"):
        table.add_column(col, justify="left" if col in ("suite", "model") else "right")
    grand = 0.0
    total_req = 0
    records = []
    for sp in plan.suites:
        for m in sp.models:
            req = skipped = tokens = 0
            cost = 0.0
            for case in sp.cases:
                prepared = sp.kind.prepare(sp.suite, case, m)
                if prepared.skip_reason:
                    skipped += sp.suite.repeats
                    continue
                req += sp.suite.repeats
                tokens += prepared.est_prompt_tokens * sp.suite.repeats
                cost += case_worst_case(prepared, m).cost_usd * sp.suite.repeats
            grand += cost
            total_req += req
            table.add_row(sp.suite.name, m.name, str(req), str(skipped), f"{tokens:,}", f"{cost:.4f}")
            records.append({"suite": sp.suite.name, "model": m.name, "requests": req, "skipped": skipped,
                            "est_prompt_tokens": tokens, "max_cost_usd": round(cost, 6)})
    if opts.json:
        import json

        print(json.dumps({"dry_run": True, "requests": total_req, "max_cost_usd": round(grand, 6),
                          "budget_usd": opts.budget_usd, "results": records}, indent=2, ensure_ascii=False))
        return 0
    console().print(table)
    print(f"{total_req} requests; at most ${grand:.4f} if every answer used its max_tokens (and, with thinking "
          "on, every chain of thought its 65,536-token limit; every tool loop all its max_steps), the worst "
          "case --budget-usd reserves per request"
          + (f" (budget ${opts.budget_usd})" if opts.budget_usd is not None else "") + ".")
    return 0


def execute(plan: Plan, cfg: Config, opts: RunOptions, stored_config: dict | None) -> int:
    from .. import store
    from ..engine import Budget, EngineOptions, Redactor
    from .queries import spent_on_run

    eng_opts = EngineOptions(concurrency=opts.concurrency, timeout=opts.timeout, max_attempts=opts.max_attempts,
                             backoff_base=opts.backoff_base, rpm=opts.rpm, tpm=opts.tpm,
                             max_answer_bytes=opts.max_answer_bytes)
    keys = {name: api_key(p, needs_key(p, opts.cassettes)) for name, p in plan.providers.items()}
    # The placeholder sent to local servers is no secret: scrubbing it would mangle answers.
    redact = Redactor(k for k in keys.values() if k != "no-key")
    con = store.open_db(opts.db)
    try:
        if opts.resume:
            assert opts.run_id is not None  # run_command resolved --resume to a run id
            run_id = opts.run_id
            recovered = store.recover(con, run_id, unsaved_files(opts.db, run_id))
            if recovered:
                stderr(f"evalseed: stored {recovered} answered rows that run {run_id} had saved beside the database.")
            done, errored = store.stored_keys(con, run_id)
            already_spent = spent_on_run(con, run_id)
            store.set_run_status(con, run_id, "running")
        else:
            run_id = opts.run_id = store.new_run_id()
            done, errored, already_spent = set(), set(), 0.0
            config = run_config(plan, cfg, opts)
            if opts.shard_record:
                config["shard"] = opts.shard_record
            store.insert_run(con, run_id, label=opts.label, git_sha=git_sha(), version=__version__, config=config)
            if opts.shard_spec:
                from ..shards import mark_run

                mark_run(con, run_id, opts.shard_spec)
            store.insert_prices(con, run_id, cfg.price_table(plan.models))
        budget = Budget(opts.budget_usd, spent=already_spent)
        writer = store.ResultWriter(con, run_id, replace_keys=errored, where=opts.db)
        status = "interrupted"
        message = None
        try:
            stopped = drive(plan, opts, eng_opts, run_id, keys, redact, budget, writer, skip=done)
            status = "budget" if stopped else "finished"
            if stopped:
                message = (f"stopped before spending past --budget-usd {opts.budget_usd}: {stopped.removeprefix('budget: ')}"
                           f"; finish with --resume {run_id} and a larger budget.")
        except RunAborted as e:
            status = "aborted"
            message = str(e)
        finally:
            # Also on Ctrl-C: what was answered is paid for and must reach the database or a file.
            trouble = store_the_rest(writer, opts.db, run_id)
            if trouble:
                status, message = "aborted", trouble
            if opts.sequential is not None:
                # The run says it stopped early and why; compare reads this to judge it.
                with contextlib.suppress(Exception):
                    store.add_to_run_config(con, run_id, "sequential",
                                            dict(opts.sequential.record(), baseline=opts.sequential_baseline))
            with contextlib.suppress(Exception):  # a database that refuses rows may refuse this too
                store.finish_run(con, run_id, status)
        if opts.json:
            print_json_summary(con, run_id, opts.db, message)
        elif writer.failed is None:
            print_summary(con, run_id)
        if message:
            stderr(f"evalseed: {message}")
            return 3
        print(f"run {run_id} stored in {opts.db}", file=sys.stderr if opts.json else sys.stdout)
        if opts.shard_spec:
            print(f"shard {opts.shard_spec.label} of group {opts.shard_spec.group}", file=sys.stderr if opts.json else sys.stdout)
        return 0
    finally:
        con.close()


def print_json_summary(con, run_id: str, db: str, message: str | None) -> None:
    """`run --json`: the run id, where it is stored, its end state and the summary records
    (`runs RUN_ID --json`'s), as one JSON object on stdout."""
    import json

    from .queries import run_header
    from .summary import summary_rows

    try:
        started, finished, status, label = run_header(con, run_id)
        results = summary_rows(con, run_id)
    except Exception:  # a database that refused rows: say what is known
        started = finished = label = None
        status, results = "aborted", []
    print(json.dumps({"run_id": run_id, "db": db, "status": status, "label": label, "message": message,
                      "started_at": str(started) if started else None,
                      "finished_at": str(finished) if finished else None, "results": results},
                     indent=2, ensure_ascii=False))


def check_key_env(opts: RunOptions) -> None:
    """`--api-key-env NAME` names a variable that must be set (when anything is sent)."""
    import os

    name = opts.api_key_env
    if name and opts.cassettes != "replay" and not os.environ.get(name):
        raise UsageError(f"--api-key-env {name}: the variable {name} is not set; export {name}=YOUR_KEY, "
                         "or drop --api-key-env for a server that takes no key.")


def ignored_notice(opts: RunOptions, stored: dict) -> None:
    """`--resume` runs the stored run's suites and models: say which command-line choices it ignores."""
    if opts.models:
        stderr(f"evalseed: --resume runs the models run {opts.run_id} started with "
               f"({', '.join(stored.get('models') or [])}); --models {opts.models} is ignored.")
    if opts.paths:
        stderr(f"evalseed: --resume runs the suites run {opts.run_id} started with; {' '.join(opts.paths)} ignored.")
    if opts.selection is not None and not opts.selection.is_empty():
        stderr(f"evalseed: --resume asks the cases run {opts.run_id} selected, with its overrides; "
               "--suite/--case/--tag/--limit/--repeats/--temperature/--max-tokens are ignored.")


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=2)
        return (out.stdout.strip() or None) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def unsaved_files(db: str, run_id: str) -> list[Path]:
    """Where ResultWriter.spill may have put rows the database would not take, in order."""
    from .. import store

    name = store.unsaved_file_name(db, run_id)
    return [Path(db).resolve().parent / name, Path(tempfile.gettempdir()) / name]


def store_the_rest(writer, db: str, run_id: str) -> str | None:
    """Write the rows still in memory (one more try if the database refused them mid-run). When
    it refuses again, save them beside it; returns the sentence to end the run with, or None."""
    refused = writer.failed
    if refused is None and not writer.pending:
        return None
    try:
        writer.flush()
    except StoreFailed as e:
        n = writer.pending
        places = unsaved_files(db, run_id)
        saved = writer.spill([p.parent for p in places], places[0].name)
        where = (f"the {n} answered rows it could not take are saved in {saved}" if saved
                 else f"the {n} answered rows it could not take could not be saved anywhere either, and are lost")
        return (f"{e}, so the run stopped sending requests; {where}; free space, then finish with "
                f"--resume {run_id} (it stores them first).")
    if refused is not None:
        return (f"{refused} for a while, so the run stopped sending requests; every answered row is stored "
                f"now; finish with --resume {run_id}.")
    return None
