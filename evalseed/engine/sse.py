"""A streamed chat answer: server-sent events read to the end and folded into one body of the
non-streamed shape, so scorers, the `response` column and cassettes see one format."""

from __future__ import annotations

import json
import time
from typing import Any, AsyncIterable

from ..errors import TransientCallError
from .failures import error_code


async def read_stream(lines: AsyncIterable[str]) -> "StreamAssembler":
    """The assembled stream. Raises TransientCallError when it is not a whole answer: cut before
    `data: [DONE]`, a chunk that is not JSON, an error event, or no choice at all."""
    acc = StreamAssembler()
    async for line in lines:
        # Read on past [DONE] to the end of the body: leaving it unread makes httpx close the
        # connection, and every request then pays a new TCP connect.
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
                raise TransientCallError("MalformedResponse", f"a stream chunk is not valid JSON: {data[:120]!r}") from None
            acc.add(chunk, time.perf_counter())
    if not acc.done:
        raise TransientCallError("TruncatedStream", "the stream ended before data: [DONE]")
    if acc.error is not None:
        code, message = error_code(acc.error, "error inside the stream")
        raise TransientCallError("StreamError" + (f" {code}" if code else ""), message)
    if not acc.saw_choice:
        raise TransientCallError("EmptyChoices", "the response has no choices")
    return acc


class StreamAssembler:
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
            raise TransientCallError("MalformedResponse", "a stream chunk is not a JSON object")
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
