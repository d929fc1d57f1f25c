"""The types the engine, the jobs and the kinds share, at the bottom of the import graph.

A kind turns a case into a `Prepared`, its `execute` calls the `Api` and returns an `Outcome` of
`CallResult`s, and its scorer gives a `Score`. The engine implements `Api` and returns
`CallResult`s without knowing any kind; the job joins the two. This module imports nothing else
from evalseed at run time, so any module may import it without forming a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config import ModelInfo, Provider


@dataclass(slots=True)
class CallResult:
    """One API call as the engine measured it. `response` is the raw JSON body (for a streamed
    chat call, the chunks assembled into the non-streamed shape)."""

    request: dict
    response: dict
    latency_ms: float | None = None
    ttft_ms: float | None = None
    output_tps: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    images: int | None = None
    cost_usd: float | None = None
    attempts: int = 1
    replayed: bool = False
    # What the engine had to correct in the answer, by name (`answer_cut`, `untrusted_usage`,
    # `extra_images`): stored in the row's `details.flags`.
    flags: dict[str, Any] = field(default_factory=dict)
    # Why the answer ended (`choices[0].finish_reason`: stop, length, content_filter, tool_calls),
    # and when its first answer token came (content or a tool call; ttft_ms counts reasoning too).
    finish_reason: str | None = None
    ttft_answer_ms: float | None = None

    @property
    def message(self) -> dict:
        """`choices[0].message` of a chat response, or {} when there is none."""
        choices = self.response.get("choices") if isinstance(self.response, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return {}
        message = choices[0].get("message")
        return message if isinstance(message, dict) else {}


class Api(Protocol):
    """What a kind may call. Implemented by the engine (retries, limits, timers, cassettes)."""

    @property
    def provider(self) -> "Provider": ...

    async def chat(self, body: dict, model: "ModelInfo | None" = None) -> CallResult:
        """One chat call, priced and bounded as `model` (default: the job's model)."""
        ...

    async def images(self, body: dict) -> CallResult: ...

    async def download(self, url: str, max_bytes: int) -> bytes:
        """The body at `url` (a link in an answer), at most `max_bytes` long. Raises
        `errors.CallFailed` when it cannot be had; failures of the whole run propagate."""
        ...


@dataclass(slots=True)
class Prepared:
    """A case made ready for one model. `skip_reason` set means: store a `skipped` row, send nothing."""

    input_text: str
    request: dict | None = None
    skip_reason: str | None = None
    # Upper bound of what the request may cost, for --budget-usd and --dry-run.
    est_prompt_tokens: int = 0
    max_output_tokens: int = 0
    # Kind-private state handed back to execute/score (never stored as-is). The job adds
    # `out_dir` (this run's artefact folder) and `file_stem` ("<suite>/<case>-<model>-<repeat>")
    # for kinds that save files. Keys starting with `detail_` are copied (prefix removed) into
    # `details` of a skipped row, so e.g. a skipped grid cell still shows where it sits.
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    """Everything the calls for one case produced. `response` is what goes into the `response`
    column (one message, or a whole tool-calling trajectory)."""

    calls: list[CallResult]
    response: Any
    output_text: str | None


@dataclass(slots=True)
class Score:
    score: float
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    # Overrides Outcome.output_text when the scorer extracted the answer differently.
    output_text: str | None = None


def content_text(content: Any) -> str | None:
    """A message's `content` as text: a string as is, a list of content parts (some servers send
    `[{"type": "text", "text": ...}]`) joined, anything else None (the answer is then unparsed)."""
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, list):
        parts: list[str] = [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(parts) if parts else None
    return None


def thinking_may_run(body: dict, model: "ModelInfo") -> bool:
    """Whether a request may produce a chain of thought: the model thinks and the request does not
    turn it off (`thinking: {type: disabled}` or `reasoning_effort: minimal`)."""
    thinking = body.get("thinking")
    off = (isinstance(thinking, dict) and thinking.get("type") == "disabled") or body.get("reasoning_effort") == "minimal"
    return model.thinking and not off


def max_output_tokens(body: dict, model: "ModelInfo") -> int:
    """The most output tokens a request allows (for budgets): what it asks, else the model default."""
    for k in ("max_completion_tokens", "max_tokens"):
        v = body.get(k)
        if isinstance(v, int) and v > 0:
            return v
    return model.max_output_tokens
