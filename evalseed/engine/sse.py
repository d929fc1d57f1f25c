"""A streamed chat answer: server-sent events read to the end and folded into one body of the
non-streamed shape, so scorers, the `response` column and cassettes see one format.

What is kept is bounded: at most `max_bytes` of text per answer (content, reasoning and tool-call
arguments of every choice together; the rest is counted and dropped, and the answer is marked
cut), and no line is held beyond that plus a margin. The stream is still read to its end, so its
usage (in the last chunk) is known and the answer is billed as the server counts it; --timeout
bounds how long that may take.
"""

from __future__ import annotations

import json
import time
from typing import Any, AsyncIterable, AsyncIterator

from ..errors import PermanentCallError, TransientCallError
from .failures import content_filtered, error_code

# Room for the JSON around a chunk's text: a line longer than the text cap plus this cannot be a
# chunk of an answer we keep.
LINE_MARGIN = 64 * 1024


async def read_stream(chunks: AsyncIterable[bytes], max_bytes: int) -> "StreamAssembler":
    """The assembled stream. Raises TransientCallError when it is not a whole answer: cut before
    `data: [DONE]`, a chunk that is not JSON, an error event, or no choice at all."""
    acc = StreamAssembler(max_bytes)
    async for line in sse_lines(chunks, max_bytes + LINE_MARGIN):
        # Read on past [DONE] to the end of the body: leaving it unread makes httpx close the
        # connection, and every request then pays a new TCP connect.
        if acc.done:
            continue
        if line is None:
            acc.oversized_lines += 1
            continue
        if not line or line[0] == ":":
            continue
        if line.startswith("data:"):
            data = line[5:].strip()
            if data == "[DONE]":
                acc.done = True
                continue
            try:
                chunk = json.loads(data)
            except ValueError:
                raise TransientCallError("MalformedResponse", f"a stream chunk is not valid JSON: {data[:120]!r}") from None
            acc.add(chunk, time.perf_counter())
    if not acc.done:
        raise TransientCallError("TruncatedStream", "the stream ended before data: [DONE]")
    if acc.error is not None:
        code, message = error_code(acc.error, "error inside the stream")
        error_class = "StreamError" + (f" {code}" if code else "")
        if content_filtered(error_class):
            raise PermanentCallError(error_class, message)  # a filter's verdict: the same again if asked again
        raise TransientCallError(error_class, message)
    if not acc.saw_choice:
        raise TransientCallError("EmptyChoices", "the response has no choices")
    return acc


async def sse_lines(chunks: AsyncIterable[bytes], max_line: int) -> AsyncIterator[str | None]:
    """The lines of an event stream (ended by CRLF, LF or CR), each decoded as UTF-8; None in
    place of a line longer than `max_line` bytes, which is skipped without being held."""
    buf = bytearray()
    skipping = False
    after_cr = False
    async for chunk in chunks:
        start = 0
        if after_cr and chunk[:1] == b"\n":
            start = 1  # the LF of a CRLF split across two chunks
        after_cr = False
        n = len(chunk)
        while start < n:
            lf = chunk.find(b"\n", start)
            cr = chunk.find(b"\r", start)
            end = min(e for e in (lf, cr) if e >= 0) if (lf >= 0 or cr >= 0) else -1
            if end < 0:
                if not skipping:
                    buf += chunk[start:]
                    if len(buf) > max_line:
                        buf.clear()
                        skipping = True
                break
            if skipping:
                skipping = False
                yield None
            else:
                buf += chunk[start:end]
                if len(buf) > max_line:
                    yield None
                else:
                    yield buf.decode("utf-8", "replace")
                buf.clear()
            if chunk[end:end + 1] == b"\r":
                if end + 1 < n:
                    start = end + 2 if chunk[end + 1:end + 2] == b"\n" else end + 1
                else:
                    after_cr = True
                    start = n
            else:
                start = end + 1
    if skipping:
        yield None
    elif buf:
        yield buf.decode("utf-8", "replace")


class _Choice:
    __slots__ = ("content", "reasoning", "tool_calls", "finish_reason", "role")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: dict[int, dict] = {}
        self.finish_reason = None
        self.role = "assistant"

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": "".join(self.content) if self.content else None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        return message


class StreamAssembler:
    """Folds chat.completion.chunk objects into one chat.completion body, one choice per index
    (a request with `n` > 1 streams its choices interleaved)."""

    __slots__ = ("choices", "usage", "meta", "t_first", "t_first_answer", "done", "error", "saw_choice", "max_bytes",
                 "kept", "dropped", "oversized_lines")

    def __init__(self, max_bytes: int = 1 << 62) -> None:
        self.choices: dict[int, _Choice] = {}
        self.usage = None
        self.meta: dict = {}
        self.t_first: float | None = None  # the first token of any kind, the chain of thought's included
        self.t_first_answer: float | None = None  # the first token of the answer: content or a tool call
        self.done = False
        self.error: dict | None = None
        self.saw_choice = False
        self.max_bytes = max_bytes
        self.kept = 0  # bytes of text kept, every choice together
        self.dropped = 0  # bytes of text past max_bytes, counted and not kept
        self.oversized_lines = 0

    @property
    def cut(self) -> bool:
        return bool(self.dropped or self.oversized_lines)

    def _keep(self, text: str) -> str:
        """`text`, or as much of it as still fits in max_bytes (never half a character)."""
        size = len(text.encode("utf-8", "surrogatepass"))
        room = self.max_bytes - self.kept
        if size <= room:
            self.kept += size
            return text
        part = text.encode("utf-8", "surrogatepass")[:max(0, room)].decode("utf-8", "ignore")
        kept = len(part.encode("utf-8", "surrogatepass"))
        self.kept += kept
        self.dropped += size - kept
        return part

    def add(self, chunk: Any, now: float) -> None:
        if not isinstance(chunk, dict):
            raise TransientCallError("MalformedResponse", "a stream chunk is not a JSON object")
        if "error" in chunk and chunk["error"]:
            self.error = chunk
            return
        if not self.meta:
            self.meta = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint") if k in chunk}
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            self.saw_choice = True
            index = choice.get("index", 0)
            slot = self.choices.setdefault(index if isinstance(index, int) else 0, _Choice())
            delta = choice.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            if choice.get("finish_reason"):
                slot.finish_reason = choice["finish_reason"]
            c = delta.get("content")
            r = delta.get("reasoning_content")
            tcs = delta.get("tool_calls")
            if self.t_first is None and (c or r or tcs):
                self.t_first = now
            if self.t_first_answer is None and (c or tcs):
                self.t_first_answer = now
            if c and isinstance(c, str):
                slot.content.append(self._keep(c))
            if r and isinstance(r, str):
                slot.reasoning.append(self._keep(r))
            for tc in tcs if isinstance(tcs, list) else ():
                if not isinstance(tc, dict):
                    continue
                idx = tc.get("index")
                idx = idx if isinstance(idx, int) else len(slot.tool_calls)
                call = slot.tool_calls.setdefault(
                    idx, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                if tc.get("id"):
                    call["id"] = tc["id"]
                fn = tc.get("function")
                fn = fn if isinstance(fn, dict) else {}
                if isinstance(fn.get("name"), str) and fn["name"]:
                    call["function"]["name"] += self._keep(fn["name"])
                if isinstance(fn.get("arguments"), str) and fn["arguments"]:
                    call["function"]["arguments"] += self._keep(fn["arguments"])

    def response(self) -> dict:
        choices = [{"index": i, "message": self.choices[i].message(), "finish_reason": self.choices[i].finish_reason}
                   for i in sorted(self.choices)] or [{"index": 0, "message": _Choice().message(), "finish_reason": None}]
        out = {**self.meta, "object": "chat.completion", "choices": choices}
        if self.usage is not None:
            out["usage"] = self.usage
        return out
