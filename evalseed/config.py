"""Models, providers, model sets and prices: built in, overridable by `evalseed.yaml`.

Prices and context windows come from SEED_API.md (BytePlus list prices; the pages are undated, so
the table carries the date we collected it and every run stores the table it used).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import UsageError
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


@dataclass
class Config:
    models: dict[str, ModelInfo]
    providers: dict[str, Provider]
    model_sets: dict[str, list[str]]
    default_provider: str = "aisa"
    source: str | None = None  # the evalseed.yaml it came from
    notices: list[str] = field(default_factory=list)

    def resolve_model(self, name: str, *, allow_unknown: bool = False) -> ModelInfo:
        """The model's entry; a new version string of a known family inherits the family's newest
        entry (so a version bump needs no configuration); `base[key=value,...]` is a variant of
        base with those request params."""
        if name in self.models:
            return self.models[name]
        latest = self.family_alias(name)
        if latest is not None:
            return self.models[latest]
        spec = parse_variant(name)
        if spec is not None:
            # A model set of one model may stand for it: `local[constrained=true]`.
            in_set = self.model_sets.get(spec[0], [])
            base_name = in_set[0] if len(in_set) == 1 and spec[0] not in self.models else spec[0]
            base = self.resolve_model(base_name, allow_unknown=allow_unknown)
            info = make_variant(name, base, spec[1])
            self.models[name] = info
            return info
        m = VERSION_RE.match(name)
        if m:
            family = m.group("family")
            members = sorted(
                (info for info in self.models.values() if info.family == family and not info.inherited_from),
                key=lambda info: info.name,
            )
            if members:
                base = members[-1]
                info = replace(base, name=name, inherited_from=base.name)
                self.models[name] = info
                self.notices.append(
                    f"{name} is not in the model table: using {base.name}'s context window, features and prices."
                )
                return info
        if allow_unknown:
            info = ModelInfo(name=name, family=name, notes="not in the model table: prices unknown")
            self.models[name] = info
            self.notices.append(f"{name} is not in the model table: its cost is recorded as unknown.")
            return info
        raise UsageError(self.unknown_model_message(name))

    def family_alias(self, name: str) -> str | None:
        """A family name (`seed-1-8`) as the newest model of that family in the table
        (`seed-1-8-251228`), with a notice; None when `name` is no family."""
        members = sorted(m.name for m in self.models.values()
                         if m.family == name and not m.inherited_from and not m.base_model and m.name != name)
        if not members:
            return None
        note = f"{name} means {members[-1]}, the newest {name} in the model table."
        if note not in self.notices:
            self.notices.append(note)
        return members[-1]

    def unknown_model_message(self, name: str) -> str:
        """One sentence for an unknown model: the closest names (models, families, sets), else the list."""
        import difflib

        families = {m.family for m in self.models.values() if m.family}
        candidates = sorted(set(self.models) | families | set(self.model_sets))
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        if close:
            hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
        else:
            hint = f"use one of {', '.join(sorted(self.models))} or a model set ({', '.join(sorted(self.model_sets))})."
        return (f"unknown model {name!r}: {hint} `evalseed models` lists them; "
                "a model of your own goes in evalseed.yaml.")

    def expand_models(self, spec: str) -> list[str]:
        """`--models` value: a model set name or a comma-separated list (sets may appear in it)."""
        names: list[str] = []
        for part in (p.strip() for p in split_models(spec)):
            if not part:
                continue
            for n in self.model_sets.get(part, [part]):
                n = self.family_alias(n) or n if n not in self.models else n
                if n not in names:
                    names.append(n)
        if not names:
            raise UsageError("--models is empty: name a model set or models, e.g. --models text.")
        return names

    def provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            raise UsageError(
                f"unknown provider {name!r}: use one of {', '.join(sorted(self.providers))} or --base-url."
            ) from None

    def effective_model(self, info: ModelInfo, provider: Provider) -> ModelInfo:
        """The model as seen through a provider (its context window and prices may differ)."""
        changes: dict[str, Any] = {}
        # A version bump sees its parent's provider-specific window and prices too; a variant its
        # base model's.
        for name in (info.inherited_from, info.base_model, info.name):
            if name and name in provider.context_windows:
                changes["context_window"] = provider.context_windows[name]
            if name and name in provider.price_overrides:
                changes["prices"] = provider.price_overrides[name]
            if name and name in provider.limits:
                changes.update(provider.limits[name])
        if info.kind == "image" and provider.documents_image_sizes:
            changes["documented_sizes"] = True
        return replace(info, **changes) if changes else info

    def price_table(self, used: Mapping[str, ModelInfo] | None = None) -> dict[str, Any]:
        """Every model's prices; for the models in `used` (a run's, as its providers see them)
        the prices that run is charged, provider overrides included: the audit trail of a run
        must show what its cost_usd was computed from."""
        models = {**self.models, **(used or {})}
        return {
            "as_of": PRICES_AS_OF,
            "source": PRICES_SOURCE,
            "models": {
                n: {k: getattr(m.prices, k) for k in Prices.__slots__ if getattr(m.prices, k) is not None}
                for n, m in sorted(models.items())
            },
        }


_VARIANT = re.compile(r"^(?P<base>[^\[\],]+)\[(?P<params>[^\[\]]*)\]$")


def split_models(spec: str) -> list[str]:
    """`a,b[x=1,y=2],c` -> ['a', 'b[x=1,y=2]', 'c']: commas inside brackets belong to a variant."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in spec:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_variant(name: str) -> tuple[str, dict[str, Any]] | None:
    """`seed-1-8-251228[thinking=disabled,reasoning_effort=minimal]` -> (base, request params).
    `thinking=X` is shorthand for Seed's `{"type": X}`; other values are read as YAML scalars."""
    m = _VARIANT.match(name.strip())
    if not m:
        return None
    import yaml

    params: dict[str, Any] = {}
    for item in filter(None, (x.strip() for x in m.group("params").split(","))):
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"model variant {name!r}: {item!r} is not key=value; e.g. {m.group('base')}[thinking=disabled].")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        params[key.strip()] = {"type": value} if key.strip() == "thinking" and isinstance(value, str) else value
    if not params:
        raise UsageError(f"model variant {name!r} sets no parameter; e.g. {m.group('base')}[thinking=disabled].")
    return m.group("base").strip(), params


def make_variant(name: str, base: ModelInfo, params: dict[str, Any]) -> ModelInfo:
    asked, params = params, dict(params)
    features: dict[str, Any] = {}
    if "constrained" in params:  # evalseed's own option, not a request parameter (issue 20)
        value = params.pop("constrained")
        if not isinstance(value, bool):
            raise UsageError(f"model variant {name!r}: constrained is true or false, not {value!r}.")
        if value and not base.schema_wire:
            raise UsageError(f"model variant {name!r}: {base.api_name} takes no JSON schema, so its answers "
                             "cannot be constrained.")
        features = {"constrained": value, "structured_output": value or base.structured_output}
    return replace(base, name=name, base_model=base.api_name, request_params={**base.request_params, **params},
                   notes=f"variant of {base.api_name}: {asked}", **features)


def _prices_from(raw: Any, base: Prices, where: str) -> Prices:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: prices must be a mapping such as {{input: 0.25, output: 2.0}}.")
    unknown = set(raw) - set(Prices.__slots__)
    if unknown:
        raise UsageError(f"{where}: unknown price key(s) {sorted(unknown)}; use {list(Prices.__slots__)}.")
    for k, v in raw.items():
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0):
            raise UsageError(f"{where}.{k}: a price must be a number >= 0 (USD per million tokens or per image).")
    return replace(base, **{k: (float(v) if v is not None else None) for k, v in raw.items()})


_MODEL_KEYS = {f for f in ModelInfo.__dataclass_fields__} - {"name", "inherited_from", "documented_sizes",
                                                              "base_model", "request_params"}
_LIMIT_KEYS = {"max_input_tokens", "max_completion_tokens"}


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Built-in tables, overridden by `evalseed.yaml` (the given path, or the working directory's)."""
    models = dict(BUILTIN_MODELS)
    providers = dict(BUILTIN_PROVIDERS)
    sets = {k: list(v) for k, v in BUILTIN_MODEL_SETS.items()}
    cfg = Config(models, providers, sets)
    p = Path(path) if path else Path("evalseed.yaml")
    if not p.exists():
        if path:
            raise UsageError(f"{p}: configuration file not found.")
        return cfg
    import yaml

    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UsageError(f"{p}{line}: not valid YAML ({getattr(e, 'problem', e)}).") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{p}: the top level must be a mapping.")
    allowed = {"provider", "providers", "models", "model_sets", "variants"}
    if set(raw) - allowed:
        raise UsageError(f"{p}: unknown key(s) {sorted(set(raw) - allowed)}; allowed: {sorted(allowed)}.")
    cfg.source = str(p)
    for name, spec in (raw.get("models") or {}).items():
        where = f"{p} models.{name}"
        if not isinstance(spec, dict):
            raise UsageError(f"{where}: must be a mapping.")
        bad = set(spec) - _MODEL_KEYS
        if bad:
            raise UsageError(f"{where}: unknown key(s) {sorted(bad)}; allowed: {sorted(_MODEL_KEYS)}.")
        # A user's model named like `acme-7-250101` forms the family `acme-7`, so its next version
        # is accepted without configuration, as for the built-in families.
        vm = VERSION_RE.match(name)
        base = models.get(name) or ModelInfo(name=name, family=vm.group("family") if vm else name)
        spec = dict(spec)
        if "prices" in spec:
            spec["prices"] = _prices_from(spec["prices"], base.prices, f"{where}.prices")
        models[name] = replace(base, **spec)
    for name, spec in (raw.get("providers") or {}).items():
        where = f"{p} providers.{name}"
        if not isinstance(spec, dict):
            raise UsageError(f"{where}: must be a mapping.")
        prov_base = providers.get(name) or Provider(name, None, None)
        spec = dict(spec)
        bad = set(spec) - {"base_url", "api_key_env", "images_take_n", "context_windows", "prices", "limits",
                           "documents_image_sizes"}
        if bad:
            raise UsageError(f"{where}: unknown key(s) {sorted(bad)}.")
        if "limits" in spec:
            limits = dict(prov_base.limits)
            for m, lim in (spec.pop("limits") or {}).items():
                if not isinstance(lim, dict) or set(lim) - _LIMIT_KEYS or not all(
                        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in lim.values()):
                    raise UsageError(f"{where}.limits.{m}: a mapping of {sorted(_LIMIT_KEYS)} to whole numbers > 0.")
                limits[m] = {**limits.get(m, {}), **lim}
            spec["limits"] = limits
        if "prices" in spec:
            overrides = dict(prov_base.price_overrides)
            for m, pr in (spec.pop("prices") or {}).items():
                overrides[m] = _prices_from(pr, models.get(m, ModelInfo(m)).prices, f"{where}.prices.{m}")
            spec["price_overrides"] = overrides
        providers[name] = replace(prov_base, **spec)
    for name, spec in (raw.get("variants") or {}).items():
        where = f"{p} variants.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("model"), str) or set(spec) - {"model", "params", "provider"}:
            raise UsageError(f"{where}: give model (the base model) and params (request params), and optionally provider.")
        params = spec.get("params") or {}
        if not isinstance(params, dict) or not params:
            raise UsageError(f"{where}.params: a mapping of request parameters, e.g. {{thinking: {{type: disabled}}}}.")
        if "provider" in spec and spec["provider"] not in providers:
            raise UsageError(f"{where}.provider: unknown provider {spec['provider']!r}.")
        variant = make_variant(name, cfg.resolve_model(spec["model"]), params)
        models[name] = replace(variant, provider=spec.get("provider", variant.provider))
    for name, members in (raw.get("model_sets") or {}).items():
        if not isinstance(members, list) or not all(isinstance(x, str) for x in members):
            raise UsageError(f"{p} model_sets.{name}: must be a list of model names.")
        sets[name] = members
    if "provider" in raw:
        if raw["provider"] not in providers:
            raise UsageError(f"{p} provider: unknown provider {raw['provider']!r}.")
        cfg.default_provider = raw["provider"]
    cfg.notices.append(f"configuration from {p} ({'--config' if path else 'found in the working folder'}).")
    _guard_builtin_keys(providers, p, explicit=path is not None, notices=cfg.notices)
    return cfg


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def _guard_builtin_keys(providers: dict[str, Provider], where: Path, *, explicit: bool, notices: list[str]) -> None:
    """A cloned repository may ship an evalseed.yaml: found in the working folder, it must not send
    a built-in provider's key (AISA_API_KEY, ARK_API_KEY) to another host, neither by moving that
    provider nor by a provider of its own that names the same variable. Passed with --config, the
    user asked for it; it is allowed and said."""
    homes = {bp.api_key_env: _origin(bp.base_url) for bp in BUILTIN_PROVIDERS.values()
             if bp.api_key_env and bp.base_url}
    for name, prov in providers.items():
        if not prov.base_url:
            continue
        origin = _origin(prov.base_url)
        home = homes.get(prov.api_key_env or "")
        builtin = BUILTIN_PROVIDERS.get(name)
        if home and origin != home:
            if not explicit:
                raise UsageError(
                    f"{where}: provider {name} would send {prov.api_key_env} to {origin} instead of {home}, and a "
                    f"configuration file found in the working folder may not redirect a built-in key; if you trust "
                    f"this file, pass it with --config {where}.")
            notices.append(f"{where}: provider {name} sends {prov.api_key_env} to {origin} (built in: {home}).")
        elif builtin and builtin.base_url and origin != _origin(builtin.base_url):
            notices.append(f"{where}: provider {name} is at {origin} (built in: {_origin(builtin.base_url)}).")
