"""--budget-usd: what a request may cost at most, reserved while it is in flight."""

from __future__ import annotations

import json

from ..config import ModelInfo
from ..core import max_output_tokens, thinking_may_run
from ..costs import rough_tokens
from ..errors import BudgetExhausted

# SEED_API.md: `max_tokens` leaves the chain of thought out, and it is billed as output;
# `max_completion_tokens` (at most 65,536) caps both together.
MAX_COMPLETION_TOKENS = 65_536


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
        # An unknown cost is charged at its worst case: the limit must hold. A negative one is
        # impossible (usage is clamped before it is priced); it must never give budget back.
        self.spent += reservation if actual is None else max(0.0, actual)


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
    limit; the server's count replaces it in the row."""
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
