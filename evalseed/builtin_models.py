"""The built-in model table, providers and model sets (SEED_API.md: BytePlus list prices, collected
on PRICES_AS_OF; every run stores the table it used). evalseed.yaml overrides them (config.py)."""

from __future__ import annotations

from typing import Any

from .model_info import ModelInfo, Prices, Provider

# SEED_API.md: max_completion_tokens goes up to 65,536 (chain of thought included). Image input
# (`vision`): SEED_API.md says nothing on it; ByteDance presents Seed 1.6, 1.6-flash and 1.8 as
# multimodal models that read images, and gateways pass OpenAI `image_url` parts to ModelArk
# ("vision depends on the model"). Unconfirmed per version: a 400 surfaces as that case's error,
# and `vision: false` under `models:` in evalseed.yaml turns it off.
_SEED_TEXT: dict[str, Any] = dict(kind="text", max_output_tokens=4_096, max_completion_tokens=65_536, vision=True)

BUILTIN_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo(
            name="seed-1-6-250915",
            family="seed-1-6",
            context_window=131_072,
            prices=Prices(input=0.25, cached_input=0.05, output=2.00, long_input=0.50, long_output=4.00),
            **_SEED_TEXT,
        ),
        ModelInfo(
            name="seed-1-6-flash-250715",
            family="seed-1-6-flash",
            context_window=131_072,
            prices=Prices(input=0.075, cached_input=0.015, output=0.30, long_input=0.10, long_output=0.80),
            # ModelArk: flash has no structured output (json_schema); the Seed page lists
            # json_object for every Seed text model, so a schema suite asks flash for json_object.
            structured_output=False,
            schema_wire=None,
            notes="no json_schema: schema suites get json_object instead (recorded per row)",
            **_SEED_TEXT,
        ),
        ModelInfo(
            name="seed-1-8-251228",
            family="seed-1-8",
            context_window=131_072,
            prices=Prices(input=0.25, cached_input=0.05, output=2.00, long_input=0.50, long_output=4.00),
            default_rpm=30_000,
            default_tpm=1_500_000,
            **_SEED_TEXT,
        ),
        ModelInfo(
            name="seedream-4-5-251128",
            family="seedream-4-5",
            kind="image",
            context_window=0,
            max_output_tokens=0,
            prices=Prices(per_image=0.04),
            structured_output=False,
            schema_wire=None,
            json_object=False,
            tools=False,
            tool_choice=False,
            thinking=False,
            notes="0.04 USD per image (one source says 0.045)",
        ),
        ModelInfo(
            name="gemma-3-270m",
            family="gemma-3-270m",
            kind="text",
            context_window=32_768,
            max_output_tokens=192,
            # The base model rarely stops by itself and writes 16-30 tokens/s here: a cap keeps a
            # whole local run of the bundled suites to minutes (docs/offline.md).
            output_token_cap=192,
            prices=Prices(input=0.0, cached_input=0.0, output=0.0),
            tools=False,  # the gemma chat format emits no OpenAI tool_calls
            tool_choice=False,
            thinking=False,
            # llama-cpp-python's request types accept only text/json_object (no `json_schema`),
            # and a schema grammar inside json_object made answers 3.1x slower here, timing out
            # under load: json_extraction runs degraded (prompted) on it. docs/scoring.md.
            # A schema goes as json_object + schema (a grammar); the variant
            # `gemma-3-270m[constrained=true]` turns it on (docs/offline.md).
            structured_output=False,
            json_object=False,
            schema_wire="json_object",
            provider="local",
            notes="embedded Gemma 3 270M base model (llama.cpp, this machine); weak by design, free",
        ),
    ]
}

BUILTIN_PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in [
        Provider("aisa", "https://api.aisa.one/v1", "AISA_API_KEY"),
        Provider(
            "ark",
            "https://ark.ap-southeast.bytepluses.com/api/v3",
            "ARK_API_KEY",
            images_take_n=False,
            # ModelArk: seed-1-8 has a 256K window, at most 224K of it input (SEED_API.md).
            context_windows={"seed-1-8-251228": 262_144},
            limits={"seed-1-8-251228": {"max_input_tokens": 229_376}},
            documents_image_sizes=True,
        ),
        # base_url is filled in when evalseed starts the embedded llama.cpp server.
        Provider("local", None, None),
    ]
}

TEXT_MODELS = ["seed-1-6-250915", "seed-1-6-flash-250715", "seed-1-8-251228"]
BUILTIN_MODEL_SETS: dict[str, list[str]] = {
    "default": [*TEXT_MODELS, "seedream-4-5-251128"],
    "text": TEXT_MODELS,
    "seed": [*TEXT_MODELS, "seedream-4-5-251128"],
    "images": ["seedream-4-5-251128"],
    "local": ["gemma-3-270m"],
}
