"""Async execution: per-model workers, rate limits, retries, timers, budget.

The engine schedules opaque jobs (`Job.run(api)`) and gives each an `Api` whose `chat` and
`images` calls go through the real `openai.AsyncOpenAI` client with our own retry loop (the SDK's
is switched off so that attempts are counted and Seed's error codes decide what is retried).
It knows nothing of task kinds.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Awaitable, Callable, Iterable, Iterator, Mapping, Protocol

from .config import ModelInfo, Provider
from .costs import chat_cost, image_cost, rough_tokens, worst_case_cost
from .core import CallResult, max_output_tokens
from .errors import BudgetExhausted, CallFailed, RunAborted
from .limits import RateLimiter


@dataclass
class EngineOptions:
    concurrency: int = 8
    timeout: float = 300.0  # seconds per attempt, whole response included
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_time_budget: float = 600.0  # seconds one request may spend retrying in all
    stream: bool = True
    rpm: int | None = None
    tpm: int | None = None


# ---- failures ---------------------------------------------------------------------------------


class _Transient(Exception):
    def __init__(self, error_class: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.retry_after = retry_after


class _Permanent(Exception):
    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class
        self.message = message


# SEED_API.md: `max_tokens` leaves the chain of thought out, and it is billed as output;
# `max_completion_tokens` (at most 65,536) caps both together.
MAX_COMPLETION_TOKENS = 65_536


def billable_output_tokens(body: dict, model: ModelInfo) -> int:
    """The most output tokens a chat request can be billed for: what the budget must reserve.
    With thinking on and only `max_tokens` set, the reasoning can run to the completion limit."""
    total = body.get("max_completion_tokens")
    if isinstance(total, int) and total > 0:
        return total
    answer = max_output_tokens(body, model)
    thinking = body.get("thinking")
    off = (isinstance(thinking, dict) and thinking.get("type") == "disabled") or body.get("reasoning_effort") == "minimal"
    if model.thinking and not off:
        return max(answer, MAX_COMPLETION_TOKENS)
    return answer


# A server that cannot be reached for this many requests in a row, each after all its retries,
# is down: stop the run (exit 3, resumable) instead of writing an error row for every case.
DOWN_STREAK = 8
_UNREACHABLE = {"ConnectionError", "Timeout"}

# 429 codes that no wait will fix.
_FATAL_429 = {"QuotaExceeded", "AccountOverdueError"}


class Redactor:
    """Removes known secrets from any text we store or print (error messages echo requests)."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        return text


# ---- budget -----------------------------------------------------------------------------------


class Budget:
    """Counts spend plus the worst case of every request in flight, so the limit holds even when
    all in-flight requests come back at max_tokens."""

    def __init__(self, limit_usd: float | None, spent: float = 0.0):
        self.limit = limit_usd
        self.spent = spent
        self.reserved = 0.0

    def reserve(self, amount: float) -> float:
        if self.limit is not None and self.spent + self.reserved + amount > self.limit + 1e-12:
            raise BudgetExhausted(
                f"the next request (up to ${amount:.4f}) would take spend past --budget-usd {self.limit}"
            )
        self.reserved += amount
        return amount

    def settle(self, reservation: float, actual: float | None) -> None:
        self.reserved -= reservation
        # An unknown cost is charged at its worst case: the limit must hold.
        self.spent += reservation if actual is None else actual


# ---- the per-job API ------------------------------------------------------------------------


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
    # Requests in a row that spent every retry without reaching the server (see DOWN_STREAK).
    down_streak: int = 0
    # For a server evalseed runs itself: None while it lives, else why it died. Checked on every
    # transient error, so a dead server ends the run at once instead of after every retry.
    server_failure: Callable[[], str | None] | None = None

    async def dead_server(self, wait_s: float = 1.0) -> str | None:
        if self.server_failure is None:
            return None
        # A dying process closes its sockets a moment before it can be reaped: give it that moment.
        deadline = time.monotonic() + wait_s
        while (why := self.server_failure()) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return why


_SDK_CHAT_PARAMS: set[str] | None = None
_SDK_IMAGE_PARAMS: set[str] | None = None


def _sdk_params(fn) -> set[str]:
    import inspect

    return {
        name for name in inspect.signature(fn).parameters
        if name not in ("self", "extra_headers", "extra_query", "extra_body", "timeout")
    }


def _split_body(body: dict, known: set[str]) -> tuple[dict, dict]:
    """Keys the SDK knows go as arguments; the rest (Seed's `thinking`...) through extra_body."""
    kwargs, extra = {}, {}
    for k, v in body.items():
        (kwargs if k in known else extra)[k] = v
    return kwargs, extra


class JobApi:
    """The `Api` one job sees: calls for one (suite, case) on one model."""

    __slots__ = ("lane", "suite", "case_id")

    def __init__(self, lane: ModelLane, suite: str, case_id: str):
        self.lane = lane
        self.suite = suite
        self.case_id = case_id

    @property
    def provider(self) -> Provider:
        """Where the calls go: kinds adapt request shapes to it (ModelArk images take no `n`)."""
        return self.lane.provider

    # -- public ------------------------------------------------------------------------------

    async def chat(self, body: dict) -> CallResult:
        lane = self.lane
        body = dict(body)
        body.setdefault("model", lane.model.name)
        stream = bool(body.pop("stream", lane.opts.stream))
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        est_prompt = _estimate_prompt_tokens(body)
        max_out = max_output_tokens(body, lane.model)
        return await self._with_retries(body, self._chat_stream if stream else self._chat_plain,
                                        worst_case_cost(lane.model, est_prompt, billable_output_tokens(body, lane.model)),
                                        est_prompt + max_out)

    async def images(self, body: dict) -> CallResult:
        lane = self.lane
        body = dict(body)
        body.setdefault("model", lane.model.name)
        n = body.get("n") or (body.get("sequential_image_generation_options") or {}).get("max_images") or 1
        return await self._with_retries(body, self._images_once, worst_case_cost(lane.model, 0, 0, images=n), 0)

    # -- retry loop --------------------------------------------------------------------------

    async def _with_retries(self, body: dict, once: Callable[[dict], Awaitable[CallResult]],
                            worst_cost: float, est_tokens: int) -> CallResult:
        lane, opts = self.lane, self.lane.opts
        reservation = lane.budget.reserve(worst_cost)
        actual: float | None = None
        started = time.monotonic()
        attempt = 0
        try:
            while True:
                attempt += 1
                if lane.limiter is not None:
                    await lane.limiter.acquire(est_tokens)
                try:
                    async with asyncio.timeout(opts.timeout):
                        call = await once(body)
                except TimeoutError:
                    err: _Transient | _Permanent = _Transient("Timeout", f"no complete response within {opts.timeout:g} s")
                except (_Transient, _Permanent) as e:
                    err = e
                except RunAborted:
                    raise
                except Exception as e:  # noqa: BLE001 - classified below, never lost
                    err = self._classify(e)
                else:
                    call.attempts = attempt
                    actual = call.cost_usd
                    lane.down_streak = 0
                    return call
                if isinstance(err, _Permanent):
                    raise CallFailed(err.error_class, lane.redact(err.message), attempt, body)
                if (why := await lane.dead_server()) is not None:
                    raise RunAborted(lane.redact(why))
                elapsed = time.monotonic() - started
                if attempt >= opts.max_attempts or elapsed >= opts.retry_time_budget:
                    if err.error_class in _UNREACHABLE:
                        lane.down_streak += 1
                        if lane.down_streak >= DOWN_STREAK:
                            raise RunAborted(lane.redact(
                                f"{lane.provider.base_url or lane.provider.name} did not answer {DOWN_STREAK} requests "
                                f"in a row for model {lane.model.name}, each after {attempt} attempts ({err.message}); "
                                "check the server, then finish with --resume."))
                    raise CallFailed(
                        err.error_class,
                        lane.redact(f"{err.message} (gave up after {attempt} attempts, {elapsed:.1f} s)"),
                        attempt, body,
                    )
                delay = self._backoff(attempt, err.retry_after)
                delay = min(delay, max(0.0, opts.retry_time_budget - elapsed))
                await asyncio.sleep(delay)
        finally:
            lane.budget.settle(reservation, actual)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        opts = self.lane.opts
        if retry_after is not None:
            # The server said when; a little jitter keeps parallel workers from returning together.
            return retry_after + random.uniform(0, opts.backoff_base)
        return random.uniform(0, min(opts.backoff_max, opts.backoff_base * (2 ** (attempt - 1))))

    def _classify(self, e: Exception) -> "_Transient | _Permanent":
        import openai

        lane = self.lane
        where = f"model {lane.model.name} on provider {lane.provider.name}"
        cause = _chain_find(e, RunAborted)
        if cause is not None:
            raise cause
        vcr_miss = _chain_find_name(e, "CannotOverwriteExistingCassetteException")
        if vcr_miss is not None:
            raise RunAborted(
                f"no recorded response for suite {self.suite!r}, case {self.case_id!r}, model {lane.model.name!r} "
                "in the cassettes; record it with --cassettes record (or auto)."
            )
        if isinstance(e, openai.APIStatusError):
            status = e.status_code
            code, message = _error_code(e.body, e.message)
            label = f"{status} {code}" if code else str(status)
            if status in (401, 403, 404):
                raise RunAborted(lane.redact(
                    f"{label} from {where}: {message}; check the key in "
                    f"{lane.provider.api_key_env or 'the key variable'} and that the model is open for it."
                ))
            if status == 429:
                if code in _FATAL_429:
                    raise RunAborted(lane.redact(f"{label} from {where}: {message}; the quota will not come back by waiting."))
                return _Transient(f"HTTP{status}" + (f" {code}" if code else ""), message, _retry_after(e.response.headers))
            if status in (408, 409, 425) or status >= 500:
                return _Transient(f"HTTP{status}" + (f" {code}" if code else ""), message, _retry_after(e.response.headers))
            return _Permanent(f"HTTP{status}" + (f" {code}" if code else ""), message)
        if isinstance(e, openai.APITimeoutError):
            return _Transient("Timeout", "request timed out")
        if isinstance(e, openai.APIConnectionError):
            cause = e.__cause__ or e.__context__
            detail = f" ({type(cause).__name__}: {cause})" if cause else ""
            return _Transient("ConnectionError", f"connection failed{detail}")
        name = type(e).__name__
        module = type(e).__module__ or ""
        if module.startswith(("httpx", "httpcore", "h11", "anyio")) or isinstance(e, (ConnectionError, OSError)):
            return _Transient(name, str(e) or "transport error")
        if isinstance(e, (json.JSONDecodeError, UnicodeDecodeError)):
            return _Transient("MalformedResponse", f"the response body is not valid JSON ({e})")
        return _Permanent(name, str(e))

    # -- one attempt -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        # Used by the cassette layer to shard recordings and to name a missing case; harmless upstream.
        return {"x-evalseed-suite": _ascii(self.suite), "x-evalseed-case": _ascii(self.case_id)}

    def _chat_args(self, body: dict) -> tuple[Any, dict, dict]:
        """The client, the SDK's own keyword arguments, and the rest for extra_body."""
        global _SDK_CHAT_PARAMS
        client = self.lane.client
        if _SDK_CHAT_PARAMS is None:
            _SDK_CHAT_PARAMS = _sdk_params(client.chat.completions.create)
        kwargs, extra = _split_body(body, _SDK_CHAT_PARAMS)
        return client, kwargs, extra

    async def _chat_stream(self, body: dict) -> CallResult:
        lane = self.lane
        client, kwargs, extra = self._chat_args(body)
        acc = _StreamAssembler()
        t0 = time.perf_counter()
        async with client.chat.completions.with_streaming_response.create(
            **kwargs, extra_body=extra or None, extra_headers=self._headers()
        ) as resp:
            headers = resp.headers
            async for line in resp.iter_lines():
                # Read on past [DONE] to the end of the body: leaving it unread makes httpx close
                # the connection, and every request then pays a new TCP connect.
                if acc.done or not line or line[0] == ":":
                    continue
                if line.startswith("data:"):
                    data = line[5:].strip()
                    if data == "[DONE]":
                        acc.done = True
                        continue
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        raise _Transient("MalformedResponse", f"a stream chunk is not valid JSON: {data[:120]!r}") from None
                    acc.add(chunk, time.perf_counter())
        t_end = time.perf_counter()
        if not acc.done:
            raise _Transient("TruncatedStream", "the stream ended before data: [DONE]")
        if acc.error is not None:
            code, message = _error_code(acc.error, "error inside the stream")
            raise _Transient("StreamError" + (f" {code}" if code else ""), message)
        if not acc.saw_choice:
            raise _Transient("EmptyChoices", "the response has no choices")
        response = acc.response()
        if lane.redact.secrets:
            # On the assembled answer: streamed in pieces, a key never sits whole in one chunk.
            text = json.dumps(response, ensure_ascii=False)
            scrubbed = lane.redact(text)
            if scrubbed is not text:
                response = json.loads(scrubbed)
        call = self._finish(body, response, t0, t_end, acc.t_first)
        return lane.observer.after_call(call, headers) if lane.observer else call

    async def _chat_plain(self, body: dict) -> CallResult:
        lane = self.lane
        client, kwargs, extra = self._chat_args(body)
        t0 = time.perf_counter()
        raw = await client.chat.completions.with_raw_response.create(
            **kwargs, extra_body=extra or None, extra_headers=self._headers()
        )
        text = lane.redact(raw.http_response.text)
        t_end = time.perf_counter()
        response = _json_body(text)
        if not isinstance(response, dict) or not isinstance(response.get("choices"), list) or not response["choices"]:
            raise _Transient("EmptyChoices", "the response has no choices")
        call = self._finish(body, response, t0, t_end, None)
        return lane.observer.after_call(call, raw.http_response.headers) if lane.observer else call

    async def _images_once(self, body: dict) -> CallResult:
        global _SDK_IMAGE_PARAMS
        lane = self.lane
        client = lane.client
        if _SDK_IMAGE_PARAMS is None:
            _SDK_IMAGE_PARAMS = _sdk_params(client.images.generate)
        kwargs, extra = _split_body(body, _SDK_IMAGE_PARAMS)
        t0 = time.perf_counter()
        raw = await client.images.with_raw_response.generate(
            **kwargs, extra_body=extra or None, extra_headers=self._headers()
        )
        text = lane.redact(raw.http_response.text)
        t_end = time.perf_counter()
        response = _json_body(text)
        if not isinstance(response, dict) or not isinstance(response.get("data"), list):
            raise _Transient("EmptyData", "the image response has no data list")
        usage = response.get("usage") or {}
        ok_images = sum(1 for d in response["data"] if isinstance(d, dict) and not d.get("error"))
        images = usage.get("generated_images") if isinstance(usage.get("generated_images"), int) else ok_images
        call = CallResult(
            request=body,
            response=response,
            latency_ms=(t_end - t0) * 1000.0,
            completion_tokens=_int(usage.get("output_tokens")),
            images=images,
            cost_usd=image_cost(lane.model, images),
        )
        return lane.observer.after_call(call, raw.http_response.headers) if lane.observer else call

    def _finish(self, body: dict, response: dict, t0: float, t_end: float, t_first: float | None) -> CallResult:
        usage = response.get("usage") or {}
        prompt = _int(usage.get("prompt_tokens"))
        completion = _int(usage.get("completion_tokens"))
        cached = _int((usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
        reasoning = _int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
        ttft = (t_first - t0) * 1000.0 if t_first is not None else None
        tps = None
        if t_first is not None and completion and t_end > t_first:
            tps = completion / (t_end - t_first)
        return CallResult(
            request=body,
            response=response,
            latency_ms=(t_end - t0) * 1000.0,
            ttft_ms=ttft,
            output_tps=tps,
            prompt_tokens=prompt,
            completion_tokens=completion,
            reasoning_tokens=reasoning,
            cached_tokens=cached,
            cost_usd=chat_cost(self.lane.model, prompt, completion, cached),
        )


class _StreamAssembler:
    """Folds chat.completion.chunk objects into one chat.completion body."""

    __slots__ = ("content", "reasoning", "tool_calls", "finish_reason", "usage", "meta", "t_first",
                 "done", "error", "saw_choice", "role")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: dict[int, dict] = {}
        self.finish_reason = None
        self.usage = None
        self.meta: dict = {}
        self.t_first: float | None = None
        self.done = False
        self.error = None
        self.saw_choice = False
        self.role = "assistant"

    def add(self, chunk: Any, now: float) -> None:
        if not isinstance(chunk, dict):
            raise _Transient("MalformedResponse", "a stream chunk is not a JSON object")
        if "error" in chunk and chunk["error"]:
            self.error = chunk
            return
        if not self.meta:
            self.meta = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint") if k in chunk}
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            self.saw_choice = True
            delta = choice.get("delta") or {}
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            c = delta.get("content")
            r = delta.get("reasoning_content")
            tcs = delta.get("tool_calls")
            if self.t_first is None and (c or r or tcs):
                self.t_first = now
            if c:
                self.content.append(c)
            if r:
                self.reasoning.append(r)
            if tcs:
                for tc in tcs:
                    idx = tc.get("index", len(self.tool_calls))
                    slot = self.tool_calls.setdefault(
                        idx, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                    )
                    if tc.get("id"):
                        slot["id"] = tc["id"]
                    fn = tc.get("function") or {}
                    if fn.get("name"):
                        slot["function"]["name"] += fn["name"]
                    if fn.get("arguments"):
                        slot["function"]["arguments"] += fn["arguments"]

    def response(self) -> dict:
        message: dict[str, Any] = {"role": self.role, "content": "".join(self.content) if self.content else None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        out = {**self.meta, "object": "chat.completion",
               "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}]}
        if self.usage is not None:
            out["usage"] = self.usage
        return out


# ---- scheduling -------------------------------------------------------------------------------


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

        tasks = []
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


# ---- helpers ----------------------------------------------------------------------------------


def _json_body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise _Transient("MalformedResponse", f"the response body is not valid JSON: {text[:120]!r}") from None


def _chain_find(e: BaseException, cls: type) -> BaseException | None:
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, cls):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _chain_find_name(e: BaseException, name: str) -> BaseException | None:
    seen = set()
    while e is not None and id(e) not in seen:
        if type(e).__name__ == name:
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _error_code(body: Any, fallback: str) -> tuple[str | None, str]:
    """(code, message) from a Seed/OpenAI error body, which may be the whole body or its `error`."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            code = inner.get("code") or inner.get("type")
            message = inner.get("message") or fallback
            return (str(code) if code else None), str(message)
        if isinstance(inner, str):
            return None, inner
    return None, fallback


def _retry_after(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")[:200]


def _estimate_prompt_tokens(body: dict) -> int:
    total = 0
    for m in body.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            total += rough_tokens(content) + 4
        elif isinstance(content, list):
            total += sum(rough_tokens(p.get("text", "")) for p in content if isinstance(p, dict)) + 4
    if body.get("tools"):
        total += rough_tokens(json.dumps(body["tools"]))
    return total
