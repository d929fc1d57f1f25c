"""Per-model workers: each model's jobs run with its lane's concurrency until they are done, the
budget is reached, or the run is aborted."""

from __future__ import annotations

import asyncio
from typing import Callable, Iterator, Protocol

from ..errors import BudgetExhausted, RunAborted
from .api import JobApi
from .budget import Budget
from .lane import ModelLane


class Job(Protocol):
    """One unit of work: a case on a model. `run` returns the row to store (or None to store
    nothing, e.g. when the run is stopping)."""

    model: str

    async def run(self, api: JobApi) -> dict | None: ...


class Engine:
    def __init__(self, lanes: dict[str, ModelLane], budget: Budget):
        self.lanes = lanes
        self.budget = budget

    async def run(self, jobs: dict[str, Iterator[Job]], sink: Callable[[dict], None],
                  job_api: Callable[[ModelLane, Job], JobApi]) -> str | None:
        """Run every model's jobs with its lane's concurrency; rows go to `sink` as they finish.
        RunAborted stops everything and propagates; budget exhaustion stops scheduling, and the
        reason is returned (None when every job ran)."""
        stop = asyncio.Event()
        abort: list[BaseException] = []
        stopped: list[str] = []

        async def worker(model: str, it: Iterator[Job]) -> None:
            lane = self.lanes[model]
            while not stop.is_set():
                try:
                    job = next(it)
                except StopIteration:
                    return
                try:
                    row = await job.run(job_api(lane, job))
                except BudgetExhausted as e:
                    stopped.append(f"budget: {e}")
                    stop.set()
                    return
                except RunAborted as e:
                    if not abort:
                        abort.append(e)
                    stop.set()
                    return
                if row is not None:
                    sink(row)
                if lane.halt is not None:
                    if not abort:
                        abort.append(RunAborted(lane.halt))
                    stop.set()
                    return

        tasks: list[asyncio.Task[None]] = []
        for model, it in jobs.items():
            n = max(1, self.lanes[model].opts.concurrency)
            shared = iter(it)
            tasks.extend(asyncio.create_task(worker(model, shared)) for _ in range(n))
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        if abort:
            raise abort[0]
        return stopped[0] if stopped else None
