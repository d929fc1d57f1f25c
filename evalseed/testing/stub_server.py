"""An OpenAI-compatible HTTP/1.1 server on 127.0.0.1 that speaks SEED_API.md's wire format and
injects faults on demand, for tests and benchmarks.

Built on asyncio streams rather than a web framework so that every byte on the wire is under the
test's control (a connection cut mid-body, an SSE stream that stops before ``[DONE]``, a stall)
and so that it keeps up with a client doing thousands of requests per second over keep-alive
connections, which is how the openai SDK talks.

What it answers is decided by a *responder*: ``responder(body) -> Reply`` (or
``responder(body, ctx) -> Reply`` to see the attempt number). On top of it, ``fault_rate`` with a
``seed`` injects faults deterministically per distinct request, failing transient ones for the
first attempts and then letting the request through, so "the server recovers" is testable.

In a test::

    with StubServer(answers={"battery": "negative"}) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="x")
        ...
        assert srv.count("/v1/chat/completions") == 1

As a process (benchmarks; the server then does not share the client's GIL)::

    python -m evalseed.testing.stub_server --port 0 --delay-ms 5 --fault-rate 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextvars
import functools
import hashlib
import inspect
import io
import itertools
import json
import random
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

# ---- what a responder returns -----------------------------------------------------------------

#: Faults that fail only the first attempts of a request (the server "recovers").
TRANSIENT_FAULTS = (
    "429", "429-retry-after", "500", "502", "503",
    "disconnect", "cut-body", "truncate-stream", "no-done", "malformed-json", "stall", "empty-choices",
)
#: Faults that fail every attempt: the request (or the account) is wrong, retrying cannot help.
PERMANENT_FAULTS = ("400", "401", "403", "404", "quota", "bad-tool-args", "sensitive")
ALL_FAULTS = TRANSIENT_FAULTS + PERMANENT_FAULTS

#: HTTP status, Seed error code, error type and message for each HTTP-level fault.
_HTTP_FAULTS: Dict[str, Tuple[int, str, str, str]] = {
    "400": (400, "InvalidParameter", "BadRequest", "The parameter `messages` specified in the request is not valid."),
    "sensitive": (400, "InputTextSensitiveContentDetected", "BadRequest",
                  "The request failed because the input text may contain sensitive information."),
    "401": (401, "AuthenticationError", "Unauthorized", "The API key in the request is missing or invalid."),
    "403": (403, "AccessDenied", "Forbidden", "You do not have access to the requested resource."),
    "404": (404, "ModelNotOpen", "NotFound", "Your account has not activated the model service."),
    "quota": (429, "QuotaExceeded", "TooManyRequests", "Your account has used up its quota."),
    "429": (429, "RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests", "Request rate limit exceeded."),
    "429-retry-after": (429, "RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests", "Request rate limit exceeded."),
    "500": (500, "InternalServiceError", "InternalServerError", "The service encountered an unexpected internal error."),
    "502": (502, "BadGateway", "BadGateway", "The upstream service returned an invalid response."),
    "503": (503, "ServerOverloaded", "ServiceUnavailable", "The service is temporarily overloaded."),
}
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class ToolCall:
    """One tool call of an assistant message. ``arguments`` may be a dict (sent as JSON) or a raw
    string (sent as is, so a test can send arguments that are not JSON)."""

    name: str
    arguments: Union[Mapping[str, Any], str] = field(default_factory=dict)
    id: Optional[str] = None

    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass
class Reply:
    """What the server answers to one request.

    Chat: ``content``, ``reasoning_content``, ``tool_calls``, ``finish_reason`` (default ``stop``
    or ``tool_calls``). ``usage`` entries override the computed usage (e.g. ``{"prompt_tokens":
    10**6}``); ``usage_details`` False leaves out ``*_tokens_details``; ``None`` means the server's
    default. Images: ``n_images`` (default from the request), ``image_errors`` {index: (code,
    message)} for per-image failures, ``image_size`` "WxH" to return another size than asked,
    ``image_format`` jpeg or png. ``delay`` seconds before answering (before the first chunk when
    streamed), ``chunk_delay`` between chunks. ``fault`` one of ``ALL_FAULTS`` (or None), with
    ``retry_after`` for ``429-retry-after`` and ``error_code`` / ``error_message`` to override
    the error body of an HTTP fault. ``raw_body`` (any JSON value) is sent verbatim as a 200
    answer instead of a well-formed one; ``raw_chunks`` (JSON values) are sent as the ``data:``
    events of a streamed answer, then ``[DONE]``: for fuzzing what a client does with any shape.

    Hostile answers: ``spelling`` writes every JSON string of the answer (error bodies and
    stream events included) in another legal spelling: ``"unicode"`` escapes every character as
    ``\\uXXXX``, ``"solidus"`` writes ``/`` as ``\\/``; what the body decodes to is unchanged.
    ``error_extra`` adds fields to an HTTP fault's error object (``{"param": ...}``).
    ``image_bytes`` is served as every image instead of a generated picture (a decompression
    bomb); ``image_urls`` are sent as the images' links instead of the server's own (links to
    anywhere, for a client's download guard). ``chunk_chars`` overrides the server's characters
    per streamed chunk for this answer (one huge line). ``headers`` are added to a chat answer's
    response headers. A request's ``n`` (chat) gives that many choices,
    each the reply, with usage counted for all of them.
    """

    content: Optional[str] = "ok"
    reasoning_content: Optional[str] = None
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: Optional[str] = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    usage_details: Optional[bool] = None
    n_images: Optional[int] = None
    image_errors: Mapping[int, Tuple[str, str]] = field(default_factory=dict)
    image_size: Optional[str] = None
    image_format: str = "jpeg"
    delay: float = 0.0
    chunk_delay: float = 0.0
    fault: Optional[str] = None
    retry_after: str = "1"
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    raw_body: Any = None
    raw_chunks: Optional[Sequence[Any]] = None
    spelling: Optional[str] = None
    error_extra: Mapping[str, Any] = field(default_factory=dict)
    image_bytes: Optional[bytes] = None
    image_urls: Optional[Sequence[str]] = None
    chunk_chars: Optional[int] = None
    headers: Mapping[str, str] = field(default_factory=dict)


SPELLINGS = ("unicode", "solidus")
# The spelling of the answer being written, per connection task (see Reply.spelling).
_SPELLING: "contextvars.ContextVar[Optional[str]]" = contextvars.ContextVar("stub_spelling", default=None)


@dataclass
class RequestContext:
    """What a two-argument responder learns besides the body."""

    path: str
    headers: Dict[str, str]
    key: str
    attempt: int  # 1-based count of requests with this key, this one included


@dataclass
class Recorded:
    """One request as received. ``body`` is the parsed JSON (None if absent or not JSON)."""

    method: str
    path: str
    headers: Dict[str, str]
    body: Optional[dict]
    raw_body: bytes
    key: Optional[str]
    fault: Optional[str]
    at: float


Responder = Callable[..., Reply]


def request_key(body: Optional[Mapping[str, Any]]) -> str:
    """A stable key for "the same request": model plus messages (chat) or prompt (images).

    Stream flags, timeouts and the like are left out so a retry of one case maps to one key.
    """
    if not isinstance(body, Mapping):
        return "none"
    ident = {"model": body.get("model"), "messages": body.get("messages"), "prompt": body.get("prompt")}
    text = json.dumps(ident, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def last_message_text(body: Mapping[str, Any]) -> str:
    """Text of the last message (user or tool), or the image prompt."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], Mapping):
        return _message_text(messages[-1])
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def answers_responder(answers: Optional[Mapping[str, Union[str, Reply]]] = None, *,
                      default: str = "ok", reasoning: Optional[str] = None) -> Responder:
    """A deterministic responder: the first key of ``answers`` found (case-insensitively) in the
    last message gives the answer (a string, or a full ``Reply``); else ``default``. After a tool
    result with no matching key, answers ``default`` so tool loops end."""
    table = [(k.lower(), v) for k, v in (answers or {}).items()]

    def respond(body: dict) -> Reply:
        text = last_message_text(body).lower()
        for needle, answer in table:
            if needle in text:
                if isinstance(answer, Reply):
                    return answer
                return Reply(content=answer, reasoning_content=reasoning)
        return Reply(content=default, reasoning_content=reasoning)

    return respond


def transient(fault: str, k: int, inner: Optional[Responder] = None) -> Responder:
    """Fail the first ``k`` attempts of each distinct request with ``fault``, then answer as
    ``inner`` (default: ``answers_responder()``)."""
    inner = inner or answers_responder()
    two_args = _arity(inner) >= 2

    def respond(body: dict, ctx: RequestContext) -> Reply:
        if ctx.attempt <= k:
            return Reply(fault=fault)
        return inner(body, ctx) if two_args else inner(body)

    return respond


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 2
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


# ---- usage and payloads -------------------------------------------------------------------------


def _tokens(text: Optional[str]) -> int:
    # About four characters a token: close enough for cost and throughput arithmetic in tests.
    return (len(text) + 3) // 4 if text else 0


def _choices(body: Mapping[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and 1 < n <= 128 else 1


def _usage(body: Mapping[str, Any], reply: Reply, details: bool) -> Dict[str, Any]:
    messages: list = body["messages"] if isinstance(body.get("messages"), list) else []
    prompt = sum(_tokens(_message_text(m)) + 4 for m in messages if isinstance(m, Mapping))
    n = _choices(body)
    reasoning = _tokens(reply.reasoning_content) * n
    completion = (_tokens(reply.content) + sum(
        _tokens(tc.name) + _tokens(tc.arguments_text()) for tc in reply.tool_calls)) * n + reasoning
    usage: Dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if details:
        usage["prompt_tokens_details"] = {"cached_tokens": 0}
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    overrides = dict(reply.usage)
    for name, sub in (("cached_tokens", "prompt_tokens_details"), ("reasoning_tokens", "completion_tokens_details")):
        if name in overrides:
            usage.setdefault(sub, {})
            if isinstance(usage[sub], dict):
                usage[sub][name] = overrides.pop(name)
    usage.update(overrides)
    if "total_tokens" not in reply.usage:
        usage["total_tokens"] = (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
    return usage


def _tool_call_ids(reply: Reply, rid: str) -> List[str]:
    return [tc.id or f"call_{rid[-8:]}_{i}" for i, tc in enumerate(reply.tool_calls)]


def _chat_message(reply: Reply, rid: str) -> Dict[str, Any]:
    message: Dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.reasoning_content is not None:
        message["reasoning_content"] = reply.reasoning_content
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": tc.name, "arguments": tc.arguments_text()}}
            for cid, tc in zip(_tool_call_ids(reply, rid), reply.tool_calls)]
    return message


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _pieces(text: str, size: int) -> List[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _stream_events(body: Mapping[str, Any], reply: Reply, rid: str, created: int, chunk_chars: int,
                   details: bool) -> List[Dict[str, Any]]:
    """The chunks of a streamed answer, in OpenAI's order: role, reasoning, content, tool calls
    (id and name first, then the arguments in pieces), finish_reason, then usage if asked for."""
    model = body.get("model")
    base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}

    events: List[Dict[str, Any]] = []
    for choice in range(_choices(body)):
        def chunk(delta: Dict[str, Any], finish: Optional[str] = None) -> Dict[str, Any]:
            return {**base, "choices": [{"index": choice, "delta": delta, "finish_reason": finish}]}

        events.append(chunk({"role": "assistant", "content": ""}))
        if reply.reasoning_content:
            events += [chunk({"reasoning_content": p}) for p in _pieces(reply.reasoning_content, chunk_chars)]
        if reply.content:
            events += [chunk({"content": p}) for p in _pieces(reply.content, chunk_chars)]
        for index, (cid, tc) in enumerate(zip(_tool_call_ids(reply, rid), reply.tool_calls)):
            events.append(chunk({"tool_calls": [{"index": index, "id": cid, "type": "function",
                                                 "function": {"name": tc.name, "arguments": ""}}]}))
            for piece in _pieces(tc.arguments_text(), chunk_chars):
                events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        events.append(chunk({}, _finish(reply)))
    options = body.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage"):
        events.append({**base, "choices": [], "usage": _usage(body, reply, details)})
    return events


_PRESETS = {"1K": (1024, 1024), "2K": (2048, 2048), "4K": (4096, 4096)}
_COLOURS = [(200, 60, 60), (60, 160, 80), (60, 90, 200), (220, 170, 40), (150, 70, 170), (40, 170, 180)]


def parse_size(size: Any) -> Optional[Tuple[int, int]]:
    """``"WxH"`` or a preset (1K/2K/4K) to pixels; None when it is neither."""
    if size is None:
        return (2048, 2048)
    if not isinstance(size, str):
        return None
    if size.upper() in _PRESETS:
        return _PRESETS[size.upper()]
    parts = size.lower().replace("*", "x").split("x")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        w, h = int(parts[0]), int(parts[1])
        if 0 < w <= 8192 and 0 < h <= 8192:
            return (w, h)
    return None


@functools.lru_cache(maxsize=64)
def make_image(width: int, height: int, fmt: str = "jpeg", colour: int = 0) -> bytes:
    """A small-to-encode but non-blank picture: two coloured blocks and a diagonal band.

    Cached: a run asks for the same few sizes over and over, and encoding is the costly part."""
    from PIL import Image, ImageDraw  # lazy: only the images endpoint needs Pillow

    img = Image.new("RGB", (width, height), (245, 245, 240))
    draw = ImageDraw.Draw(img)
    c1, c2 = _COLOURS[colour % len(_COLOURS)], _COLOURS[(colour + 3) % len(_COLOURS)]
    draw.rectangle([0, 0, width // 2, height // 2], fill=c1)
    draw.rectangle([width // 2, height // 2, width - 1, height - 1], fill=c2)
    draw.line([0, height - 1, width - 1, 0], fill=(20, 20, 20), width=max(1, min(width, height) // 32))
    out = io.BytesIO()
    if fmt == "png":
        img.save(out, format="PNG", optimize=False, compress_level=1)
    else:
        img.save(out, format="JPEG", quality=60)
    return out.getvalue()


# ---- the server -------------------------------------------------------------------------------


class _Closed(Exception):
    """The client went away (or we cut the connection on purpose)."""


class StubServer:
    """The server. Use as a context manager (runs in a background thread with its own event
    loop) or call ``start()`` / ``stop()``.

    Options: ``responder`` (see module doc) or ``answers`` for the default responder;
    ``fault_rate`` (share of distinct requests that get a fault), ``seed``, ``faults`` (the mix
    to pick from, default every transient fault), ``transient_failures`` (attempts a transient
    fault fails: an int or a (lo, hi) range, default (1, 2)); ``delay_ms`` before every answer;
    ``stall_s`` how long a stall lasts at most (the client should give up first);
    ``usage_details`` whether usage carries ``*_tokens_details``; ``chunk_chars`` characters per
    streamed chunk; ``min_image_pixels`` to refuse small image sizes with 400 as Seedream 4.5
    does; ``record`` False keeps only counts (long benchmarks). ``max_in_flight``: a request
    arriving while more than that many are being answered gets a 429
    (``RateLimitExceeded.EndpointRPMExceeded``) with ``Retry-After: retry_after_s``, as a
    provider's concurrency limit does; ``in_flight``, ``peak_in_flight`` and ``throttled`` say
    what happened.
    """

    def __init__(self, responder: Optional[Responder] = None, *, answers: Optional[Mapping[str, Any]] = None,
                 port: int = 0, fault_rate: float = 0.0, seed: int = 0, faults: Sequence[str] = TRANSIENT_FAULTS,
                 transient_failures: Union[int, Tuple[int, int]] = (1, 2), delay_ms: float = 0.0,
                 stall_s: float = 600.0, usage_details: bool = True, chunk_chars: int = 8,
                 min_image_pixels: Optional[int] = None, record: bool = True,
                 max_in_flight: Optional[int] = None, retry_after_s: float = 1.0) -> None:
        unknown = [f for f in faults if f not in ALL_FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {', '.join(ALL_FAULTS)}")
        self.responder: Responder = responder or answers_responder(answers)
        self._two_args = _arity(self.responder) >= 2
        self.port = port
        self.fault_rate = fault_rate
        self.seed = seed
        self.faults = tuple(faults)
        self.transient_failures = transient_failures
        self.delay = delay_ms / 1000.0
        self.stall_s = stall_s
        self.usage_details = usage_details
        self.chunk_chars = max(1, chunk_chars)
        self.min_image_pixels = min_image_pixels
        self.record = record
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        #: API requests being answered now, the most at once, and how many got the concurrency 429.
        self.in_flight = 0
        self.peak_in_flight = 0
        self.throttled = 0

        self.requests: List[Recorded] = []
        self.counts: Counter = Counter()
        #: Per request key, what each attempt got: a fault name or "ok".
        self.history: Dict[str, List[str]] = defaultdict(list)
        self.files: Dict[str, Tuple[bytes, str]] = {}
        #: Per file name, faults for its next GETs in order (see ``fail_file``).
        self.file_faults: Dict[str, List[str]] = defaultdict(list)
        #: Per file name, where a GET of ``/files/<name>`` is redirected (``redirect_file``).
        self.redirects: Dict[str, str] = {}
        #: TCP connections accepted (keep-alive makes this much smaller than the request count).
        self.connections = 0
        self._attempts: Counter = Counter()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._thread: Optional[threading.Thread] = None
        self._conns: set = set()
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None

    # ---- public surface ----

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what an OpenAI client takes as ``base_url``."""
        return f"{self.root_url}/v1"

    def fail_file(self, name: str, *faults: str) -> None:
        """Answer the next GETs of ``/files/<name>`` (``"*"``: of any file, for names the server
        makes up) with these faults, one per request, then normally: an HTTP fault (``"503"``,
        ``"404"``...), ``"disconnect"``, or ``"drip"`` (the headers at once, then the body a
        kilobyte every 0.2 s, for a client's deadline to end)."""
        unknown = [f for f in faults if f not in _HTTP_FAULTS and f not in ("disconnect", "drip")]
        if unknown:
            raise ValueError(f"unknown file faults {unknown}")
        with self._lock:
            self.file_faults[name].extend(faults)

    def redirect_file(self, name: str, location: str) -> None:
        """Answer GETs of ``/files/<name>`` with a 302 to ``location``."""
        self.redirects[name] = location

    def count(self, path: Optional[str] = None) -> int:
        """Requests received on ``path`` (``/v1`` prefix optional), or in all when None."""
        if path is None:
            return sum(self.counts.values())
        return self.counts[_normalise(path)]

    def bodies(self, path: str = "/chat/completions") -> List[dict]:
        """Parsed bodies received on ``path``, in order."""
        p = _normalise(path)
        return [r.body for r in list(self.requests) if _normalise(r.path) == p and r.body is not None]

    def plan(self, key: str) -> Tuple[Optional[str], Optional[int]]:
        """The injected fault for a request key and how many attempts it fails (None: all).
        ``(None, 0)`` when the key gets no fault. Deterministic in ``seed``."""
        if self.fault_rate <= 0 or not self.faults:
            return (None, 0)
        rng = random.Random(f"{self.seed}:{key}")
        if rng.random() >= self.fault_rate:
            return (None, 0)
        fault = rng.choice(self.faults)
        if fault in PERMANENT_FAULTS:
            return (fault, None)
        tf = self.transient_failures
        return (fault, tf if isinstance(tf, int) else rng.randint(tf[0], tf[1]))

    def reset(self) -> None:
        """Forget what was received (attempt counters included)."""
        with self._lock:
            self.requests.clear()
            self.counts.clear()
            self.history.clear()
            self._attempts.clear()

    def start(self) -> "StubServer":
        self._thread = threading.Thread(target=self._thread_main, name="stub-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("stub server did not start within 10 s")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                fut.result(10)
            except Exception:
                pass
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- loop plumbing ----

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.serve())
        except BaseException as exc:  # surfaced to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def serve(self) -> None:
        """Start listening (on the running loop); returns once the socket is bound."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=1024,
                                                  limit=2 ** 24)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(list(self._conns), timeout=5)

    # ---- HTTP ----

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        self.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, headers, raw = request
                keep = await self._dispatch(method, path, headers, raw, reader, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (_Closed, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._conns.discard(task)
            try:
                writer.close()
            except Exception:
                pass

    async def _dispatch(self, method: str, path: str, headers: Dict[str, str], raw: bytes,
                        reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        _SPELLING.set(None)
        route = _normalise(path.split("?", 1)[0])
        self.counts[route] += 1
        if method == "GET" and route.startswith("/files/"):
            name = route[len("/files/"):]
            if name in self.redirects:
                self._note(method, path, headers, None, raw, None, None)
                await _send(writer, 302, {"location": self.redirects[name]}, b"")
                return True
            with self._lock:
                queued = self.file_faults.get(name) or self.file_faults.get("*")
                fault = queued.pop(0) if queued else None
            self._note(method, path, headers, None, raw, None, fault)
            found = self.files.get(name)
            if found is None:
                return await _send_json(writer, 404, _error_body("NotFound", "No such file.", "NotFound"))
            data, ctype = found
            if fault == "drip":
                writer.write(_head(200, {"content-type": ctype, "content-length": str(len(data))}))
                for i in range(0, len(data), 1024):
                    writer.write(data[i:i + 1024])
                    await writer.drain()
                    await asyncio.sleep(0.2)
                return True
            if fault is not None:
                return await self._fault(Reply(fault=fault), {}, route, False, reader, writer)
            await _send(writer, 200, {"content-type": ctype}, data)
            return True
        if method == "GET" and route == "/models":
            self._note(method, path, headers, None, raw, None, None)
            return await _send_json(writer, 200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "stub"} for m in
                ("seed-1-6-250915", "seed-1-6-flash-250715", "seed-1-8-251228", "seedream-4-5-251128")]})
        if route not in ("/chat/completions", "/images/generations"):
            self._note(method, path, headers, None, raw, None, None)
            return await _send_json(writer, 404, _error_body("NotFound", f"No route {method} {path}.", "NotFound"))
        if method != "POST":
            self._note(method, path, headers, None, raw, None, None)
            return await _send_json(writer, 405, _error_body("MethodNotAllowed", "Use POST.", "BadRequest"))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._note(method, path, headers, None, raw, None, "400")
            return await _send_json(writer, 400, _error_body(
                "InvalidParameter", "The request body is not a JSON object.", "BadRequest"))

        key = request_key(body)
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
        ctx = RequestContext(path=route, headers=headers, key=key, attempt=attempt)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(method, path, headers, raw, body, key, ctx, route, reader, writer)
        finally:
            self.in_flight -= 1

    async def _answer(self, method: str, path: str, headers: Dict[str, str], raw: bytes, body: dict, key: str,
                      ctx: RequestContext, route: str, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> bool:
        attempt = ctx.attempt
        reply = self.responder(body, ctx) if self._two_args else self.responder(body)
        if reply is None:
            reply = Reply()
        if self.max_in_flight is not None and self.in_flight > self.max_in_flight and reply.fault is None:
            self.throttled += 1
            reply = Reply(fault="429-retry-after", retry_after=f"{self.retry_after_s:g}")
        if reply.spelling is not None and reply.spelling not in SPELLINGS:
            raise ValueError(f"unknown spelling {reply.spelling!r}; known: {', '.join(SPELLINGS)}")
        _SPELLING.set(reply.spelling)
        if reply.fault is None:
            fault, failures = self.plan(key)
            if fault is not None and (failures is None or attempt <= failures):
                reply = _with_fault(reply, fault)
        self._note(method, path, headers, body, raw, key, reply.fault)
        with self._lock:
            self.history[key].append(reply.fault or "ok")

        delay = self.delay + reply.delay
        stream = bool(body.get("stream")) and route == "/chat/completions"
        if delay and not stream:
            await asyncio.sleep(delay)
        if reply.fault is not None and reply.fault != "bad-tool-args":
            return await self._fault(reply, body, route, stream, reader, writer)
        if stream and reply.raw_chunks is not None:
            await _start_chunked(writer, 200, {"content-type": "text/event-stream; charset=utf-8"})
            for chunk in reply.raw_chunks:
                await _write_chunk(writer, b"data: " + _dumps(chunk) + b"\n\n")
            await _write_chunk(writer, b"data: [DONE]\n\n")
            await _write_chunk(writer, b"")
            return True
        if reply.raw_body is not None:
            return await _send_json(writer, 200, reply.raw_body)
        if route == "/images/generations":
            return await self._images(body, reply, writer)
        if reply.fault == "bad-tool-args":
            reply = _bad_tool_args(reply)
        if stream:
            return await self._chat_stream(body, reply, writer, delay)
        return await self._chat(body, reply, writer)

    def _note(self, method: str, path: str, headers: Dict[str, str], body: Optional[dict], raw: bytes,
              key: Optional[str], fault: Optional[str]) -> None:
        if self.record:
            self.requests.append(Recorded(method, path, headers, body, raw, key, fault, time.time()))

    def _details(self, reply: Reply) -> bool:
        return self.usage_details if reply.usage_details is None else reply.usage_details

    def _rid(self) -> str:
        return f"chatcmpl-stub{next(self._ids):08d}"

    async def _chat(self, body: dict, reply: Reply, writer: asyncio.StreamWriter) -> bool:
        rid = self._rid()
        payload = {
            "id": rid, "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
            "choices": [{"index": i, "message": _chat_message(reply, rid), "finish_reason": _finish(reply),
                         "logprobs": None} for i in range(_choices(body))],
            "usage": _usage(body, reply, self._details(reply)),
        }
        return await _send_json(writer, 200, payload, reply.headers)

    async def _chat_stream(self, body: dict, reply: Reply, writer: asyncio.StreamWriter, delay: float,
                           cut_after: Optional[int] = None, garbage_at: Optional[int] = None) -> bool:
        rid = self._rid()
        events = _stream_events(body, reply, rid, int(time.time()), reply.chunk_chars or self.chunk_chars, self._details(reply))
        await _start_chunked(writer, 200, {"content-type": "text/event-stream; charset=utf-8",
                                           "cache-control": "no-cache", **reply.headers})
        if delay:
            await asyncio.sleep(delay)
        for i, event in enumerate(events):
            if cut_after is not None and i >= cut_after:
                _abort(writer)
                raise _Closed()
            if garbage_at is not None and i == garbage_at:
                await _write_chunk(writer, b'data: {"id": "' + rid.encode() + b'", "choices": [{"delta": {"con\n\n')
                continue
            await _write_chunk(writer, b"data: " + _dumps(event) + b"\n\n")
            if reply.chunk_delay and i < len(events) - 1:
                await asyncio.sleep(reply.chunk_delay)
        await _write_chunk(writer, b"data: [DONE]\n\n")
        await _write_chunk(writer, b"")
        return True

    async def _images(self, body: dict, reply: Reply, writer: asyncio.StreamWriter) -> bool:
        size = parse_size(reply.image_size or body.get("size"))
        if size is None:
            return await _send_json(writer, 400, _error_body(
                "InvalidParameter", f"The parameter `size` specified in the request is not valid: {body.get('size')!r}.",
                "BadRequest", param="size"))
        if self.min_image_pixels and size[0] * size[1] < self.min_image_pixels and reply.image_size is None:
            return await _send_json(writer, 400, _error_body(
                "InvalidParameter", f"The parameter `size` must have at least {self.min_image_pixels} pixels.",
                "BadRequest", param="size"))
        n = reply.n_images
        if n is None:
            opts = body.get("sequential_image_generation_options")
            if body.get("sequential_image_generation") == "auto" and isinstance(opts, Mapping):
                n = int(opts.get("max_images") or 1)
            else:
                n = int(body.get("n") or 1)
        fmt = "png" if reply.image_format == "png" else "jpeg"
        as_url = body.get("response_format", "url") != "b64_json"
        colour = int(hashlib.md5(str(body.get("prompt")).encode()).hexdigest()[:4], 16)
        data, ok = [], 0
        for i in range(n):
            if i in reply.image_errors:
                code, message = reply.image_errors[i]
                data.append({"error": {"code": code, "message": message}})
                continue
            png = reply.image_bytes or make_image(size[0], size[1], fmt, (colour + i) % len(_COLOURS))
            item: Dict[str, Any] = {"size": f"{size[0]}x{size[1]}"}
            if reply.image_urls is not None:
                item["url"] = reply.image_urls[i % len(reply.image_urls)]
            elif as_url:
                name = f"img-{next(self._ids):08d}.{'png' if fmt == 'png' else 'jpeg'}"
                self.files[name] = (png, f"image/{fmt}")
                item["url"] = f"{self.root_url}/files/{name}"
            else:
                item["b64_json"] = base64.b64encode(png).decode()
            data.append(item)
            ok += 1
        tokens = ok * (size[0] * size[1] // 256)
        usage = {"generated_images": ok, "output_tokens": tokens, "total_tokens": tokens, **dict(reply.usage)}
        return await _send_json(writer, 200, {"model": body.get("model"), "created": int(time.time()),
                                              "data": data, "usage": usage})

    async def _fault(self, reply: Reply, body: dict, route: str, stream: bool,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        fault = reply.fault
        if fault in _HTTP_FAULTS:
            status, code, etype, message = _HTTP_FAULTS[fault]
            headers = {"retry-after": reply.retry_after} if fault == "429-retry-after" else {}
            payload = _error_body(reply.error_code or code, reply.error_message or message, etype)
            payload["error"].update(reply.error_extra)
            return await _send_json(writer, status, payload, headers)
        if fault == "disconnect":
            _abort(writer)
            raise _Closed()
        if fault == "stall":
            # Wait for the client to give up (EOF) or for stall_s; never answer.
            try:
                await asyncio.wait_for(reader.read(1), self.stall_s)
            except asyncio.TimeoutError:
                pass
            _abort(writer)
            raise _Closed()
        if fault == "empty-choices":
            payload = {"id": self._rid(), "object": "chat.completion", "created": int(time.time()),
                       "model": body.get("model"), "choices": [], "usage": _usage(body, Reply(content=""), True)}
            if stream:
                await _start_chunked(writer, 200, {"content-type": "text/event-stream; charset=utf-8"})
                usage_chunk = {**payload, "object": "chat.completion.chunk"}
                await _write_chunk(writer, b"data: " + _dumps(usage_chunk) + b"\n\n")
                await _write_chunk(writer, b"data: [DONE]\n\n")
                await _write_chunk(writer, b"")
                return True
            if route == "/images/generations":
                payload = {"model": body.get("model"), "created": int(time.time()), "data": [],
                           "usage": {"generated_images": 0, "output_tokens": 0, "total_tokens": 0}}
            return await _send_json(writer, 200, payload)
        if stream and fault in ("cut-body", "truncate-stream"):
            return await self._chat_stream(body, reply, writer, 0.0, cut_after=2)
        if stream and fault == "no-done":
            # A clean end of the HTTP body without [DONE] and without a finish_reason.
            return await self._no_done(body, reply, writer)
        if stream and fault == "malformed-json":
            return await self._chat_stream(body, reply, writer, 0.0, garbage_at=1)
        if fault in ("cut-body", "truncate-stream", "no-done"):
            # Non-streamed: promise the full length, send half, hang up.
            rid = self._rid()
            payload = {"id": rid, "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
                       "choices": [{"index": 0, "message": _chat_message(reply, rid), "finish_reason": _finish(reply)}],
                       "usage": _usage(body, reply, True)}
            data = _dumps(payload)
            writer.write(_head(200, {"content-type": "application/json", "content-length": str(len(data))}))
            writer.write(data[: len(data) // 2])
            await writer.drain()
            _abort(writer)
            raise _Closed()
        if fault == "malformed-json":
            data = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "message": {"rol'
            await _send(writer, 200, {"content-type": "application/json"}, data)
            return True
        raise ValueError(f"unknown fault {fault!r}")

    async def _no_done(self, body: dict, reply: Reply, writer: asyncio.StreamWriter) -> bool:
        rid = self._rid()
        events = _stream_events(body, reply, rid, int(time.time()), reply.chunk_chars or self.chunk_chars, self._details(reply))
        events = [e for e in events if e["choices"] and e["choices"][0]["finish_reason"] is None]
        await _start_chunked(writer, 200, {"content-type": "text/event-stream; charset=utf-8"})
        for event in events[: max(1, len(events) // 2)]:
            await _write_chunk(writer, b"data: " + _dumps(event) + b"\n\n")
        await _write_chunk(writer, b"")
        return True


def _with_fault(reply: Reply, fault: str) -> Reply:
    from dataclasses import replace

    return replace(reply, fault=fault)


def _bad_tool_args(reply: Reply) -> Reply:
    from dataclasses import replace

    calls = list(reply.tool_calls) or [ToolCall("get_weather", {"city": "Paris"})]
    broken = [ToolCall(tc.name, tc.arguments_text()[: max(1, len(tc.arguments_text()) // 2)] + ' "unterminated', tc.id)
              for tc in calls]
    return replace(reply, content=None, tool_calls=broken, fault=None)


def _normalise(path: str) -> str:
    path = path.split("?", 1)[0].rstrip("/") or "/"
    if path.startswith("/v1/"):
        path = path[3:]
    elif path.startswith("/api/v3/"):  # ModelArk's prefix
        path = path[7:]
    return path


def _spelled(value: Any, spelling: str) -> str:
    """JSON text with every string in the given spelling (see Reply.spelling)."""
    if isinstance(value, str):
        if spelling == "solidus":
            return json.dumps(value, ensure_ascii=False).replace("/", "\\/")
        units = value.encode("utf-16-le", "surrogatepass")
        return '"' + "".join(f"\\u{int.from_bytes(units[i:i + 2], 'little'):04x}"
                             for i in range(0, len(units), 2)) + '"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_spelled(str(k), spelling)}: {_spelled(v, spelling)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_spelled(v, spelling) for v in value) + "]"
    return json.dumps(value)


def _dumps(payload: Any) -> bytes:
    """JSON as UTF-8. Text holding a lone surrogate (half an emoji, as a model streaming tokens
    can emit) cannot be UTF-8: it goes out escaped (``"\\ud83d"``), as real servers send it."""
    spelling = _SPELLING.get()
    if spelling is not None:
        return _spelled(payload, spelling).encode()
    try:
        return json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(payload, ensure_ascii=True).encode()


def _error_body(code: str, message: str, etype: str, param: Optional[str] = None) -> Dict[str, Any]:
    return {"error": {"code": code, "message": message, "param": param, "type": etype}}


async def _read_request(reader: asyncio.StreamReader) -> Optional[Tuple[str, str, Dict[str, str], bytes]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _Closed() from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise _Closed()
    method, target, _version = parts
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            raw += await reader.readexactly(size)
            await reader.readexactly(2)
        return method, target, headers, bytes(raw)
    length = int(headers.get("content-length", "0") or 0)
    raw_body = await reader.readexactly(length) if length else b""
    return method, target, headers, raw_body


def _head(status: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(writer: asyncio.StreamWriter, status: int, headers: Mapping[str, str], data: bytes) -> bool:
    writer.write(_head(status, {**headers, "content-length": str(len(data))}) + data)
    await writer.drain()
    return True


async def _send_json(writer: asyncio.StreamWriter, status: int, payload: Any,
                     headers: Optional[Mapping[str, str]] = None) -> bool:
    data = _dumps(payload)
    return await _send(writer, status, {"content-type": "application/json", **(headers or {})}, data)


async def _start_chunked(writer: asyncio.StreamWriter, status: int, headers: Mapping[str, str]) -> None:
    writer.write(_head(status, {**headers, "transfer-encoding": "chunked"}))
    await writer.drain()


async def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if transport is not None:
        transport.abort()


# ---- as a process -----------------------------------------------------------------------------


def _crashing(inner: Callable, after: int, sig: signal.Signals) -> Callable:
    """A responder that answers `after` requests, then kills its own process with `sig`, as a
    llama.cpp build that the CPU cannot run does on its first completion."""
    import os

    seen = itertools.count(1)

    def responder(body):
        if next(seen) > after:
            os.kill(os.getpid(), sig)
        return inner(body)

    return responder


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m evalseed.testing.stub_server``: serve until SIGTERM / SIGINT. Prints
    ``listening on http://127.0.0.1:PORT/v1`` on its first line once bound."""
    ap = argparse.ArgumentParser(prog="python -m evalseed.testing.stub_server", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="delay before every answer")
    ap.add_argument("--fault-rate", type=float, default=0.0, help="share of distinct requests given a fault")
    ap.add_argument("--faults", default=",".join(TRANSIENT_FAULTS), help="comma-separated fault mix")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--answers", help="JSON file: {substring of last message: answer}")
    ap.add_argument("--answer", default="ok", help="answer when no substring matches")
    ap.add_argument("--reasoning", help="reasoning_content to send with every answer")
    ap.add_argument("--no-usage-details", action="store_true", help="usage without *_tokens_details")
    ap.add_argument("--record", action="store_true", help="keep request bodies in memory (off: counts only)")
    ap.add_argument("--crash-after", type=int, metavar="N",
                    help="die by --crash-signal on the completion after the first N (a server that crashes mid-run)")
    ap.add_argument("--crash-signal", default="SEGV", help="signal name without SIG (default SEGV)")
    args = ap.parse_args(argv)

    answers = None
    if args.answers:
        with open(args.answers, encoding="utf-8") as fh:
            answers = json.load(fh)
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    responder = answers_responder(answers, default=args.answer, reasoning=args.reasoning)
    if args.crash_after is not None:
        responder = _crashing(responder, args.crash_after, signal.Signals[f"SIG{args.crash_signal.upper()}"])
    server = StubServer(responder,
                        port=args.port, fault_rate=args.fault_rate, seed=args.seed, faults=faults,
                        delay_ms=args.delay_ms, usage_details=not args.no_usage_details, record=args.record)

    async def run() -> None:
        await server.serve()
        print(f"listening on {server.base_url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server._shutdown()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
