"""--budget-usd: what a request may cost at most, reserved while it is in flight, and the one
worst-case estimate that both the reservation and `--dry-run` use (`worst_case`)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from ..config import ModelInfo
from ..core import max_output_tokens, thinking_may_run
from ..costs import image_cost, rough_tokens, worst_case_cost
from ..errors import BudgetExhausted

# SEED_API.md: `max_tokens` leaves the chain of thought out, and it is billed as output;
# `max_completion_tokens` (at most 65,536) caps both together.
MAX_COMPLETION_TOKENS = 65_536


class Budget:
    """Counts spend plus the worst case of every request in flight, so the limit holds even when
    all in-flight requests come back at their worst.

    A request whose worst case does not fit beside those in flight waits for one of them to
    settle (they usually cost far less than reserved), which lowers the run's concurrency to what
    the budget can cover; the run stops (BudgetExhausted) only when the request's worst case does
    not fit even with nothing in flight."""

    def __init__(self, limit_usd: float | None, spent: float = 0.0):
        self.limit = limit_usd
        self.spent = spent
        self.reserved = 0.0
        self.in_flight = 0
        # Requests that had to wait for room, and the fewest in flight while one waited: how far
        # the budget lowered the concurrency.
        self.waits = 0
        self.lowest_in_flight: int | None = None
        self._settled: asyncio.Event | None = None

    def _fits(self, amount: float, in_flight_too: bool) -> bool:
        assert self.limit is not None
        return self.spent + (self.reserved if in_flight_too else 0.0) + amount <= self.limit + 1e-12

    def _exhausted(self, amount: float) -> BudgetExhausted:
        left = max(0.0, (self.limit or 0.0) - self.spent)
        return BudgetExhausted(
            f"the next request's worst case (${amount:.4f}) does not fit in the ${left:.4f} left of --budget-usd "
            f"{self.limit} (${self.spent:.4f} spent)")

    def reserve(self, amount: float) -> float:
        """Reserve now or raise: for callers that cannot wait."""
        if self.limit is not None and not self._fits(amount, True):
            raise self._exhausted(amount)
        self.reserved += amount
        self.in_flight += 1
        return amount

    async def acquire(self, amount: float) -> float:
        """Reserve `amount`, waiting while the requests in flight hold the room it needs."""
        if self.limit is not None:
            waited = False
            while not self._fits(amount, True):
                if not self._fits(amount, False) or self.in_flight == 0:
                    raise self._exhausted(amount)
                if not waited:
                    waited = True
                    self.waits += 1
                self.lowest_in_flight = min(self.in_flight, self.lowest_in_flight or self.in_flight)
                if self._settled is None:
                    self._settled = asyncio.Event()
                await self._settled.wait()
        return self.reserve(amount)

    def settle(self, reservation: float, actual: float | None) -> None:
        self.reserved -= reservation
        self.in_flight -= 1
        # An unknown cost is charged at its worst case: the limit must hold. A negative one is
        # impossible (usage is clamped before it is priced); it must never give budget back.
        self.spent += reservation if actual is None else max(0.0, actual)
        if self._settled is not None:
            settled, self._settled = self._settled, None
            settled.set()


def billable_output_tokens(body: dict, model: ModelInfo) -> int:
    """The most output tokens a chat request can be billed for: what the budget must reserve.
    With thinking on and only `max_tokens` set, the reasoning can run to the completion limit;
    each of the `n` choices asked for is billed as a whole answer."""
    n = body.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
    total = body.get("max_completion_tokens")
    if isinstance(total, int) and total > 0:
        return total * choices
    answer = max_output_tokens(body, model)
    if thinking_may_run(body, model):
        return max(answer, MAX_COMPLETION_TOKENS) * choices
    return answer * choices


def estimate_prompt_tokens(body: dict) -> int:
    """A chat body's prompt size before it is sent, for the reservation and the tokens-per-minute
    limit; the server's count replaces it in the row. An assistant turn sent back (a tool loop)
    counts with its chain of thought and its tool calls: both are resent."""
    total = 0
    for m in body.get("messages") or ():
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if isinstance(content, str):
            total += rough_tokens(content) + 4
        elif isinstance(content, list):
            total += sum(rough_tokens(p.get("text", "")) for p in content if isinstance(p, dict)) + 4
        if isinstance(m.get("reasoning_content"), str):
            total += rough_tokens(m["reasoning_content"])
        if m.get("tool_calls"):
            total += rough_tokens(json.dumps(m["tool_calls"], ensure_ascii=False))
    if body.get("tools"):
        total += rough_tokens(json.dumps(body["tools"]))
    return total


def asked_images(body: dict) -> int:
    """How many images an image request asks for: `n`, or ModelArk's `max_images`, else one."""
    options = body.get("sequential_image_generation_options")
    for v in (body.get("n"), options.get("max_images") if isinstance(options, dict) else None):
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return 1


@dataclass(frozen=True)
class WorstCase:
    """The most a case can cost, and what it rests on (summed over its calls)."""

    cost_usd: float
    prompt_tokens: int
    output_tokens: int
    calls: int
    thinking: bool


def worst_case(body: dict[str, Any], model: ModelInfo, steps: int = 1) -> WorstCase:
    """The worst case of a request, or of a tool loop of `steps` calls (`max_steps`): what the
    budget reserves for each call in flight and what `--dry-run` adds up, one figure for both.

    Every call is billed its whole output allowance (`billable_output_tokens`: with thinking on,
    the chain of thought's 65,536-token limit; every choice of `n`), with no cache hit; each later
    call of a tool loop resends every earlier answer with its chain of thought, so its prompt
    grows by that much (the tool results, small and canned, are left out), up to the model's
    window (a longer prompt is refused, not billed). An image request: the images asked for."""
    if model.kind == "image":
        images = asked_images(body)
        return WorstCase(image_cost(model, images) or 0.0, 0, 0, 1, False)
    prompt = estimate_prompt_tokens(body)
    out = billable_output_tokens(body, model)
    window = model.context_window or 0
    cost, prompts, calls = 0.0, 0, 0
    for step in range(max(1, steps)):
        p = prompt + step * out
        if step and window and p > window:
            break
        cost += worst_case_cost(model, p, out)
        prompts += p
        calls += 1
    return WorstCase(cost, prompts, out * calls, calls, thinking_may_run(body, model))


def case_worst_case(prepared: Any, model: ModelInfo) -> WorstCase:
    """`worst_case` of a prepared case (`core.Prepared`): a tool-calling case's loop runs up to
    its `max_steps` calls (the kind keeps them in its state)."""
    steps = prepared.state.get("max_steps", 1) if isinstance(prepared.state, dict) else 1
    return worst_case(prepared.request or {}, model, steps if isinstance(steps, int) else 1)
