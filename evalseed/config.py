"""Models, providers, model sets and prices: built in (builtin_models.py), overridable by
`evalseed.yaml`. The types are in model_info.py, variants in variants.py; their names are
importable from here too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .builtin_models import (
    BUILTIN_MODEL_SETS,
    BUILTIN_MODELS,
    BUILTIN_PROVIDERS,
    TEXT_MODELS,
)
from .errors import UsageError
from .model_info import (
    LONG_PROMPT_THRESHOLD,
    PRICES_AS_OF,
    PRICES_SOURCE,
    VERSION_RE,
    ModelInfo,
    Prices,
    Provider,
)
from .variants import make_variant, parse_variant, split_models

__all__ = [
    "BUILTIN_MODELS",
    "BUILTIN_MODEL_SETS",
    "BUILTIN_PROVIDERS",
    "LONG_PROMPT_THRESHOLD",
    "PRICES_AS_OF",
    "PRICES_SOURCE",
    "TEXT_MODELS",
    "VERSION_RE",
    "Config",
    "ModelInfo",
    "Prices",
    "Provider",
    "load_config",
    "make_variant",
    "parse_variant",
    "split_models",
]


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
