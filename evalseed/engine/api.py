"""`JobApi`: the calls one job may make (chat, images), each through the retry loop, the budget,
the rate limits and the redactor, measured (latency, time to first token, output tokens/s,
usage, cost) into a `CallResult`; and the downloads of what an answer links to."""

from __future__ import annotations

import inspect
import json
import time
from typing import Any, AsyncIterable, Awaitable, Callable, Mapping

from ..config import ModelInfo, Provider
from ..core import CallResult, max_output_tokens
from ..costs import chat_cost, image_cost
from ..errors import PermanentCallError, TransientCallError
from .budget import asked_images, billable_output_tokens, worst_case
from .download import fetch
from .failures import FILTER_FINISH_REASON
from .lane import ModelLane

__all__ = ["JobApi", "asked_images", "finish_reason", "read_capped", "row_finish_reason"]
from .retry import with_retries
from .sse import read_stream
from .usage import check_chat_usage, check_image_count

# What one image in a response may take: the largest file the image kind keeps (64 MB), as
# base64 (4/3 larger).
IMAGE_BODY_BYTES = 64 * 1024 * 1024 * 4 // 3

# The SDK methods' own keyword arguments, read once from their signatures: everything else in a
# body (Seed's `thinking`...) has to travel in extra_body.
_SDK_PARAMS: dict[str, set[str]] = {}


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

    async def chat(self, body: dict, model: ModelInfo | None = None) -> CallResult:
        """One chat call; `model` (default the lane's) is what it is priced, bounded and checked
        as: a generation judge asks another model through this job's lane."""
        lane = self.lane
        m = model or lane.model
        body = dict(body)
        body.setdefault("model", m.api_name)
        stream = bool(body.pop("stream", lane.opts.stream))
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        worst = worst_case(body, m)
        max_out = max_output_tokens(body, m)
        once = self._chat_stream if stream else self._chat_plain
        return await self._call(body, lambda b: once(b, m), worst.cost_usd, worst.prompt_tokens + max_out)

    async def images(self, body: dict) -> CallResult:
        lane = self.lane
        body = dict(body)
        body.setdefault("model", lane.model.api_name)
        return await self._call(body, self._images_once, worst_case(body, lane.model).cost_usd, 0)

    async def download(self, url: str, max_bytes: int) -> bytes:
        """The body at `url` (a link in an answer: a generated image), at most `max_bytes` long.
        Retried like the API's calls, each attempt within --timeout; a failure is CallFailed with
        a redacted message. Not counted against --rpm/--tpm (the link points at a file store,
        not at the model) nor against the budget (the image is paid for already)."""
        lane = self.lane
        # The provider header files the download with its suite's recordings in a cassette:
        # unlike an API call it has no body naming the model.
        headers = {**self._headers(), "x-evalseed-provider": _ascii(lane.provider.name)}
        client = lane.downloads.client()
        data, _ = await with_retries(
            lane, lambda: fetch(client, url, headers=headers, max_bytes=max_bytes, timeout=lane.opts.timeout),
            suite=self.suite, case_id=self.case_id, rate_limited=False, to_model=False)
        return data

    # -- one request -------------------------------------------------------------------------

    async def _call(self, body: dict, once: Callable[[dict], Awaitable[CallResult]],
                    worst_cost: float, est_tokens: int) -> CallResult:
        """`once(body)` with retries, its worst case reserved from the budget while in flight."""
        lane = self.lane
        reservation = await lane.budget.acquire(worst_cost)
        actual: float | None = None
        try:
            call, attempts = await with_retries(lane, lambda: once(body), suite=self.suite, case_id=self.case_id,
                                                request=body, est_tokens=est_tokens)
            call.attempts = attempts
            actual = call.cost_usd
            return call
        finally:
            lane.budget.settle(reservation, actual)

    def _headers(self) -> dict[str, str]:
        # Used by the cassette layer to shard recordings and to name a missing case; harmless upstream.
        return {"x-evalseed-suite": _ascii(self.suite), "x-evalseed-case": _ascii(self.case_id)}

    def _sdk_args(self, method: str, fn: Callable, body: dict) -> tuple[dict, dict]:
        """The SDK method's own keyword arguments from `body`, and the rest for extra_body."""
        known = _SDK_PARAMS.get(method)
        if known is None:
            known = _SDK_PARAMS[method] = {
                name for name in inspect.signature(fn).parameters
                if name not in ("self", "extra_headers", "extra_query", "extra_body", "timeout")
            }
        kwargs: dict = {}
        extra: dict = {}
        for k, v in body.items():
            (kwargs if k in known else extra)[k] = v
        return kwargs, extra

    async def _chat_stream(self, body: dict, model: ModelInfo | None = None) -> CallResult:
        lane = self.lane
        completions = lane.client.chat.completions
        kwargs, extra = self._sdk_args("chat", completions.create, body)
        t0 = time.perf_counter()
        async with completions.with_streaming_response.create(
            **kwargs, extra_body=extra or None, extra_headers=self._headers()
        ) as resp:
            headers = resp.headers
            acc = await read_stream(resp.iter_bytes(), lane.opts.max_answer_bytes)
        t_end = time.perf_counter()
        call = self._finish(body, lane.redact.body(acc.response()), t0, t_end, acc.t_first, acc.t_first_answer, model)
        if acc.cut:
            call.flags["answer_cut"] = {"kept_bytes": acc.kept, "dropped_bytes": acc.dropped,
                                        "oversized_lines": acc.oversized_lines, "limit": lane.opts.max_answer_bytes}
        return self._observed(call, headers)

    async def _chat_plain(self, body: dict, model: ModelInfo | None = None) -> CallResult:
        completions = self.lane.client.chat.completions
        response, headers, t0, t_end = await self._plain("chat", completions.create,
                                                         completions.with_streaming_response.create, body,
                                                         self.lane.opts.max_answer_bytes)
        if not isinstance(response, dict) or not isinstance(response.get("choices"), list) or not response["choices"]:
            raise TransientCallError("EmptyChoices", "the response has no choices")
        return self._observed(self._finish(body, response, t0, t_end, None, None, model), headers)

    async def _images_once(self, body: dict) -> CallResult:
        lane = self.lane
        images = lane.client.images
        asked = asked_images(body)
        response, headers, t0, t_end = await self._plain("images", images.generate,
                                                         images.with_streaming_response.generate, body,
                                                         lane.opts.max_answer_bytes + asked * IMAGE_BODY_BYTES)
        if not isinstance(response, dict) or not isinstance(response.get("data"), list):
            raise TransientCallError("EmptyData", "the image response has no data list")
        flags: dict[str, Any] = {}
        data = response["data"]
        if len(data) > asked:
            # Nothing past what was asked for is downloaded, saved or paid for.
            flags["extra_images"] = {"asked": asked, "returned": len(data), "dropped": len(data) - asked}
            response = {**response, "data": data[:asked]}
        usage: dict = response["usage"] if isinstance(response.get("usage"), dict) else {}
        ok_images = sum(1 for d in response["data"] if isinstance(d, dict) and not d.get("error"))
        count, problems = check_image_count(usage.get("generated_images"), asked, ok_images)
        output_tokens = _int(usage.get("output_tokens"))
        if output_tokens is not None and output_tokens < 0:
            problems.append(f"output_tokens {output_tokens:,} is negative")
            output_tokens = 0
        if problems:
            flags["untrusted_usage"] = {"problems": problems,
                                        "reported": {"generated_images": usage.get("generated_images")}}
            self._distrust(problems)
        call = CallResult(
            request=body,
            response=response,
            latency_ms=(t_end - t0) * 1000.0,
            completion_tokens=output_tokens,
            images=count,
            cost_usd=image_cost(lane.model, count),
            flags=flags,
        )
        return self._observed(call, headers)

    async def _plain(self, method: str, fn: Callable, stream_fn: Callable, body: dict,
                     max_bytes: int) -> tuple[Any, Mapping[str, str], float, float]:
        """One non-streamed request: its body read up to `max_bytes` (a longer one is refused
        unread, see read_capped), parsed, and only then redacted, string by string: a key the
        server spells with JSON escapes is only the key once decoded. Its headers, and when it
        was sent and finished."""
        kwargs, extra = self._sdk_args(method, fn, body)
        t0 = time.perf_counter()
        async with stream_fn(**kwargs, extra_body=extra or None, extra_headers=self._headers()) as resp:
            headers = resp.headers
            data = await read_capped(resp.iter_bytes(), max_bytes, headers.get("content-length"))
        t_end = time.perf_counter()
        return self.lane.redact.body(self._json_body(data)), headers, t0, t_end

    def _json_body(self, data: bytes) -> Any:
        text = data.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            text = self.lane.redact(text)
            raise TransientCallError("MalformedResponse", f"the response body is not valid JSON: {text[:120]!r}") from None

    def _distrust(self, problems: list[str]) -> None:
        """Stop the run after this answer is stored: its usage cannot be true."""
        lane = self.lane
        if lane.halt is None:
            where = lane.provider.base_url or lane.provider.name
            lane.halt = lane.redact(
                f"{where} reported usage no request can have for model {lane.model.name} ({problems[0]}), so the "
                "run stopped rather than count spend from figures it cannot trust; the answer is stored with its "
                "usage clamped and what was reported in details.flags; check the server, then finish with --resume.")

    def _observed(self, call: CallResult, headers: Mapping[str, str]) -> CallResult:
        # The cassette layer stores the measured figures with a recording, or puts the recorded
        # ones back on a replayed call.
        observer = self.lane.observer
        if observer is None:
            return call
        measured = call.ttft_answer_ms
        call = observer.after_call(call, headers)
        if call.replayed and call.ttft_answer_ms is measured:
            # The cassette put back the recorded timings but not this one: what was measured just
            # now is the replay's. Without a chain of thought the first token is the answer's.
            reasoned = bool(call.message.get("reasoning_content"))
            call.ttft_answer_ms = None if reasoned else call.ttft_ms
        return call

    def _finish(self, body: dict, response: dict, t0: float, t_end: float, t_first: float | None,
                t_first_answer: float | None, model: ModelInfo | None = None) -> CallResult:
        model = model or self.lane.model
        usage = check_chat_usage(response.get("usage"), model, billable_output_tokens(body, model))
        prompt, completion, cached, reasoning = usage.prompt, usage.completion, usage.cached, usage.reasoning
        flags: dict[str, Any] = {}
        if usage.problems:
            flags["untrusted_usage"] = {"problems": usage.problems, "reported": usage.reported}
            self._distrust(usage.problems)
        ttft = (t_first - t0) * 1000.0 if t_first is not None else None
        ttft_answer = (t_first_answer - t0) * 1000.0 if t_first_answer is not None else None
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
            cost_usd=chat_cost(model, prompt, completion, cached),
            flags=flags,
            finish_reason=finish_reason(response),
            ttft_answer_ms=ttft_answer,
        )


def finish_reason(response: Any) -> str | None:
    """`choices[0].finish_reason` of a chat body (the choice that is scored), as text the server
    chose: kept short, never anything but a string."""
    choices = response.get("choices") if isinstance(response, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    reason = first.get("finish_reason") if isinstance(first, dict) else None
    return reason[:64] if isinstance(reason, str) and reason else None


def row_finish_reason(calls: list[CallResult]) -> str | None:
    """A row's `finish_reason` from its calls: `content_filter` when any call was filtered (a tool
    loop ends there), else the last call's (the one that ended the case)."""
    reasons = [c.finish_reason for c in calls]
    return FILTER_FINISH_REASON if FILTER_FINISH_REASON in reasons else (reasons[-1] if reasons else None)


async def read_capped(chunks: AsyncIterable[bytes], max_bytes: int, content_length: str | None) -> bytes:
    """A whole body of at most `max_bytes`. A longer one (by its Content-Length, or once that
    many bytes have come) is refused without reading on: one answer must not take the memory of
    the run. Not retried: the same request would bring the same answer."""
    if content_length and content_length.isdigit() and int(content_length) > max_bytes:
        raise PermanentCallError("AnswerTooLarge", f"the answer is {int(content_length):,} bytes, over the "
                                 f"{max_bytes:,} kept per answer (--max-answer-bytes): not kept")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise PermanentCallError("AnswerTooLarge", f"the answer was cut at {max_bytes:,} bytes, the most kept "
                                     "per answer (--max-answer-bytes): not kept")
        parts.append(chunk)
    return b"".join(parts)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _ascii(text: str) -> str:
    # HTTP header values must be ASCII; suite and case ids are free text.
    return text.encode("ascii", "backslashreplace").decode("ascii")[:200]
