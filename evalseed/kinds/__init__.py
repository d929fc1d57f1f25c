"""Task kinds by name. Each entry is imported only when a suite of that kind is loaded."""

from __future__ import annotations

import importlib

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

_loaded: dict[str, Kind] = {}


def get_kind(name: str) -> Kind:
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
