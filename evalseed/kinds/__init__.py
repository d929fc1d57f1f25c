"""Task kinds by name: the registry. A kind is one package, `evalseed/kinds/<kind>/`, and one line
below (docs/design.md, "Adding a kind"). Each entry is imported only when it is needed; whatever
differs by kind elsewhere (the metrics, the report, the synthetic data, tests) loops over this
registry through `all_kinds()` and never names a kind."""

from __future__ import annotations

import importlib
from typing import Any

from .base import Kind

# name -> "module:attribute" of a Kind instance. One line per kind.
KINDS: dict[str, str] = {
    "classification": "evalseed.kinds.classification:KIND",
    "json_extraction": "evalseed.kinds.json_extraction:KIND",
    "tool_calling": "evalseed.kinds.tool_calling:KIND",
    "long_context": "evalseed.kinds.long_context:KIND",
    "image": "evalseed.kinds.image:KIND",
    "generation": "evalseed.kinds.generation:KIND",
}

_loaded: dict[str, Kind[Any, Any]] = {}


def get_kind(name: str) -> Kind[Any, Any]:
    """The Kind for a suite's `kind:` value; KeyError when unknown or not built yet."""
    if name not in _loaded:
        module, attr = KINDS[name].split(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:
                raise KeyError(name) from None
            raise
        _loaded[name] = getattr(mod, attr)
    return _loaded[name]


def all_kinds() -> list[Kind[Any, Any]]:
    """Every registered kind, in registry order."""
    return [get_kind(name) for name in KINDS]


def score_name(kind: str | None) -> str:
    """What compare calls a kind's per-case score (`Kind.score_name`); "score" for no known kind."""
    return get_kind(kind).score_name if kind in KINDS else "score"
