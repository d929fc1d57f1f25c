"""JSON extraction scoring on plain data: find the JSON in an answer, validate it against a JSON
Schema (draft 2020-12), and compare it field by field with the expected object.

Fields are leaves addressed by path: `buyer.address.city`, `items[0].qty`. Objects are compared
by key, lists by position. Strings compare after normalisation (Unicode NFKC, case folded,
whitespace runs collapsed, ends trimmed), so full-width and half-width forms of CJK punctuation and
digits agree; numbers compare as numbers (1999 == 1999.0), and a number never equals a string:
"1,999" against 1999 is a mismatch (a schema that wants a string makes both sides strings).
Booleans and null compare exactly.

Precision = expected fields the answer got right / fields the answer gave; recall = expected fields
got right / expected fields; F1 their harmonic mean. An answer's null for a field the expected
object lacks is not counted against it (it said "not there"), and an expected null is matched by
null or by leaving the field out.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

_FENCE_RE = re.compile(r"```[ \t]*(?:json|JSON|jsonc|json5)?[ \t]*\r?\n(.*?)\r?\n?[ \t]*```", re.S)
_MISSING = object()


@dataclass(slots=True)
class Extracted:
    value: Any = None
    parsed: bool = False
    fenced: bool = False
    error: str | None = None


def extract_json(text: Any) -> Extracted:
    """The JSON an answer holds: the whole answer, or else the first fenced code block (```json
    or bare ```) that parses. Never raises."""
    if not isinstance(text, str):
        return Extracted(error="no text answer")
    body = text.strip().lstrip("\ufeff")
    if not body:
        return Extracted(error="empty answer")
    try:
        return Extracted(json.loads(body), parsed=True)
    except (ValueError, RecursionError) as e:
        first_error = f"not JSON: {str(e)[:160]}"
    for m in _FENCE_RE.finditer(body):
        try:
            return Extracted(json.loads(m.group(1)), parsed=True, fenced=True)
        except (ValueError, RecursionError):
            continue
    return Extracted(error=first_error)


def normalise_text(s: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s).casefold()).strip()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON value by path. Empty objects and lists are leaves themselves."""
    out: dict[str, Any] = {}
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:  # iterative: a deeply nested answer must not blow the stack
        path, v = stack.pop()
        if isinstance(v, dict) and v:
            for k, x in v.items():
                stack.append((f"{path}.{k}" if path else str(k), x))
        elif isinstance(v, list) and v:
            for i, x in enumerate(v):
                stack.append((f"{path}[{i}]", x))
        else:
            out[path] = v
    return out


def values_equal(expected: Any, got: Any) -> bool:
    """Leaf equality; see the module docstring."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return isinstance(expected, bool) and isinstance(got, bool) and expected == got
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        if isinstance(expected, float) and isinstance(got, float) and (math.isnan(expected) or math.isnan(got)):
            return False
        return expected == got
    if isinstance(expected, str) and isinstance(got, str):
        return normalise_text(expected) == normalise_text(got)
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, (dict, list)) and isinstance(got, (dict, list)):
        return type(expected) is type(got) and len(expected) == 0 and len(got) == 0
    return False


@dataclass(slots=True)
class FieldScore:
    precision: float
    recall: float
    f1: float
    correct: int
    n_expected: int
    n_predicted: int
    mismatches: list[dict] = field(default_factory=list)  # {path, expected, got}
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def all_equal(self) -> bool:
        return self.correct == self.n_expected


def compare_fields(expected: Any, got: Any, limit: int = 20) -> FieldScore:
    """Field-level precision / recall / F1 of `got` against `expected` (see module docstring).
    `limit` caps the mismatch, missing and extra lists kept for `details`."""
    exp = flatten(expected)
    pred = flatten(got) if isinstance(got, (dict, list)) else {"": got}
    correct = 0
    mismatches, missing = [], []
    for path, e in exp.items():
        g = pred.get(path, _MISSING)
        if g is _MISSING:
            if e is None:
                correct += 1
            else:
                missing.append(path)
        elif values_equal(e, g):
            correct += 1
        else:
            mismatches.append({"path": path, "expected": e, "got": g})
    extra = [p for p, v in pred.items() if p not in exp and v is not None]
    # Predicted fields: those the answer gave that count (matched paths, plus its non-null extras).
    n_pred = sum(1 for p in exp if p in pred) + len(extra)
    n_exp = len(exp)
    precision = correct / n_pred if n_pred else (1.0 if n_exp == 0 else 0.0)
    # Expected nulls matched by absence are right without being predicted: cap at 1.
    precision = min(precision, 1.0)
    recall = correct / n_exp if n_exp else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return FieldScore(precision, recall, f1, correct, n_exp, n_pred,
                      mismatches[:limit], missing[:limit], extra[:limit])


def schema_errors(value: Any, schema: dict, limit: int = 5) -> list[str]:
    """Draft 2020-12 validation errors of `value` (empty: valid), each as `path: message`."""
    errors = []
    try:
        for err in _validator(schema).iter_errors(value):
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
            errors.append(f"{where or '(root)'}: {err.message[:200]}")
            if len(errors) >= limit:
                break
    except RecursionError:
        errors.append("(root): nested too deeply to validate")
    return errors


def _validator(schema: dict):
    """The draft 2020-12 validator of `schema`, built once per distinct schema (a suite scores
    every case against the same one). The key is the JSON text in the schema's own key order:
    validation walks keywords in that order, so errors come out as from a fresh validator."""
    try:
        key = json.dumps(schema)
    except (TypeError, ValueError, RecursionError):  # not plain JSON: no cache key, build it afresh
        from jsonschema import Draft202012Validator

        return Draft202012Validator(schema)
    return _validator_for_text(key)


@lru_cache(maxsize=256)
def _validator_for_text(text: str):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(text))


def check_schema(schema: Any) -> str | None:
    """Why `schema` is no valid draft 2020-12 schema, or None."""
    if not isinstance(schema, dict):
        return "a JSON Schema must be an object"
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):
        return "a JSON Schema must be plain JSON"
    return _check_schema_text(key)


@lru_cache(maxsize=4096)
def _check_schema_text(text: str) -> str | None:
    # Memoised on the canonical text: imported suites repeat the same tool schemas thousands of
    # times, and one meta-schema check costs ~14 ms.
    from jsonschema.exceptions import best_match

    err = best_match(_meta_validator().iter_errors(json.loads(text)))
    return err.message if err is not None else None


@lru_cache(maxsize=1)
def _meta_validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(Draft202012Validator.META_SCHEMA)
