"""Requests-per-minute and tokens-per-minute limits per model, as token buckets: a full minute's
allowance may be used in a burst, then requests wait for the bucket to refill."""

from __future__ import annotations

import asyncio
import time


class _Bucket:
    __slots__ = ("capacity", "rate", "level", "stamp")

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.stamp = time.monotonic()

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 = take it now)."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        amount = min(amount, self.capacity)  # one request bigger than a minute's allowance still goes
        if self.level >= amount:
            self.level -= amount
            return 0.0
        return (amount - self.level) / self.rate


class RateLimiter:
    def __init__(self, rpm: int | None = None, tpm: int | None = None):
        self.requests = _Bucket(rpm) if rpm else None
        self.tokens = _Bucket(tpm) if tpm else None
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int = 0) -> None:
        # One waiter at a time keeps the order fair and the buckets consistent.
        async with self._lock:
            for bucket, amount in ((self.requests, 1), (self.tokens, tokens)):
                if bucket is None or amount <= 0:
                    continue
                while (delay := bucket.wait_for(amount)) > 0:
                    await asyncio.sleep(delay)
