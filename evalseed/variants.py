"""Model variants: a model id with request parameters, `seed-1-8-251228[thinking=disabled]` on the
command line or under `variants:` in evalseed.yaml, a model of its own in results (docs/design.md)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from .errors import UsageError
from .model_info import ModelInfo

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
