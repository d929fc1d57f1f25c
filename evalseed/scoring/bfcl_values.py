"""BFCL's rules for one value against the allowed ones (see bfcl_ast's docstring): JSON kinds and
type fit, string normalisation, equality, allowed-value objects, and the exact comparison of
variables."""

from __future__ import annotations

import re
from typing import Any

_NORMALISE_RE = re.compile(r"[ ,./\-_*^]")


def normalise_string(text: str) -> str:
    """BFCL's string normalisation: spaces and `,./-_*^` dropped, lowercased, `'` made `"`, so
    "April 1, 2024" and "april 1 2024" compare equal."""
    return _NORMALISE_RE.sub("", text).lower().replace("'", '"')



# Python types to JSON kinds, bool before int (a bool is an int to isinstance).
_JSON_KINDS = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
               (dict, "object"))


def json_kind(v: Any) -> str:
    if v is None:
        return "null"
    for py_type, name in _JSON_KINDS:
        if isinstance(v, py_type):
            return name
    return type(v).__name__


def fits_type(v: Any, schema_type: Any) -> bool:
    """Strict JSON type check; int fits `number`; no type (or BFCL's `any`) fits everything."""
    if schema_type is None or schema_type == "any":
        return True
    if isinstance(schema_type, list):
        return any(fits_type(v, t) for t in schema_type)
    k = json_kind(v)
    if schema_type == "number":
        return k in ("integer", "number")
    if schema_type == "float":  # BFCL spelling, when tools are given in BFCL form
        return k in ("integer", "number")
    return k == {"dict": "object", "tuple": "array"}.get(schema_type, schema_type)


def first_allowed(allowed: list) -> Any:
    for a in allowed:
        if a != "":
            return a
    return ""


def _item_fits(x: Any, item_type: Any, lenient: bool) -> bool:
    if not lenient and item_type in ("number", "float") and json_kind(x) == "integer":
        return False  # BFCL converts ints to float at the top level only
    return fits_type(x, item_type)


def items_fit(value: list, item_type: Any, allowed: list, lenient: bool = False) -> bool:
    """Array items have the items type; as BFCL does one level down, items whose type equals that
    of the first element of an allowed list are accepted too (the expected answer's own type)."""
    if all(_item_fits(x, item_type, lenient) for x in value):
        return True
    for cand in allowed:
        if isinstance(cand, list) and cand:
            k = json_kind(cand[0])
            if all(_item_fits(x, item_type, lenient) or json_kind(x) == k for x in value):
                return True
    return False


def _equal(a: Any, b: Any) -> bool:
    """Value equality: strings after normalisation, numbers as numbers (bool apart), lists by
    order, objects by key."""
    ka, kb = json_kind(a), json_kind(b)
    if ka == "string" or kb == "string":
        return ka == kb and normalise_string(a) == normalise_string(b)
    if ka in ("integer", "number") and kb in ("integer", "number"):
        return a == b
    if ka != kb:
        return False
    if ka == "array":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if ka == "object":
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _object_matches(value: dict, allowed_obj: dict) -> str | None:
    """`value` against one allowed-value object `{key: [allowed values]}`; a reason or None."""
    for k, v in value.items():
        if k not in allowed_obj:
            return f"unexpected key {k!r}"
        opts = allowed_obj[k] if isinstance(allowed_obj[k], list) else [allowed_obj[k]]
        if not any(_equal(v, o) for o in opts):
            return f"key {k!r} = {v!r} is not one of {opts!r}"
    for k, opts in allowed_obj.items():
        if k not in value and not (isinstance(opts, list) and "" in opts):
            return f"missing key {k!r}"
    return None


def value_matches(value: Any, allowed: list, schema: dict) -> bool:
    stype = schema.get("type")
    items_type = (schema.get("items") or {}).get("type") if isinstance(schema.get("items"), dict) else None
    for cand in allowed:
        if stype in ("object", "dict") and isinstance(value, dict) and isinstance(cand, dict):
            if _object_matches(value, cand) is None:
                return True
        elif (items_type in ("object", "dict") and isinstance(value, list) and isinstance(cand, list)
              and all(isinstance(c, dict) for c in cand)):
            if len(value) == len(cand) and all(
                isinstance(v, dict) and _object_matches(v, c) is None for v, c in zip(value, cand)
            ):
                return True
        elif _equal(value, cand):
            return True
    return False


def exact_match(value: Any, allowed: list) -> bool:
    """BFCL's comparison for variables: equal value of the same kind, no normalisation."""
    return any(json_kind(value) == json_kind(a) and value == a for a in allowed)
