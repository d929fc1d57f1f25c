"""The engine driven over a plan: start what the run needs (the local model's server, cassettes),
build one lane per model, feed it the plan's jobs, store rows as they come, show progress."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Iterator

from ..errors import StoreFailed
from .plan import Plan, RunOptions, rate_limits


def while_stored(jobs: Iterator, writer) -> Iterator:
    for job in jobs:
        if writer.failed is not None:
            return
        yield job


def jobs_for(plan: Plan, model, run_id: str, out_dir: str, skip: set[tuple]) -> Iterator:
    from ..jobs import CaseJob

    prov = plan.providers[model.name].name
    for sp in plan.suites:
        if all(m.name != model.name for m in sp.models):
            continue
        for case in sp.cases:
            for r in range(sp.suite.repeats):
                if (sp.suite.name, case.id, model.name, r) in skip:
                    continue
                yield CaseJob(run_id, sp.suite, sp.kind, case, model, prov, r, out_dir)


def drive(plan: Plan, opts: RunOptions, eng_opts, run_id: str, keys: dict, redact, budget, writer,
          skip: set[tuple]):
    """Start what the run needs (local server, cassettes), run the engine, flush as it goes."""
    from ..engine import AddressPolicy, Downloads, Engine, JobApi, ModelLane
    from ..engine.transport import api_http_client
    from ..limits import RateLimiter

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
                from ..local_model import REPLAY_BASE_URL

                url = REPLAY_BASE_URL
            else:
                from ..local_model import local_server

                server = stack.enter_context(local_server(local_models[0]))
                url, server_failure = server.base_url, server.failure
            for m in local_models:
                base_urls[m.name] = url
        observer = None
        if opts.cassettes != "off":
            from ..cassettes import CassetteSession

            observer = stack.enter_context(CassetteSession(
                opts.cassettes, opts.cassette_dir,
                # A request names the model's API name: a variant's is its base model's.
                providers={**{plan.models[name].api_name: prov.name for name, prov in plan.providers.items()},
                           **{name: prov.name for name, prov in plan.providers.items()}},
                secrets=[k for k in keys.values() if k],
            ))
        progress = Progress(total, enabled=opts.progress)
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
            jobs = {name: while_stored(seq.feed(list(jobs_for(plan, info, run_id, out_dir, skip))) if seq
                                       else jobs_for(plan, info, run_id, out_dir, skip), writer)
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
                        return  # execute() tries once more after the requests in flight are back

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


class Progress:
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
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._p = Bar(TextColumn("[bold]run"), BarColumn(), MofNCompleteColumn(),
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
