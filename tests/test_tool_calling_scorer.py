"""Unit and property tests of the BFCL-rule tool-call scorer (evalseed.scoring.bfcl_ast)."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from evalseed.scoring.bfcl_ast import (
    REASONS,
    ToolCall,
    check_calls,
    normalise_string,
    parse_tool_calls,
    score_tool_calls,
    wire_names,
)
from strategies import json_values as shared_json_values

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "threshold": {"type": "number"},
            "metric": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "filters": {"type": "object", "properties": {"min": {"type": "number"}, "label": {"type": "string"}}},
        },
        "required": ["city"],
    }}},
    {"type": "function", "function": {"name": "book.room", "parameters": {
        "type": "object", "properties": {"hotel": {"type": "string"}, "nights": {"type": "integer"}},
        "required": ["hotel"]}}},
]


def tc(name, args, raw=None):
    return {"id": "x", "type": "function",
            "function": {"name": name, "arguments": raw if raw is not None else json.dumps(args)}}


def verdict(expected, calls, order="any"):
    return score_tool_calls(TOOLS, expected, calls, order, {"book_room": "book.room"})


def test_normalisation_follows_bfcl():
    assert normalise_string("April 1, 2024") == normalise_string("april 1 2024")
    assert normalise_string("New-York_City.") == "newyorkcity"
    assert normalise_string("it's") == 'it"s'


def test_string_int_float_bool_rules():
    exp = [{"get_weather": {"city": ["San Francisco, CA"], "days": [3, ""], "threshold": [2.0, ""],
                            "metric": [True, ""]}}]
    assert verdict(exp, [tc("get_weather", {"city": "san francisco ca"})]).passed
    assert verdict(exp, [tc("get_weather", {"city": "SF", "days": 3})]).failure.reason == "value_error"
    # int accepted for number; 2.0 is no integer; a bool is no integer
    assert verdict(exp, [tc("get_weather", {"city": "San Francisco, CA", "threshold": 2})]).passed
    assert verdict(exp, [tc("get_weather", {"city": "San Francisco, CA", "days": 3.0})]).failure.reason == "type_error"
    assert verdict(exp, [tc("get_weather", {"city": "San Francisco, CA", "days": True})]).failure.reason == "type_error"
    assert verdict(exp, [tc("get_weather", {"city": "San Francisco, CA", "metric": 1})]).failure.reason == "type_error"


def test_optional_missing_and_unexpected():
    exp = [{"get_weather": {"city": ["Paris"], "days": [2]}}]
    assert verdict(exp, [tc("get_weather", {"city": "Paris"})]).failure.reason == "missing_required"
    assert verdict(exp, [tc("get_weather", {"days": 2})]).failure.reason == "missing_required"
    # in the schema but not in the expected answer: must not be sent
    got = verdict(exp, [tc("get_weather", {"city": "Paris", "days": 2, "metric": True})])
    assert got.failure.reason == "unexpected_param" and got.failure.param == "metric"


def test_lists_by_order_dicts_by_key():
    exp = [{"get_weather": {"city": ["Oslo"], "tags": [["Rain", "wind"]],
                            "filters": [{"min": [1.5], "label": ["cold", ""]}]}}]
    assert verdict(exp, [tc("get_weather", {"city": "Oslo", "tags": ["rain", "Wind"], "filters": {"min": 1.5}})]).passed
    assert verdict(exp, [tc("get_weather", {"city": "Oslo", "tags": ["wind", "rain"], "filters": {"min": 1.5}})]
                   ).failure.reason == "value_error"
    assert verdict(exp, [tc("get_weather", {"city": "Oslo", "tags": ["rain", "wind"], "filters": {"min": 1.5, "x": 1}})]
                   ).failure.reason == "value_error"
    assert verdict(exp, [tc("get_weather", {"city": "Oslo", "tags": ["rain", 5], "filters": {"min": 1.5}})]
                   ).failure.reason == "type_error"


def test_irrelevance_and_counts():
    assert verdict([], []).passed
    assert verdict([], [tc("get_weather", {"city": "x"})]).failure.reason == "wrong_count"
    assert verdict([{"get_weather": {"city": ["x"]}}], []).failure.reason == "wrong_count"


def test_dotted_name_maps_back_and_invalid_json():
    exp = [{"book.room": {"hotel": ["Ritz"], "nights": [2, ""]}}]
    assert verdict(exp, [tc("book_room", {"hotel": "ritz"})]).passed
    assert verdict(exp, [tc("book_room", None, raw='{"hotel": "ritz"')]).failure.reason == "invalid_json"
    assert verdict(exp, [tc("book_room", None, raw='["ritz"]')]).failure.reason == "invalid_json"
    assert verdict(exp, [tc("get_weather", {"city": "ritz"})]).failure.reason == "wrong_name"


def test_matching_where_greedy_fails():
    """The first expected entry allows x in {1, 2}, the second only 1. Greedy gives the first
    entry the x=1 call and leaves the second nothing; the bipartite matching passes."""
    exp = [{"get_weather": {"city": ["A", "B"]}}, {"get_weather": {"city": ["A"]}}]
    calls = [tc("get_weather", {"city": "A"}), tc("get_weather", {"city": "B"})]
    v = verdict(exp, calls)
    assert v.passed and v.greedy_passed is False
    assert sorted(v.matching) == [(0, 1), (1, 0)]
    assert not verdict(exp, calls, order="strict").passed


def test_parallel_typed_failure_points_at_the_bad_call():
    exp = [{"get_weather": {"city": ["A"], "days": [1]}}, {"get_weather": {"city": ["B"], "days": [2]}}]
    v = verdict(exp, [tc("get_weather", {"city": "B", "days": 2}), tc("get_weather", {"city": "A", "days": "1"})])
    assert v.failure.reason == "type_error" and v.failure.call_index == 1 and v.failure.expected_index == 0


def test_wire_names_valid_and_one_to_one():
    names = ["a.b", "a_b", "x" * 80, "x" * 80 + ".y", "ok-name", "数据.查询", ""]
    m = wire_names(names)
    assert len(set(m.values())) == len(m) == len(names)
    assert m["a_b"] == "a_b" and m["ok-name"] == "ok-name"
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", w) for w in m.values())


json_values = shared_json_values()


@settings(max_examples=300, deadline=None)
@given(raw=json_values | st.lists(json_values, max_size=4))
def test_any_tool_call_shape_is_a_scored_verdict(raw):
    v = score_tool_calls(TOOLS, [{"get_weather": {"city": ["Oslo"]}}], raw)
    assert isinstance(v.passed, bool)
    assert v.passed or v.failure.reason in REASONS
    json.dumps(v.to_dict(), default=str)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["get_weather", "book_room", "other"]), raw=st.text(max_size=60),
       args=st.dictionaries(st.sampled_from(["city", "days", "threshold", "metric", "tags", "filters", "z"]),
                            json_values, max_size=5))
def test_any_arguments_never_crash(name, raw, args):
    exp = [{"get_weather": {"city": ["Oslo"], "days": [1, ""], "filters": [{"min": [1], "label": ["", "x"]}]}}]
    for calls in ([tc(name, None, raw=raw)], [tc(name, args)], [tc(name, args), tc(name, args)]):
        v = verdict(exp, calls)
        assert v.passed or v.failure.reason in REASONS


@settings(max_examples=200, deadline=None)
@given(expected=json_values, calls=st.lists(st.builds(ToolCall, st.text(max_size=10), st.dictionaries(
    st.text(max_size=5), json_values, max_size=3), st.integers(0, 5)), max_size=3))
def test_any_expected_shape_never_crashes(expected, calls):
    exp = expected if isinstance(expected, list) else [expected]
    v = check_calls(TOOLS, exp, calls)
    assert v.passed or v.failure.reason in REASONS


def test_parse_keeps_calls_before_a_bad_one():
    calls, failure = parse_tool_calls([tc("a", {"x": 1}), {"function": "oops"}])
    assert [c.name for c in calls] == ["a"] and failure.reason == "invalid_json" and failure.call_index == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=8))
def test_any_tool_names_map_one_to_one(names):
    m = wire_names(names)
    assert set(m) == set(names)
    assert len(set(m.values())) == len(m)
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", w) for w in m.values())


# ---- BFCL's rules by default, evalseed's old leniencies on request (issue 18, item 14) ----------

_FLOATS = [{"type": "function", "function": {"name": "avg", "parameters": {
    "type": "object", "properties": {"xs": {"type": "array", "items": {"type": "float"}}}, "required": ["xs"]}}}]
_VAR = [{"type": "function", "function": {"name": "greet", "parameters": {
    "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}]


def _tc(name, args):
    import json as _json

    return [{"id": "c", "type": "function", "function": {"name": name, "arguments": _json.dumps(args)}}]


def test_ints_in_a_float_array_fail_as_bfcl_does_unless_lenient():
    from evalseed.scoring.bfcl_ast import score_tool_calls

    expected = [{"avg": {"xs": [[1.0, 2.0]]}}]
    strict = score_tool_calls(_FLOATS, expected, _tc("avg", {"xs": [1, 2]}))
    assert not strict.passed and strict.failure.reason == "type_error"
    assert score_tool_calls(_FLOATS, expected, _tc("avg", {"xs": [1, 2]}), lenient=True).passed
    assert score_tool_calls(_FLOATS, expected, _tc("avg", {"xs": [1.0, 2.0]})).passed


def test_variables_compare_exactly_as_bfcl_does_unless_lenient():
    from evalseed.scoring.bfcl_ast import score_tool_calls

    # The expected answer names a variable (a string) where the schema says integer.
    expected = [{"greet": {"n": ["user_count"]}}]
    assert score_tool_calls(_VAR, expected, _tc("greet", {"n": "user_count"})).passed
    strict = score_tool_calls(_VAR, expected, _tc("greet", {"n": "User-Count"}))
    assert not strict.passed and strict.failure.reason == "value_error"
    assert score_tool_calls(_VAR, expected, _tc("greet", {"n": "User-Count"}), lenient=True).passed


def test_a_failed_set_is_reported_from_the_closest_assignment():
    from evalseed.scoring.bfcl_ast import score_tool_calls

    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}, "required": ["x"]}}}]
    expected = [{"f": {"x": [1, 2]}}, {"f": {"x": [1]}}]
    calls = [{"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
             {"id": "b", "type": "function", "function": {"name": "f", "arguments": '{"x": 2, "y": 5}'}}]
    v = score_tool_calls(tools, expected, calls)
    # Call b fits the first entry but for its extra argument; it is no worse value for the second.
    assert not v.passed and v.failure.reason == "unexpected_param" and v.failure.param == "y"
