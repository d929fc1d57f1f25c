"""Unit and property tests of the JSON extraction scorer (evalseed.scoring.json_fields)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from evalseed.scoring.json_fields import check_schema, compare_fields, extract_json, flatten, schema_errors
from strategies import json_values as shared_json_values

SCHEMA = {
    "type": "object",
    "properties": {
        "total": {"type": "number"},
        "vendor": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["total", "vendor"],
}


def test_extract_plain_fenced_and_prose():
    assert extract_json('{"a": 1}').value == {"a": 1}
    e = extract_json('Here it is:\n```json\n{"a": 1}\n```\nDone.')
    assert e.parsed and e.fenced and e.value == {"a": 1}
    e = extract_json("```\n[1, 2]\n```")
    assert e.fenced and e.value == [1, 2]
    assert not extract_json('The answer is {"a": 1}').parsed
    assert not extract_json(None).parsed and not extract_json("").parsed


def test_flatten_paths():
    assert flatten({"a": {"b": 1}, "l": [{"x": 2}, 3], "e": []}) == {"a.b": 1, "l[0].x": 2, "l[1]": 3, "e": []}


def test_numbers_strings_and_chinese():
    exp = {"total": 1999, "vendor": "深圳市 腾达 有限公司", "note": "ＡＢＣ"}
    got = {"total": 1999.0, "vendor": "深圳市  腾达 有限公司 ", "note": "abc"}
    s = compare_fields(exp, got)
    assert s.all_equal and s.f1 == 1.0
    s = compare_fields({"total": 1999}, {"total": "1,999"})
    assert not s.all_equal and s.mismatches[0]["path"] == "total"
    assert not compare_fields({"ok": True}, {"ok": 1}).all_equal


def test_precision_recall():
    exp = {"a": 1, "b": 2, "c": {"d": 3}, "n": None}
    s = compare_fields(exp, {"a": 1, "b": 5, "x": "extra", "y": None})
    # right: a, n (absent, expected null) -> 2 of 4 expected; predicted a, b, x (y null ignored)
    assert s.recall == 0.5 and abs(s.precision - 2 / 3) < 1e-9
    assert s.missing == ["c.d"] and s.extra == ["x"]


def test_schema_errors_and_check():
    assert schema_errors({"total": 1, "vendor": "v"}, SCHEMA) == []
    errs = schema_errors({"total": "1,999", "vendor": "v", "items": [1]}, SCHEMA)
    assert any(e.startswith("total:") for e in errs) and any(e.startswith("items[0]:") for e in errs)
    assert check_schema({"type": "nonsense"}) is not None
    assert check_schema(SCHEMA) is None


json_values = shared_json_values(text_size=12, key_size=6, max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_string_parses_or_fails_cleanly(text):
    e = extract_json(text)
    assert e.parsed or e.error


def _meets_schema(v) -> bool:
    """SCHEMA checked by hand, independently of jsonschema."""
    def number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    return (isinstance(v, dict) and "total" in v and "vendor" in v and number(v["total"])
            and isinstance(v["vendor"], str)
            and ("items" not in v or (isinstance(v["items"], list) and all(isinstance(i, dict) for i in v["items"]))))


@settings(max_examples=300, deadline=None)
@given(exp=json_values, got=json_values)
def test_any_json_compares_within_bounds(exp, got):
    s = compare_fields(exp, got)
    for x in (s.precision, s.recall, s.f1):
        assert 0.0 <= x <= 1.0
    errs = schema_errors(got, SCHEMA)
    assert isinstance(errs, list) and len(errs) <= 5 and all(isinstance(e, str) and ": " in e for e in errs)
    assert (errs == []) == _meets_schema(got), errs
    json.dumps(s.mismatches, default=str)


@settings(max_examples=200, deadline=None)
@given(value=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=25,
))
def test_self_comparison_is_perfect(value):
    dumped = json.loads(json.dumps(value))
    s = compare_fields(dumped, dumped)
    assert s.all_equal and s.recall == 1.0


def test_deep_nesting_does_not_crash():
    deep = "[" * 5000 + "]" * 5000
    e = extract_json(deep)  # parses, or fails as a recorded error: never a RecursionError
    assert e.parsed or e.error
    v = []
    for _ in range(3000):
        v = [v]
    compare_fields({"a": 1}, v)
    schema_errors(v, SCHEMA)
