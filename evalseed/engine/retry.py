"""The retry loop: one request's attempts, what each failure means, and how long to wait.

The SDK's own retries are off so that attempts are counted and Seed's error codes decide what is
retried: a transient failure (429, 5xx, a dropped connection, a cut stream, a timeout) is tried
again after a backoff (a rate-limit 429 also lowers the model's concurrency, and counts against
--max-attempts only once that is down to one); a permanent one fails the request (the case's
`error` row); an auth failure, a spent quota, a dead local server or a missing recording ends the
run.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Awaitable, Callable, TypeVar

from ..errors import CallFailed, PermanentCallError, RunAborted, TransientCallError
from .failures import error_code, status_error
from .lane import EngineOptions, ModelLane

T = TypeVar("T")

# A server that cannot be reached for this many requests in a row, each after all its retries,
# is down: stop the run (exit 3, resumable) instead of writing an error row for every case.
DOWN_STREAK = 8
_UNREACHABLE = {"ConnectionError", "Timeout"}

# 429 codes that no wait will fix.
_FATAL_429 = {"QuotaExceeded", "AccountOverdueError"}


async def with_retries(lane: ModelLane, once: Callable[[], Awaitable[T]], *, suite: str, case_id: str,
                       request: dict | None = None, est_tokens: int = 0, rate_limited: bool = True,
                       to_model: bool = True) -> tuple[T, int]:
    """`once()`'s result and the attempts it took. Each attempt must finish within --timeout.
    `rate_limited`: the attempt counts against --rpm/--tpm. `to_model`: the attempt goes to the
    model's server, so a run of unreachable requests means that server is down (DOWN_STREAK)."""
    opts = lane.opts
    started = time.monotonic()
    attempt = 0
    counted = 0  # attempts that count against --max-attempts
    # Requests to the model take a slot of its adaptive concurrency; downloads do not.
    slots = lane.concurrency if rate_limited else None
    while True:
        attempt += 1
        if rate_limited and lane.limiter is not None:
            await lane.limiter.acquire(est_tokens)
        level = await slots.acquire() if slots is not None else 0
        try:
            async with asyncio.timeout(opts.timeout):
                result = await once()
        except TimeoutError:
            err: TransientCallError | PermanentCallError = TransientCallError(
                "Timeout", f"no complete response within {opts.timeout:g} s")
        except (TransientCallError, PermanentCallError) as e:
            err = e
        except RunAborted:
            raise
        except Exception as e:  # noqa: BLE001 - classified below, never lost
            err = classify(e, lane, suite, case_id)
        else:
            if to_model:
                lane.down_streak = 0
            if slots is not None:
                slots.answered()
            return result, attempt
        finally:
            if slots is not None:
                slots.release()
        counted += 1
        if slots is not None and err.error_class.startswith("HTTP429"):
            if slots.rate_limited(level):
                print(f"evalseed: {lane.redact(err.error_class)} from {lane.model.name}: requests in flight lowered "
                      f"to {slots.limit}.", file=sys.stderr)
            if level > 1:
                counted -= 1  # sent at a concurrency the server refused: the lower one is tried, not counted
        if isinstance(err, PermanentCallError):
            # The class holds the server's error code, the message its text: either may echo the key.
            raise CallFailed(lane.redact(err.error_class), lane.redact(err.message), attempt, request)
        if (why := await lane.dead_server()) is not None:
            raise RunAborted(lane.redact(why))
        elapsed = time.monotonic() - started
        if counted >= opts.max_attempts or elapsed >= opts.retry_time_budget:
            if to_model and err.error_class in _UNREACHABLE:
                lane.down_streak += 1
                if lane.down_streak >= DOWN_STREAK:
                    raise RunAborted(lane.redact(
                        f"{lane.provider.base_url or lane.provider.name} did not answer {DOWN_STREAK} requests "
                        f"in a row for model {lane.model.name}, each after {attempt} attempts ({err.message}); "
                        "check the server, then finish with --resume."))
            raise CallFailed(
                lane.redact(err.error_class),
                lane.redact(f"{err.message} (gave up after {attempt} attempts, {elapsed:.1f} s)"),
                attempt, request,
            )
        delay = backoff(opts, attempt, err.retry_after)
        delay = min(delay, max(0.0, opts.retry_time_budget - elapsed))
        await asyncio.sleep(delay)


def backoff(opts: EngineOptions, attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        # The server said when; a little jitter keeps parallel workers from returning together.
        return retry_after + random.uniform(0, opts.backoff_base)
    return random.uniform(0, min(opts.backoff_max, opts.backoff_base * (2 ** (attempt - 1))))


def classify(e: Exception, lane: ModelLane, suite: str, case_id: str) -> TransientCallError | PermanentCallError:
    """What an exception from the SDK or the transport means for this request. Raises RunAborted
    for what no request of the run can get past."""
    import openai

    where = f"model {lane.model.name} on provider {lane.provider.name}"
    cause = _chain_find(e, lambda x: isinstance(x, RunAborted))
    if cause is not None:
        raise cause
    if _chain_find(e, lambda x: type(x).__name__ == "CannotOverwriteExistingCassetteException") is not None:
        raise RunAborted(
            f"no recorded response for suite {suite!r}, case {case_id!r}, model {lane.model.name!r} "
            "in the cassettes; record it with --cassettes record (or auto)."
        )
    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        code, message = error_code(e.body, e.message)
        label = f"{status} {code}" if code else str(status)
        if status in (401, 403, 404):
            raise RunAborted(lane.redact(
                f"{label} from {where}: {message}; check the key in "
                f"{lane.provider.api_key_env or 'the key variable'} and that the model is open for it."
            ))
        if status == 429 and code in _FATAL_429:
            raise RunAborted(lane.redact(f"{label} from {where}: {message}; the quota will not come back by waiting."))
        return status_error(status, code, message, e.response.headers)
    if isinstance(e, openai.APITimeoutError):
        return TransientCallError("Timeout", "request timed out")
    if isinstance(e, openai.APIConnectionError):
        cause = e.__cause__ or e.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause else ""
        return TransientCallError("ConnectionError", f"connection failed{detail}")
    name = type(e).__name__
    module = type(e).__module__ or ""
    if module.startswith(("httpx", "httpcore", "h11", "anyio")) or isinstance(e, (ConnectionError, OSError)):
        return TransientCallError(name, str(e) or "transport error")
    if isinstance(e, (json.JSONDecodeError, UnicodeDecodeError)):
        return TransientCallError("MalformedResponse", f"the response body is not valid JSON ({e})")
    return PermanentCallError(name, str(e))


def _chain_find(e: BaseException | None, match: Callable[[BaseException], bool]) -> BaseException | None:
    """The first exception in `e`'s cause/context chain that matches: the SDK wraps what the
    transport (or a cassette) raised."""
    seen = set()
    while e is not None and id(e) not in seen:
        if match(e):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None
