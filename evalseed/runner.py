"""`evalseed run` and the small commands around it: plan the work, open the store, drive the
engine, show progress, and print the summary."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from . import __version__
from .config import Config, ModelInfo, Provider, load_config
from .console import console
from .errors import RunAborted, StoreFailed, UsageError

LOOPBACK_PREFIXES = ("http://127.", "http://localhost", "http://[::1]", "https://127.", "https://localhost")


@dataclass
class RunOptions:
    paths: list[str]
    models: str | None = None
    provider: str | None = None
    db: str = "evalseed.duckdb"
    concurrency: int = 8
    base_url: str | None = None
    api_key_env: str | None = None
    cassettes: str = "off"
    cassette_dir: str = "cassettes"
    budget_usd: float | None = None
    label: str | None = None
    resume: str | None = None
    dry_run: bool = False
    rpm: int | None = None
    tpm: int | None = None
    timeout: float = 300.0
    max_attempts: int = 6
    backoff_base: float = 0.5
    out_dir: str = "runs"
    config: str | None = None
    progress: bool = True
    max_answer_bytes: int = 4 * 1024 * 1024
    allow_download_from: list[str] = field(default_factory=list)
    run_id: str | None = None  # set by run_command
    # `run --baseline X --gate --sequential`: the baseline's full run id; run_command builds the
    # monitor (evalseed.sequential.SequentialGate) that orders the cases and stops the feed.
    sequential_baseline: str | None = None
    sequential: Any = None


@dataclass
class SuitePlan:
    suite: Any
    kind: Any
    cases: list
    models: list[ModelInfo]


@dataclass
class Plan:
    suites: list[SuitePlan]
    models: dict[str, ModelInfo]
    providers: dict[str, Provider]  # per model name
    notices: list[str] = field(default_factory=list)

    def total(self, skip: set[tuple] | frozenset[tuple] = frozenset()) -> int:
        n = 0
        for sp in self.suites:
            for m in sp.models:
                for c in sp.cases:
                    for r in range(sp.suite.repeats):
                        if (sp.suite.name, c.id, m.name, r) not in skip:
                            n += 1
        return n


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


# ---- planning ---------------------------------------------------------------------------------


def _undocumented_note(suite) -> str:
    return (f"suite {suite.name}: params {', '.join(suite.undocumented_params)} are not among the parameters the "
            "Seed API documents; sent as written.")


def make_plan(cfg: Config, suites: list, models_spec: str | None, provider_name: str | None,
              base_url: str | None, api_key_env: str | None) -> Plan:
    from .kinds import get_kind

    explicit = cfg.expand_models(models_spec) if models_spec else None
    infos: dict[str, ModelInfo] = {}
    plans: list[SuitePlan] = []
    notices: list[str] = []
    for suite in suites:
        kind = get_kind(suite.kind)
        if suite.undocumented_params:
            notices.append(_undocumented_note(suite))
        names = explicit or suite.models or cfg.model_sets["default"]
        chosen: list[ModelInfo] = []
        for name in names:
            info = infos.get(name) or cfg.resolve_model(name, allow_unknown=bool(base_url))
            infos[name] = info
            if info.kind in kind.model_kinds:
                chosen.append(info)
        if not chosen:
            notices.append(
                f"suite {suite.name} ({suite.kind}) has no {'/'.join(kind.model_kinds)} model among "
                f"{', '.join(names)}: not run."
            )
            continue
        plans.append(SuitePlan(suite, kind, list(kind.cases(suite)), chosen))
    if not plans:
        raise UsageError("nothing to run: no suite has a model of its kind; check --models.")
    used = {m.name: m for sp in plans for m in sp.models}
    providers: dict[str, Provider] = {}
    for name, info in used.items():
        if base_url:
            # A base URL moves the host, not the provider: `--provider ark --base-url` keeps ark's
            # windows, limits and image mapping. The key is still the one named for this URL.
            known = cfg.providers.get(provider_name) if provider_name else None
            key_env = api_key_env or "OPENAI_API_KEY"
            prov = (replace(known, base_url=base_url, api_key_env=key_env) if known
                    else Provider(provider_name or "custom", base_url, key_env))
        else:
            prov = cfg.provider(info.provider or provider_name or cfg.default_provider)
            if api_key_env:
                prov = Provider(prov.name, prov.base_url, api_key_env, prov.images_take_n,
                                prov.context_windows, prov.price_overrides)
        providers[name] = prov
        used[name] = cfg.effective_model(info, prov)
    for sp in plans:
        sp.models = [used[m.name] for m in sp.models]
    notices.extend(cfg.notices)
    return Plan(plans, used, providers, notices)


def _api_key(provider: Provider, required: bool) -> str:
    env = provider.api_key_env
    key = os.environ.get(env) if env else None
    if key:
        if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
            # Never sent: the HTTP layer's error about such a header would quote the key itself.
            raise UsageError(f"the key in {env} holds whitespace, a line break or another character no key has "
                             "(often a copied newline); set the variable to the key alone.")
        return key
    if required:
        raise UsageError(
            f"no API key for provider {provider.name}: set the environment variable {env or 'OPENAI_API_KEY'} "
            "(or pass --api-key-env NAME)."
        )
    # Local servers take any key; the SDK insists on one.
    return "no-key"


def _needs_key(provider: Provider, cassettes: str) -> bool:
    if cassettes == "replay" or provider.name == "local":
        return False
    return not (provider.base_url or "").startswith(LOOPBACK_PREFIXES)


def _check_base_url(url: str) -> None:
    """--base-url is stored with the run, so it must not carry credentials; and it must be HTTP."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--base-url {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8000/v1.")
    if parts.username or parts.password:
        raise UsageError("--base-url must not carry credentials (they would be stored with the run); "
                         "put the key in an environment variable and name it with --api-key-env.")
    if parts.query or parts.fragment:
        # The openai client appends its paths after the whole URL (a query would end up inside the
        # path), and a value there, often a key, would be stored with the run.
        raise UsageError("--base-url must not carry a query string or fragment (a key there would be stored with "
                         "the run, and the client cannot use it); give the URL up to /v1 and the key with --api-key-env.")


def _check_network_options(opts: RunOptions) -> None:
    import ipaddress

    for net in opts.allow_download_from:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise UsageError(f"--allow-download-from {net!r} is not an address or network such as 10.0.0.0/8.") from None


def _check_budget_is_enforceable(plan: Plan) -> None:
    """--budget-usd counts spend from prices: with a model whose price is unknown it would let
    every request of that model through while looking like a limit. Refused before anything is
    sent, rather than warned about, because a budget is set so that no one has to watch the run."""
    from .costs import priced

    unpriced = sorted(name for name, info in plan.models.items() if not priced(info))
    if unpriced:
        raise UsageError(
            f"--budget-usd cannot be enforced: the price of {', '.join(unpriced)} is unknown; give it in evalseed.yaml "
            f"(models: {{{unpriced[0]}: {{prices: {{input: ..., output: ...}}}}}}, USD per million tokens, or "
            "per_image) or run without --budget-usd.")


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=2)
        return (out.stdout.strip() or None) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


# ---- run --------------------------------------------------------------------------------------


def run_command(opts: RunOptions) -> int:
    from .suites.loader import load_suites

    cfg = load_config(opts.config)
    stored_config: dict | None = None
    if opts.resume:
        from . import store

        con = store.open_db(opts.db)
        try:
            opts.run_id = store.resolve_run(con, opts.resume)
            stored_config = store.run_config(con, opts.run_id)
        finally:
            con.close()
        paths = [s["path"] for s in stored_config.get("suites", [])]
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
            _check_base_url(opts.base_url)
        suites = load_suites(opts.paths)
    plan = make_plan(cfg, suites, opts.models, opts.provider, opts.base_url, opts.api_key_env)
    _check_network_options(opts)
    if opts.budget_usd is not None:
        _check_budget_is_enforceable(plan)
    for n in plan.notices:
        _stderr(f"evalseed: {n}")
    _learn_token_ratios(opts.db, plan)
    if opts.dry_run:
        return _dry_run(plan, opts)
    if opts.sequential_baseline:
        opts.sequential = _sequential_gate(plan, opts)
    return _execute(plan, cfg, opts, stored_config)


def _sequential_gate(plan: Plan, opts: RunOptions):
    """The monitor for `--sequential`: the baseline's per-case pass rates (over ok repeats) for
    the plan's suites, matched to the plan's one model as compare matches models."""
    from . import compare, store
    from .compare.sequential import SequentialGate

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


def _learn_token_ratios(db: str, plan: Plan) -> None:
    """Chars-per-token ratios per model from earlier runs' prompt_tokens (evalseed.tokens), so
    long-context lengths and context-window skips use measured figures, not the default."""
    if not any(sp.suite.kind == "long_context" for sp in plan.suites) or not Path(db).exists():
        return
    from . import store, tokens

    try:
        con = store.open_db(db, read_only=True, wait_s=1.0)
    except UsageError:
        return  # locked or not ours: the defaults will do, and the run itself reports the file
    try:
        tokens.load_ratios(con, {name: plan.providers[name].name for name in plan.models})
    finally:
        con.close()


def _dry_run(plan: Plan, opts: RunOptions) -> int:
    from rich.table import Table

    from .costs import worst_case_cost
    from .engine import billable_output_tokens
    from .engine.api import asked_images

    table = Table(title="Dry run: nothing was sent", show_lines=False)
    for col in ("suite", "model", "requests", "skipped", "est. prompt tokens", "max cost $"):
        table.add_column(col, justify="left" if col in ("suite", "model") else "right")
    grand = 0.0
    total_req = 0
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
                body = prepared.request or {}
                images = asked_images(body) if m.kind == "image" else 0
                out = billable_output_tokens(body, m) if m.kind != "image" else 0
                cost += worst_case_cost(m, prepared.est_prompt_tokens, out, images) * sp.suite.repeats
            grand += cost
            total_req += req
            table.add_row(sp.suite.name, m.name, str(req), str(skipped), f"{tokens:,}", f"{cost:.4f}")
    console().print(table)
    print(f"{total_req} requests; at most ${grand:.4f} if every answer used its max_tokens (and, with thinking "
          "on, every chain of thought its 65,536-token limit)"
          + (f" (budget ${opts.budget_usd})" if opts.budget_usd is not None else "") + ".")
    return 0


def _execute(plan: Plan, cfg: Config, opts: RunOptions, stored_config: dict | None) -> int:
    from . import store
    from .engine import Budget, EngineOptions, Redactor

    eng_opts = EngineOptions(concurrency=opts.concurrency, timeout=opts.timeout, max_attempts=opts.max_attempts,
                             backoff_base=opts.backoff_base, rpm=opts.rpm, tpm=opts.tpm,
                             max_answer_bytes=opts.max_answer_bytes)
    keys = {name: _api_key(p, _needs_key(p, opts.cassettes)) for name, p in plan.providers.items()}
    # The placeholder sent to local servers is no secret: scrubbing it would mangle answers.
    redact = Redactor(k for k in keys.values() if k != "no-key")
    con = store.open_db(opts.db)
    try:
        if opts.resume:
            assert opts.run_id is not None  # run_command resolved --resume to a run id
            run_id = opts.run_id
            recovered = store.recover(con, run_id, _unsaved_files(opts.db, run_id))
            if recovered:
                _stderr(f"evalseed: stored {recovered} answered rows that run {run_id} had saved beside the database.")
            done, errored = store.stored_keys(con, run_id)
            spent_row = con.execute("SELECT coalesce(sum(cost_usd), 0) FROM results WHERE run_id = ?", [run_id]).fetchone()
            already_spent = float(spent_row[0] or 0.0)
            store.set_run_status(con, run_id, "running")
        else:
            run_id = opts.run_id = store.new_run_id()
            done, errored, already_spent = set(), set(), 0.0
            config = _run_config(plan, cfg, opts)
            store.insert_run(con, run_id, label=opts.label, git_sha=_git_sha(), version=__version__, config=config)
            store.insert_prices(con, run_id, cfg.price_table(plan.models))
        budget = Budget(opts.budget_usd, spent=already_spent)
        writer = store.ResultWriter(con, run_id, replace_keys=errored, where=opts.db)
        status = "interrupted"
        message = None
        try:
            stopped = _drive(plan, opts, eng_opts, run_id, keys, redact, budget, writer, skip=done)
            status = "budget" if stopped else "finished"
            if stopped:
                message = (f"stopped before spending past --budget-usd {opts.budget_usd} "
                           f"(spent ${budget.spent:.4f}); finish with --resume {run_id} and a larger budget.")
        except RunAborted as e:
            status = "aborted"
            message = str(e)
        finally:
            # Also on Ctrl-C: what was answered is paid for and must reach the database or a file.
            trouble = _store_the_rest(writer, opts.db, run_id)
            if trouble:
                status, message = "aborted", trouble
            if opts.sequential is not None:
                # The run says it stopped early and why; compare reads this to judge it.
                with contextlib.suppress(Exception):
                    store.add_to_run_config(con, run_id, "sequential",
                                            dict(opts.sequential.record(), baseline=opts.sequential_baseline))
            with contextlib.suppress(Exception):  # a database that refuses rows may refuse this too
                store.finish_run(con, run_id, status)
        if writer.failed is None:
            _print_summary(con, run_id, plan)
        if message:
            _stderr(f"evalseed: {message}")
            return 3
        print(f"run {run_id} stored in {opts.db}")
        return 0
    finally:
        con.close()


def rate_limits(info: ModelInfo, rpm: int | None, tpm: int | None, cassettes: str) -> tuple[int | None, int | None]:
    """Requests and tokens per minute for a model's lane: the flags, else the model's published
    limits; none when replaying (nothing reaches a server)."""
    if cassettes == "replay":
        return None, None
    return rpm or info.default_rpm, tpm or info.default_tpm


def _unsaved_files(db: str, run_id: str) -> list[Path]:
    """Where ResultWriter.spill may have put rows the database would not take, in order."""
    from . import store

    name = store.unsaved_file_name(db, run_id)
    return [Path(db).resolve().parent / name, Path(tempfile.gettempdir()) / name]


def _store_the_rest(writer, db: str, run_id: str) -> str | None:
    """Write the rows still in memory (one more try if the database refused them mid-run). When
    it refuses again, save them beside it; returns the sentence to end the run with, or None."""
    from .errors import StoreFailed

    refused = writer.failed
    if refused is None and not writer.pending:
        return None
    try:
        writer.flush()
    except StoreFailed as e:
        n = writer.pending
        places = _unsaved_files(db, run_id)
        saved = writer.spill([p.parent for p in places], places[0].name)
        where = (f"the {n} answered rows it could not take are saved in {saved}" if saved
                 else f"the {n} answered rows it could not take could not be saved anywhere either, and are lost")
        return (f"{e}, so the run stopped sending requests; {where}; free space, then finish with "
                f"--resume {run_id} (it stores them first).")
    if refused is not None:
        return (f"{refused} for a while, so the run stopped sending requests; every answered row is stored "
                f"now; finish with --resume {run_id}.")
    return None


def _run_config(plan: Plan, cfg: Config, opts: RunOptions) -> dict:
    first_provider = next(iter(plan.providers.values()))
    return {
        "models": list(plan.models),
        "provider": opts.provider if not opts.base_url else first_provider.name,
        "providers": {m: p.name for m, p in plan.providers.items()},
        "base_url": opts.base_url,
        # The variable's name, never its value.
        "api_key_env": opts.api_key_env,
        "suites": [
            {"name": sp.suite.name, "kind": sp.suite.kind, "path": sp.suite.path, "hash": sp.suite.content_hash,
             "cases": len(sp.cases), "repeats": sp.suite.repeats, "params": sp.suite.params,
             "models": [m.name for m in sp.models],
             # compare reads the floors from the run, so a gate holds what the suite said when it ran.
             "gate": sp.suite.gate.model_dump() if sp.suite.gate else None}
            for sp in plan.suites
        ],
        "options": {"concurrency": opts.concurrency, "timeout": opts.timeout, "max_attempts": opts.max_attempts,
                    "cassettes": opts.cassettes, "budget_usd": opts.budget_usd, "rpm": opts.rpm, "tpm": opts.tpm,
                    "max_answer_bytes": opts.max_answer_bytes, "allow_download_from": opts.allow_download_from},
        "rate_limits": {m: dict(zip(("rpm", "tpm"), rate_limits(i, opts.rpm, opts.tpm, opts.cassettes)))
                        for m, i in plan.models.items()},
        "model_table": {m: {"context_window": i.context_window, "kind": i.kind, "family": i.family,
                            "inherited_from": i.inherited_from, "structured_output": i.structured_output,
                            "base_model": i.base_model, "request_params": i.request_params}
                        for m, i in plan.models.items()},
        "prices": cfg.price_table(plan.models),
        "config_file": cfg.source,
    }


def _while_stored(jobs: Iterator, writer) -> Iterator:
    for job in jobs:
        if writer.failed is not None:
            return
        yield job


def _jobs_for(plan: Plan, model: ModelInfo, run_id: str, out_dir: str, skip: set[tuple]) -> Iterator:
    from .jobs import CaseJob

    prov = plan.providers[model.name].name
    for sp in plan.suites:
        if all(m.name != model.name for m in sp.models):
            continue
        for case in sp.cases:
            for r in range(sp.suite.repeats):
                if (sp.suite.name, case.id, model.name, r) in skip:
                    continue
                yield CaseJob(run_id, sp.suite, sp.kind, case, model, prov, r, out_dir)


def _drive(plan: Plan, opts: RunOptions, eng_opts, run_id: str, keys: dict, redact, budget, writer,
           skip: set[tuple]):
    """Start what the run needs (local server, cassettes), run the engine, flush as it goes."""
    from .engine import AddressPolicy, Downloads, Engine, JobApi, ModelLane
    from .engine.transport import api_http_client
    from .limits import RateLimiter

    total = plan.total(skip)
    out_dir = str(Path(opts.out_dir) / run_id)
    with ExitStack() as stack:
        base_urls: dict[str, str] = {}
        server_failure = None
        local_models = [m for m in plan.models.values() if plan.providers[m.name].name == "local"
                        and not plan.providers[m.name].base_url]
        if local_models:
            if opts.cassettes == "replay":
                # Replay never touches the network: any address will do, the cassette answers.
                from .local_model import REPLAY_BASE_URL

                url = REPLAY_BASE_URL
            else:
                from .local_model import local_server

                server = stack.enter_context(local_server(local_models[0]))
                url, server_failure = server.base_url, server.failure
            for m in local_models:
                base_urls[m.name] = url
        observer = None
        if opts.cassettes != "off":
            from .cassettes import CassetteSession

            observer = stack.enter_context(CassetteSession(
                opts.cassettes, opts.cassette_dir,
                providers={name: prov.name for name, prov in plan.providers.items()},
                secrets=[k for k in keys.values() if k],
            ))
        progress = _Progress(total, enabled=opts.progress)
        stack.enter_context(progress)

        async def main():
            import openai

            clients: dict[tuple, Any] = {}
            # A replayed run never touches the network: its links are answered by the cassettes.
            downloads = Downloads(None if opts.cassettes == "replay" else AddressPolicy.for_run(
                {p.base_url for p in plan.providers.values() if p.base_url} | set(base_urls.values()),
                opts.allow_download_from))
            lanes: dict[str, ModelLane] = {}
            for name, info in plan.models.items():
                prov = plan.providers[name]
                url = base_urls.get(name) or prov.base_url
                ckey = (url, prov.name)
                if ckey not in clients:
                    clients[ckey] = openai.AsyncOpenAI(base_url=url, api_key=keys[name], max_retries=0,
                                                       timeout=eng_opts.timeout,
                                                       http_client=api_http_client(eng_opts.timeout))
                rpm, tpm = rate_limits(info, eng_opts.rpm, eng_opts.tpm, opts.cassettes)
                limiter = RateLimiter(rpm, tpm) if (rpm or tpm) else None
                lane_opts = eng_opts
                if name in base_urls and opts.cassettes != "replay" and eng_opts.concurrency > 1:
                    # llama.cpp's server runs one completion at a time: more in flight would only
                    # queue there, and the queueing would be measured as the model's latency.
                    from dataclasses import replace as _replace

                    lane_opts = _replace(eng_opts, concurrency=1)
                lanes[name] = ModelLane(info, prov, clients[ckey], lane_opts, budget, redact, limiter, observer,
                                        server_failure=server_failure if name in base_urls else None,
                                        downloads=downloads)
            engine = Engine(lanes, budget)
            # No new request once the database refuses rows: answers it cannot store would be paid
            # for and then asked again by --resume.
            seq = opts.sequential
            jobs = {name: _while_stored(seq.feed(list(_jobs_for(plan, info, run_id, out_dir, skip))) if seq
                                        else _jobs_for(plan, info, run_id, out_dir, skip), writer)
                    for name, info in plan.models.items()}

            def sink(row: dict) -> None:
                writer.add(row)
                progress.update(row, budget.spent)
                if seq:
                    seq.add(row)

            stop_flush = asyncio.Event()

            async def flusher():
                # Whole batches at most every half second: a crash loses at most that much work.
                while not stop_flush.is_set():
                    try:
                        await asyncio.wait_for(stop_flush.wait(), 0.5)
                    except TimeoutError:
                        pass
                    try:
                        writer.flush()
                    except StoreFailed:
                        return  # _execute tries once more after the requests in flight are back

            loop = asyncio.get_running_loop()
            me = asyncio.current_task()
            try:
                loop.add_signal_handler(signal.SIGTERM, me.cancel)
            except (NotImplementedError, RuntimeError):
                pass
            flush_task = asyncio.create_task(flusher())
            try:
                return await engine.run(jobs, sink, lambda lane, job: JobApi(lane, job.suite.name, job.case_id))
            finally:
                stop_flush.set()
                await flush_task
                for c in clients.values():
                    await c.close()
                await downloads.aclose()

        try:
            return asyncio.run(main())
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None


class _Progress:
    """A rich progress bar on a terminal; silent otherwise (CI logs stay readable)."""

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.done = self.errors = self.skipped = 0
        self._p = None
        self._t = None
        self._last = 0.0

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(TextColumn("[bold]run"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                               console=Console(stderr=True), refresh_per_second=4)
            self._p.__enter__()
            self._t = self._p.add_task("run", total=self.total, info="")
        return self

    def update(self, row: dict, spent: float) -> None:
        self.done += 1
        status = row.get("status")
        if status == "error":
            self.errors += 1
        elif status == "skipped":
            self.skipped += 1
        if self._p is None:
            return
        now = time.monotonic()
        # rich redraws on its own clock; updating fields at most 10x a second keeps this cheap.
        if now - self._last > 0.1 or self.done == self.total:
            self._last = now
            self._p.update(self._t, completed=self.done,
                           info=f"errors {self.errors}  skipped {self.skipped}  ${spent:.4f}")

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.update(self._t, completed=self.done)
            self._p.__exit__(*exc)
        return False


# ---- summary ----------------------------------------------------------------------------------


def summary_rows(con, run_id: str) -> list[dict]:
    """Per (suite, model) of a run: cases, rows, ok, errors, skipped, accuracy and the kind's
    metrics as `evalseed.metrics` defines them for every view, plus the latency quantiles (ok
    rows), the cost and whether answers were replayed. What `runs RUN_ID --json` prints."""
    from . import metrics
    from .files import json_safe

    scope = metrics.Scope("(SELECT * FROM results WHERE run_id = ?)", ("model",), (run_id,))
    groups = metrics.suite_metrics(con, scope)
    measured = {
        (suite, model): rest for suite, model, *rest in con.execute(
            """SELECT suite, model,
                      quantile_cont(latency_ms, 0.5) FILTER (status = 'ok'),
                      quantile_cont(latency_ms, 0.95) FILTER (status = 'ok'),
                      sum(cost_usd), bool_or(replayed)
               FROM results WHERE run_id = ? GROUP BY suite, model""", [run_id]).fetchall()
    }
    out = []
    for key in sorted(groups):
        p50, p95, cost, replayed = measured.get(key, (None, None, None, None))
        out.append(json_safe({**groups[key].to_dict(("model",)), "latency_p50_ms": p50, "latency_p95_ms": p95,
                              "cost_usd": cost, "replayed": bool(replayed)}))
    return out


# Columns of the summary table; the kind's other scalar figures go into its last column.
_TABLE_KEYS = {"suite", "model", "kind", "cases", "rows", "ok", "errors", "skipped", "accuracy", "latency_p50_ms",
               "latency_p95_ms", "cost_usd", "replayed"}


def _print_summary(con, run_id: str, plan: Plan | None = None) -> None:
    from rich.table import Table

    rows = summary_rows(con, run_id)
    if not rows:
        return
    repeated = any(r["rows"] != r["cases"] for r in rows)
    table = Table(title=f"run {run_id}")
    cols = ["suite", "model", "cases"] + (["rows"] if repeated else []) + [
        "ok", "errors", "skipped", "accuracy", "p50 ms", "p95 ms", "cost $", "kind metrics"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("suite", "model", "kind metrics") else "right")
    fmt = lambda v: f"{v:,.0f}" if v is not None else "-"  # noqa: E731
    for r in rows:
        acc = f"{r['accuracy']:.3f}" if r["accuracy"] is not None else "-"
        cost = f"{r['cost_usd']:.4f}" if r["cost_usd"] is not None else "-"
        table.add_row(r["suite"], r["model"] + (" (replayed)" if r["replayed"] else ""), str(r["cases"]),
                      *([str(r["rows"])] if repeated else []), str(r["ok"]), str(r["errors"]), str(r["skipped"]),
                      acc, fmt(r["latency_p50_ms"]), fmt(r["latency_p95_ms"]), cost, _kind_text(r))
    console().print(table)


def _kind_text(record: dict) -> str:
    """A kind's scalar metrics as one short text (`macro_f1 0.61 · unparsed 3`)."""
    parts = []
    for k, v in record.items():
        if k in _TABLE_KEYS or isinstance(v, bool) or v is None:
            continue
        if isinstance(v, float):
            parts.append(f"{k} {v:.3g}")
        elif isinstance(v, int) and v:
            parts.append(f"{k} {v}")
    return " · ".join(parts)


# ---- validate / models / runs / rescore -------------------------------------------------------


def validate_command(paths: list[str], config: str | None, as_json: bool = False) -> int:
    from .suites.loader import validate_paths

    load_config(config)
    good, problems = validate_paths(paths)
    if as_json:
        import json

        from .kinds import get_kind

        print(json.dumps({
            "suites": [{"path": s.path, "name": s.name, "kind": s.kind, "cases": sum(1 for _ in get_kind(s.kind).cases(s)),
                        "undocumented_params": s.undocumented_params} for s in good],
            "problems": [{"file": p.file, "line": p.line, "key": p.path, "message": p.message} for p in problems],
        }, indent=2))
        return 2 if problems else 0
    for s in good:
        from .kinds import get_kind

        n = sum(1 for _ in get_kind(s.kind).cases(s))
        print(f"ok  {s.path}  {s.name} ({s.kind}, {n} cases)")
        if s.undocumented_params:
            print(f"evalseed: warning: {_undocumented_note(s)}", file=sys.stderr)
    for p in problems:
        print(f"evalseed: {p}", file=sys.stderr)
    return 2 if problems else 0


def models_data(cfg: Config) -> dict:
    """The model table as data: each model as each provider sees it (windows, limits, prices),
    variants with their base and params, sets and providers."""
    from dataclasses import asdict

    from .config import PRICES_AS_OF, PRICES_SOURCE

    def model(m: ModelInfo) -> dict:
        d = asdict(m)
        d["prices"] = {k: v for k, v in d["prices"].items() if v is not None} if d.get("prices") else {}
        return d

    return {
        "prices_as_of": PRICES_AS_OF, "prices_source": PRICES_SOURCE,
        "models": [model(m) for m in cfg.models.values()],
        "per_provider": {p.name: {m.name: {"context_window": e.context_window, "max_input_tokens": e.max_input_tokens,
                                          "max_completion_tokens": e.max_completion_tokens,
                                          "prices": {k: getattr(e.prices, k) for k in e.prices.__slots__
                                                     if getattr(e.prices, k) is not None}}
                                  for m in cfg.models.values() if (m.provider in (None, p.name))
                                  for e in [cfg.effective_model(m, p)]}
                         for p in cfg.providers.values()},
        "model_sets": cfg.model_sets,
        "providers": [{"name": p.name, "base_url": p.base_url, "api_key_env": p.api_key_env} for p in cfg.providers.values()],
    }


def models_command(config: str | None, as_json: bool = False) -> int:
    from rich.table import Table

    from .config import PRICES_SOURCE

    cfg = load_config(config)
    if as_json:
        import json

        print(json.dumps(models_data(cfg), indent=2, default=str))
        return 0
    table = Table(title=f"Models (prices USD: {PRICES_SOURCE})")
    for col in ("model", "kind", "context", "in $/M", "cached $/M", "out $/M", ">128K in/out", "$/image", "features"):
        table.add_column(col)
    f = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
    for m in cfg.models.values():
        p = m.prices
        feats = ", ".join(n for n in ("structured_output", "tools", "thinking") if getattr(m, n)) or "-"
        prov = f" [{m.provider}]" if m.provider else ""
        if m.base_model:
            feats += f"; variant of {m.base_model} {m.request_params}"
        table.add_row(m.name + prov, m.kind, f"{m.context_window:,}" if m.context_window else "-", f(p.input),
                      f(p.cached_input), f(p.output),
                      f"{f(p.long_input)}/{f(p.long_output)}" if p.long_input is not None else "-",
                      f(p.per_image), feats)
    out = console()
    out.print(table)
    for name, members in cfg.model_sets.items():
        out.print(f"set [bold]{name}[/bold]: {', '.join(members)}")
    out.print("providers: " + ", ".join(
        f"{p.name} ({p.base_url or 'started by evalseed'}; key ${p.api_key_env or '-'})" for p in cfg.providers.values()))
    for provider in cfg.providers.values():
        for name, lim in provider.limits.items():
            out.print(f"limits on {provider.name}: {name} " + ", ".join(f"{k} {v:,}" for k, v in lim.items()))
    return 0


def runs_command(db: str, limit: int, run_ref: str | None = None, as_json: bool = False) -> int:
    """The runs stored, newest first; with a run, that run's summary (as JSON with `as_json`)."""
    import json

    from rich.table import Table

    from . import store

    con = store.open_db(db, read_only=True)
    try:
        if run_ref is not None:
            run_id = store.resolve_run(con, run_ref)
            if as_json:
                started, finished, status, label = con.execute(
                    "SELECT started_at, finished_at, status, label FROM runs WHERE run_id = ?", [run_id]).fetchone()
                print(json.dumps({"run_id": run_id, "status": status, "label": label,
                                  "started_at": str(started) if started else None,
                                  "finished_at": str(finished) if finished else None,
                                  "results": summary_rows(con, run_id)}, indent=2, ensure_ascii=False))
            else:
                _print_summary(con, run_id)
            return 0
        rows = con.execute(
            """SELECT r.run_id, r.started_at, r.status, r.label, count(x.case_id), sum(x.cost_usd)
               FROM runs r LEFT JOIN results x USING (run_id)
               GROUP BY ALL ORDER BY r.started_at DESC LIMIT ?""", [limit]).fetchall()
    finally:
        con.close()
    if as_json:
        print(json.dumps([{"run_id": run_id, "started_at": str(started) if started else None, "status": status,
                           "label": label, "rows": n, "cost_usd": cost}
                          for run_id, started, status, label, n, cost in rows], indent=2, ensure_ascii=False))
        return 0
    table = Table()
    for col in ("run", "started", "status", "label", "rows", "cost $"):
        table.add_column(col)
    for run_id, started, status, label, n, cost in rows:
        table.add_row(run_id, str(started)[:19], status or "", label or "", str(n),
                      f"{cost:.4f}" if cost is not None else "-")
    console().print(table)
    return 0


def rescore_command(db: str, run_ref: str) -> int:
    """Score stored responses again (after a scorer fix or an edited `expected`): no API calls."""
    from . import store
    from .jobs import CaseJob
    from .kinds import get_kind
    from .core import CallResult, Outcome
    from .suites.loader import load_suites

    cfg = load_config(None)
    con = store.open_db(db)
    try:
        run_id = store.resolve_run(con, run_ref)
        config = store.run_config(con, run_id)
        suites = {s.name: s for s in load_suites([s["path"] for s in config.get("suites", [])])}
        measured = ["latency_ms", "ttft_ms", "output_tps", "prompt_tokens", "completion_tokens",
                    "reasoning_tokens", "cached_tokens", "images", "cost_usd", "attempts", "replayed"]
        rows = store.fetch_rows(con, "run_id = ? AND status = 'ok'", [run_id],
                                ["suite", "case_id", "model", "repeat", "request", "response", "output_text",
                                 "details", *measured])
        cases = {name: {c.id: c for c in get_kind(s.kind).cases(s)} for name, s in suites.items()}
        import json as _json

        updates: list[dict] = []
        changed = 0
        for r in rows:
            suite = suites.get(r["suite"])
            case = cases.get(r["suite"], {}).get(r["case_id"])
            if suite is None or case is None:
                continue
            kind = get_kind(suite.kind)
            info = cfg.resolve_model(r["model"], allow_unknown=True)
            job = CaseJob(run_id, suite, kind, case, info, "", r["repeat"], "")
            prepared = job.prepare()
            # The stored figures stand in for the call, so scorers that read usage still can.
            call = CallResult(request=r["request"] or {}, response=r["response"] or {},
                              **{k: r[k] for k in measured if r[k] is not None})
            score = kind.score(suite, case, prepared, Outcome(calls=[call], response=r["response"],
                                                               output_text=r["output_text"]))
            details = {**job._base_details(prepared), **score.details}
            if isinstance(r["details"], dict) and r["details"].get("flags"):
                details["flags"] = r["details"]["flags"]  # what the engine corrected when the answer came
            updates.append({"suite": r["suite"], "case_id": r["case_id"], "model": r["model"], "repeat": r["repeat"],
                            "score": float(score.score), "passed": bool(score.passed),
                            "details": _json.dumps(details, ensure_ascii=False, default=str),
                            "output_text": score.output_text})
            changed += 1
        import pyarrow as pa

        # One set-based UPDATE in one transaction: all rows rescored or none.
        table = pa.Table.from_pylist(updates, schema=pa.schema([
            ("suite", pa.string()), ("case_id", pa.string()), ("model", pa.string()), ("repeat", pa.int64()),
            ("score", pa.float64()), ("passed", pa.bool_()), ("details", pa.string()), ("output_text", pa.string())]))
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("_rescored", table)
            con.execute(
                """UPDATE results SET score = u.score, passed = u.passed, details = u.details::JSON,
                          output_text = coalesce(u.output_text, results.output_text)
                   FROM _rescored u
                   WHERE results.run_id = ? AND results.suite = u.suite AND results.case_id = u.case_id
                     AND results.model = u.model AND results."repeat" = u."repeat" """, [run_id])
            con.unregister("_rescored")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        print(f"rescored {changed} rows of run {run_id}")
        _print_summary(con, run_id)
    finally:
        con.close()
    return 0
