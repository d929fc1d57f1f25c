"""What every call to one model shares: the client, the options, the budget, the limiter."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from ..config import ModelInfo, Provider
from ..core import CallResult
from ..limits import RateLimiter
from .budget import Budget
from .download import Downloads
from .redact import Redactor


@dataclass
class EngineOptions:
    concurrency: int = 8
    timeout: float = 300.0  # seconds per attempt, whole response included
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_time_budget: float = 600.0  # seconds one request may spend retrying in all
    stream: bool = True
    # Bytes of text kept per answer (--max-answer-bytes): a 65,536-token answer is well under
    # 1 MB; a server sending 100 MB must not take the run's memory with it.
    max_answer_bytes: int = 4 * 1024 * 1024
    rpm: int | None = None
    tpm: int | None = None


class AdaptiveConcurrency:
    """How many requests of one model may be in flight: --concurrency at first, halved when the
    server answers 429 for a rate limit (once per level: the 429s of requests sent at a higher
    level say nothing new), raised by one after twice the level's answers in a row without one.
    A rate limit lowers the run's pace instead of turning requests into error rows."""

    def __init__(self, limit: int):
        self.max = self.limit = max(1, limit)
        self.lowest = self.limit
        self.in_flight = 0
        self._good = 0
        self._freed: asyncio.Event | None = None

    async def acquire(self) -> int:
        """Wait for a free slot; returns the level it was taken at."""
        while self.in_flight >= self.limit:
            if self._freed is None:
                self._freed = asyncio.Event()
            await self._freed.wait()
        self.in_flight += 1
        return self.limit

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def rate_limited(self, level: int) -> bool:
        """A 429 for a request sent at `level`: halve once per level. True when it lowered."""
        self._good = 0
        if level != self.limit or self.limit == 1:
            return False
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        return True

    def answered(self) -> None:
        self._good += 1
        if self.limit < self.max and self._good >= 2 * self.limit:
            self._good = 0
            self.limit += 1
            self._wake()

    def _wake(self) -> None:
        if self._freed is not None:
            freed, self._freed = self._freed, None
            freed.set()


class CallObserver(Protocol):
    def after_call(self, call: CallResult, headers: Mapping[str, str]) -> CallResult: ...


@dataclass
class ModelLane:
    """Everything calls to one model share: client, limiter, options."""

    model: ModelInfo
    provider: Provider
    client: Any  # openai.AsyncOpenAI
    opts: EngineOptions
    budget: Budget
    redact: Redactor
    limiter: RateLimiter | None = None
    observer: CallObserver | None = None
    # Requests in a row that spent every retry without reaching the server (see retry.DOWN_STREAK).
    down_streak: int = 0
    # For a server evalseed runs itself: None while it lives, else why it died. Checked on every
    # transient error, so a dead server ends the run at once instead of after every retry.
    server_failure: Callable[[], str | None] | None = None
    # Shared by a run's lanes so downloads reuse connections; the runner closes it at the end.
    downloads: Downloads = field(default_factory=Downloads)
    # Why the run must stop once the answer in hand is stored (a server whose usage cannot be
    # true); the engine checks it after each job.
    halt: str | None = None
    # Requests in flight to this model, lowered on rate-limit 429s (see AdaptiveConcurrency).
    concurrency: AdaptiveConcurrency = field(init=False)

    def __post_init__(self) -> None:
        self.concurrency = AdaptiveConcurrency(self.opts.concurrency)

    async def dead_server(self, wait_s: float = 1.0) -> str | None:
        if self.server_failure is None:
            return None
        # A dying process closes its sockets a moment before it can be reaped: give it that moment.
        deadline = time.monotonic() + wait_s
        while (why := self.server_failure()) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return why
