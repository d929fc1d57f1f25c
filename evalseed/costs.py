"""Cost of a call from the price table in force (SEED_API.md): input at the tier the prompt length
selects, cached input at its own price, completion (reasoning included) as output.

Two things the price pages leave open, and what is done about them:
- Cached input above 128K: ModelArk's seed-1.8 page lists 0.05 USD/M for both tiers, so one
  cached price serves both; for seed-1.6 and flash no page says, and the same rule is assumed.
- A server that reports no `cached_tokens`: every prompt token is priced at the full input price,
  so that row's cost_usd is an upper bound (its `cached_tokens` column is null, never 0).
"""

from __future__ import annotations

import math

from .config import LONG_PROMPT_THRESHOLD, ModelInfo
from .tokens import base_tokens, count_cjk

def chat_cost(model: ModelInfo, prompt_tokens: int | None, completion_tokens: int | None,
              cached_tokens: int | None = None) -> float | None:
    """USD for one chat call; None when the price or the usage is unknown."""
    p = model.prices
    if p.input == 0 and p.output == 0 and not p.long_input and not p.long_output:
        return 0.0  # a free model costs nothing even when the server reports no usage
    if p.input is None or p.output is None or prompt_tokens is None or completion_tokens is None:
        return None
    long = prompt_tokens > LONG_PROMPT_THRESHOLD
    input_price = (p.long_input if long and p.long_input is not None else p.input)
    output_price = (p.long_output if long and p.long_output is not None else p.output)
    cached = min(cached_tokens or 0, prompt_tokens)
    cached_price = p.cached_input if p.cached_input is not None else input_price
    return ((prompt_tokens - cached) * input_price + cached * cached_price + completion_tokens * output_price) / 1e6


def priced(model: ModelInfo) -> bool:
    """Whether every call of `model` can be priced (what --budget-usd needs)."""
    p = model.prices
    if model.kind == "image":
        return p.per_image is not None
    return p.input is not None and p.output is not None


def image_cost(model: ModelInfo, images: int | None) -> float | None:
    if model.prices.per_image is None or images is None:
        return None
    return images * model.prices.per_image


def worst_case_cost(model: ModelInfo, prompt_tokens: int, max_output_tokens: int, images: int = 0) -> float:
    """The most a request can cost (no cache hits, every allowed output token): what the budget
    reserves while the request is in flight. Unknown prices count as free."""
    if model.kind == "image":
        return image_cost(model, images) or 0.0
    return chat_cost(model, prompt_tokens, max_output_tokens, 0) or 0.0


def rough_tokens(text: str) -> int:
    """A quick prompt-size estimate for budgets and dry runs, with `evalseed.tokens`' default
    ratios (CJK characters weigh more than Latin ones); long-context sizing uses learned ones."""
    return math.ceil(base_tokens(len(text), count_cjk(text)))
