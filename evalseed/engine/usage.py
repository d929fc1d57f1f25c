"""What a server says a request used, checked against what the request allowed.

The budget reserves the most a request may cost; cost is then computed from the usage the server
reports. A figure outside what the request allows cannot be true: a negative count let every
request through a budget (and printed a negative total), a count above max_tokens charges for
output never asked for. Such figures are clamped into their bounds (the row keeps what was
reported in `details.flags`) and the lane is told to stop the run: a server whose counts cannot be
trusted cannot be run against a budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import ModelInfo

# Some servers count the end-of-sequence token past max_tokens; more than this is not an
# off-by-one.
SLACK_TOKENS = 16


def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


@dataclass
class ChatUsage:
    prompt: int | None
    completion: int | None
    reasoning: int | None
    cached: int | None
    problems: list[str] = field(default_factory=list)
    reported: dict[str, int] = field(default_factory=dict)


def check_chat_usage(usage: Any, model: ModelInfo, allowed_output: int) -> ChatUsage:
    """The usage of one chat answer, each count clamped into what the request allows;
    `problems` says which counts were impossible. `allowed_output`: the output tokens the
    request may be billed for (every choice, the chain of thought included)."""
    usage = usage if isinstance(usage, dict) else {}
    details_in = usage.get("prompt_tokens_details")
    details_out = usage.get("completion_tokens_details")
    got = ChatUsage(
        prompt=_count(usage.get("prompt_tokens")),
        completion=_count(usage.get("completion_tokens")),
        reasoning=_count(details_out.get("reasoning_tokens")) if isinstance(details_out, dict) else None,
        cached=_count(details_in.get("cached_tokens")) if isinstance(details_in, dict) else None,
    )
    for name in ("prompt", "completion", "reasoning", "cached"):
        v = getattr(got, name)
        if v is not None and v < 0:
            got.problems.append(f"{name}_tokens {v:,} is negative")
            got.reported[f"{name}_tokens"] = v
            setattr(got, name, 0)
    if got.completion is not None and got.completion > allowed_output + SLACK_TOKENS:
        got.problems.append(f"completion_tokens {got.completion:,} is above the {allowed_output:,} the request allows")
        got.reported["completion_tokens"] = got.completion
        got.completion = allowed_output
    # The window bounds the prompt only where it is known to be the model's: an unpriced model
    # (a name only a --base-url server knows) has a placeholder window, and no cost to protect.
    window = model.context_window if model.prices.known() else 0
    if got.prompt is not None and window and got.prompt > window + SLACK_TOKENS:
        got.problems.append(f"prompt_tokens {got.prompt:,} is above the model's {window:,}-token window")
        got.reported["prompt_tokens"] = got.prompt
        got.prompt = window
    if got.reasoning is not None and got.completion is not None and got.reasoning > got.completion:
        got.problems.append(f"reasoning_tokens {got.reasoning:,} is above completion_tokens {got.completion:,}")
        got.reported["reasoning_tokens"] = got.reasoning
        got.reasoning = got.completion
    if got.cached is not None and got.prompt is not None and got.cached > got.prompt:
        got.problems.append(f"cached_tokens {got.cached:,} is above prompt_tokens {got.prompt:,}")
        got.reported["cached_tokens"] = got.cached
        got.cached = got.prompt
    return got


def check_image_count(reported: Any, asked: int, returned: int) -> tuple[int, list[str]]:
    """The images one request is billed for: what the server reports (`usage.generated_images`),
    else the images it returned; never more than were asked for. Returns the count and the
    problems (an impossible reported count)."""
    count = _count(reported)
    if count is None:
        return min(returned, asked), []
    if count < 0:
        return 0, [f"generated_images {count:,} is negative"]
    if count > asked:
        return asked, [f"generated_images {count:,} is above the {asked:,} asked for"]
    return count, []
