"""What evalseed knows about a model and a provider: prices, context window, the request features
it accepts, variants' base and params (`ModelInfo`, `Prices`, `Provider`). The built-in table is
`builtin_models.py`; `config.py` merges it with evalseed.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .tokens import DEFAULT_RATIO, TokenRatio

PRICES_AS_OF = "2026-11-26"
PRICES_SOURCE = "BytePlus ModelArk list prices (undated pages), collected 2026-11-26"

# Seed's price tier switches on prompt length: "prompt <= 128K" on the price page.
LONG_PROMPT_THRESHOLD = 128_000

VERSION_RE = re.compile(r"^(?P<family>.+)-(?P<version>\d{6})$")


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens (and per image). A `long_*` price applies when the prompt is longer
    than LONG_PROMPT_THRESHOLD tokens; None means the same as the short tier."""

    input: float | None = None
    cached_input: float | None = None
    output: float | None = None
    long_input: float | None = None
    long_output: float | None = None
    per_image: float | None = None

    def known(self) -> bool:
        return any(v is not None for v in (self.input, self.output, self.per_image))


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    kind: str = "text"  # "text" | "image"
    family: str = ""
    context_window: int = 131_072
    max_output_tokens: int = 4_096  # the default when a suite does not say
    prices: Prices = field(default_factory=Prices)
    # Which optional request features the model accepts.
    structured_output: bool = True  # response_format json_schema
    json_object: bool = True  # response_format json_object (the Seed page: every Seed text model)
    # How a JSON schema goes on the wire: "json_schema" (OpenAI's structured output), "json_object"
    # (`{"type": "json_object", "schema": ...}`, llama-cpp-python's server, which refuses
    # json_schema), None (the model takes no schema). Used where structured_output is on.
    schema_wire: str | None = "json_schema"
    # Constrained answers (issue 20), set by the variant parameter `constrained`: True asks for
    # schema-constrained answers wherever a kind can give a schema (classification: the labels as
    # an enum; json_extraction: its schema), False never sends one, None follows the suite.
    constrained: bool | None = None
    tools: bool = True
    tool_choice: bool = True
    thinking: bool = True
    # Chat messages may hold images (`image_url` parts); a case with one is skipped, with the
    # reason, on a model without it. Unknown models: False (set it in evalseed.yaml).
    vision: bool = False
    # A model tied to one provider (the embedded local model); None: the run's provider.
    provider: str | None = None
    # Requests never ask this model for more output tokens than this (recorded per case when a
    # suite asked for more): a slow local model must not spend minutes on every answer.
    output_token_cap: int | None = None
    # Set when this entry was derived from a family for a version string we had not seen.
    inherited_from: str | None = None
    notes: str = ""
    # What one request may ask, where the provider documents it (None: only the window bounds it):
    # prompt tokens, and `max_completion_tokens` (chain of thought included). A case over either
    # is skipped with the figures, as one over the window is (jobs.py).
    max_input_tokens: int | None = None
    max_completion_tokens: int | None = None
    # Image models: True where the provider documents which sizes it takes (ModelArk), so sizes
    # are checked before sending; elsewhere they go as given and the server's answer decides.
    documented_sizes: bool = False
    # A variant (issue 18) is a model of its own in results, gates, reports and routes: it sends
    # `base_model`'s id with `request_params` on every request (over a suite's own params), and
    # is priced as the base model.
    base_model: str | None = None
    request_params: dict[str, Any] = field(default_factory=dict)
    # Published rate limits (SEED_API.md), used when --rpm/--tpm are not given, so those flags
    # are only needed to go lower; 429s still back off either way.
    default_rpm: int | None = None
    default_tpm: int | None = None
    # How this model's tokens relate to characters in this run (evalseed.tokens): learned from the
    # database by the run, recorded with it, read back by --resume and rescore; the kinds size
    # prompts with it. The default until a run learns one.
    token_ratio: TokenRatio = DEFAULT_RATIO

    @property
    def api_name(self) -> str:
        """The model id requests carry."""
        return self.base_model or self.name


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    base_url: str | None
    api_key_env: str | None
    # Image generation: True when the API takes `n`; False maps it to ModelArk's
    # sequential_image_generation options.
    images_take_n: bool = True
    # Per-model context windows that differ on this provider.
    context_windows: dict[str, int] = field(default_factory=dict)
    price_overrides: dict[str, Prices] = field(default_factory=dict)
    # Per-model request limits on this provider: {model: {"max_input_tokens": N, ...}}.
    limits: dict[str, dict[str, int]] = field(default_factory=dict)
    # The provider documents the image sizes its models take (see ModelInfo.documented_sizes).
    documents_image_sizes: bool = False
