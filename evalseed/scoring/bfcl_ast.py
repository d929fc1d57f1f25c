"""Tool-call scoring by BFCL's AST rules (Berkeley Function Calling Leaderboard), on plain dicts.

What a call must satisfy against one expected entry `{function_name: {param: [allowed values]}}`:

1. the function name is exactly the expected one (after mapping wire names back, see
   `wire_names`), else `wrong_name`;
2. every parameter the tool's schema lists as `required` is present, else `missing_required`;
3. every parameter sent is both in the schema's `properties` and in the expected entry, else
   `unexpected_param` (a parameter the expected entry leaves out must not be sent);
4. the value has the schema's type, else `type_error`: strict (a bool is no integer, 5.0 is no
   integer), except that an int is accepted for `number` (BFCL's `float`). As in BFCL, a value
   whose type equals that of the first allowed value is also accepted ("variables": the expected
   answer names a variable of another type than the schema's). `null` passes when `None` is among
   the allowed values;
5. the value equals one of the allowed values, else `value_error`. Strings are compared after
   BFCL's normalisation (`normalise_string`: drop spaces and `,./-_*^`, lowercase, `'` -> `"`);
   numbers as numbers (1 == 1.0, but True is no 1); lists by order, element by element; an
   object parameter's allowed value is itself `{key: [allowed values]}` (missing keys need `""`
   among theirs); an array of objects is a list of such allowed-value objects, one per position;
6. every expected parameter whose allowed values do not include `""` was sent, else
   `missing_required` (required by the expected answer, though not by the schema).

Sets of calls: the number of calls must equal the number expected (`wrong_count`; `[]` expected
means any call at all fails). With `order="strict"` call i is checked against expected entry i.
With `order="any"` (BFCL's parallel categories) the calls are matched to the expected entries by
a maximum bipartite matching. BFCL instead walks the expected entries in order and gives each the
first still-unmatched call that passes, which wrongly fails a correct set when an expected entry
with broad allowed values (an optional argument, several allowed values) takes a call that a later,
narrower entry needed: expected `f(x in {1, 2})`, `f(x in {1})` against calls `f(x=1)`, `f(x=2)`.
The matching here passes that set; `Verdict.greedy_passed` records what BFCL's greedy order would
have said, so the two can be compared on real data.

By default this module follows BFCL where the two could differ: a "variable" value (point 4) is
compared exactly, as BFCL does, not after string normalisation; an int inside an array of
`number`/`float` items is a `type_error` (BFCL: `type_error:nested`; it converts top-level ints
only). `lenient=True` restores evalseed's earlier rules for both (normalised variables, ints
accepted in float arrays). One leniency remains in both modes: string normalisation applies to
strings nested at any depth of a list or object value (BFCL: one level). docs/scoring.md has all.

When a set fails, its reason comes from the best complete assignment of calls to expected entries
(the one with the fewest mismatched parameters), not from whichever pair was tried first: an extra
argument on the call that fits an entry is `unexpected_param`, not a `value_error` against another.

Everything here takes and returns plain data and never raises on malformed input: any string, JSON
or tool-call shape becomes a scored failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from .bfcl_values import exact_match, first_allowed, fits_type, items_fit, json_kind, value_matches
from .bfcl_values import normalise_string as normalise_string  # part of this module's interface

REASONS = (
    "wrong_name",
    "missing_required",
    "unexpected_param",
    "type_error",
    "value_error",
    "wrong_count",
    "invalid_json",
)

# How far a check got before failing: used to report the most telling failure of a set.
_PROGRESS = {"invalid_json": 0, "wrong_name": 1, "missing_required": 2, "unexpected_param": 3,
             "type_error": 4, "value_error": 5}

_WIRE_NAME_RE = re.compile(r"[^a-zA-Z0-9_-]")
_WIRE_NAME_MAX = 64


@dataclass(slots=True)
class ToolCall:
    """One parsed call. `index` is its position among all calls of the answer (or trajectory)."""

    name: str
    arguments: dict
    index: int


@dataclass(slots=True)
class Failure:
    reason: str  # one of REASONS
    message: str
    call_index: int | None = None
    expected_index: int | None = None
    param: str | None = None

    @property
    def progress(self) -> int:
        return _PROGRESS.get(self.reason, 0)


@dataclass(slots=True)
class Verdict:
    passed: bool
    failure: Failure | None = None
    # (expected index, call index) pairs of the matching found.
    matching: list[tuple[int, int]] = field(default_factory=list)
    # What BFCL's greedy in-order matching says for the same calls (None when order="strict").
    greedy_passed: bool | None = None
    n_calls: int = 0
    n_expected: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for a result row's `details`."""
        return {
            "passed": self.passed,
            "reason": self.failure.reason if self.failure else None,
            "failure": asdict(self.failure) if self.failure else None,
            "matching": [list(p) for p in self.matching],
            "greedy_passed": self.greedy_passed,
            "n_calls": self.n_calls,
            "n_expected": self.n_expected,
        }


# ---- tool names on the wire -------------------------------------------------------------------


def wire_names(names: Iterable[str]) -> dict[str, str]:
    """Map each tool name to one OpenAI accepts (`^[a-zA-Z0-9_-]{1,64}$`): other characters (dots
    above all) become `_`; a clash with another name gets a numeric suffix. The map is one-to-one,
    so a call's wire name maps back to exactly one tool."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    names = list(dict.fromkeys(names))
    # Names already valid keep their spelling, so they never lose it to a mapped one.
    valid = [n for n in names if n and not _WIRE_NAME_RE.search(n) and len(n) <= _WIRE_NAME_MAX]
    for n in valid:
        out[n] = n
        taken.add(n)
    for n in names:
        if n in out:
            continue
        base = (_WIRE_NAME_RE.sub("_", n) or "tool")[:_WIRE_NAME_MAX]
        cand, k = base, 2
        while cand in taken:
            suffix = f"_{k}"
            cand = base[: _WIRE_NAME_MAX - len(suffix)] + suffix
            k += 1
        out[n] = cand
        taken.add(cand)
    return out


def tool_function(tool: Any) -> dict:
    """The function spec of a tool: OpenAI `{type: function, function: {...}}` or a bare spec."""
    if isinstance(tool, dict):
        fn = tool.get("function")
        return fn if isinstance(fn, dict) else tool
    return {}


def docs_by_name(tools: Iterable[Any]) -> dict[str, dict]:
    out = {}
    for t in tools or []:
        fn = tool_function(t)
        if isinstance(fn.get("name"), str):
            out[fn["name"]] = fn
    return out


# ---- parsing the answer -----------------------------------------------------------------------


def parse_tool_calls(raw: Any, back: dict[str, str] | None = None, start: int = 0
                     ) -> tuple[list[ToolCall], Failure | None]:
    """Parse OpenAI `tool_calls` (arguments a JSON string) into ToolCalls, mapping wire names back
    through `back` (wire -> original). Returns the calls parsed before the first malformed one and
    that failure (`invalid_json` for unparseable or non-object arguments and for shapes that are
    no tool call at all). `None` or `[]` means no calls. An empty arguments string means `{}`."""
    back = back or {}
    if raw is None:
        return [], None
    if not isinstance(raw, list):
        return [], Failure("invalid_json", f"tool_calls is a {type(raw).__name__}, not a list", start)
    calls: list[ToolCall] = []
    for i, item in enumerate(raw):
        idx = start + i
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(fn, dict):
            return calls, Failure("invalid_json", "a tool call without a `function` object", idx)
        name = fn.get("name")
        if not isinstance(name, str):
            return calls, Failure("invalid_json", "a tool call without a function name", idx)
        args = fn.get("arguments")
        if isinstance(args, str):
            if not args.strip():
                args = {}
            else:
                try:
                    args = json.loads(args)
                except (ValueError, RecursionError) as e:
                    return calls, Failure("invalid_json", f"arguments of {name!r} are not valid JSON: {str(e)[:120]}", idx)
        elif args is None:
            args = {}
        if not isinstance(args, dict):
            return calls, Failure("invalid_json", f"arguments of {name!r} are a {type(args).__name__}, not a JSON object", idx)
        calls.append(ToolCall(back.get(name, name), args, idx))
    return calls, None


# ---- one call against one expected entry ------------------------------------------------------


def check_call(doc: dict | None, expected: dict, call: ToolCall, expected_index: int | None = None,
               lenient: bool = False) -> Failure | None:
    """One call against one expected entry `{name: {param: [allowed...]}}`, with the tool's
    function spec `doc` (None when the suite offers no such tool). None means the call passes."""

    def fail(reason: str, message: str, param: str | None = None) -> Failure:
        return Failure(reason, message, call.index, expected_index, param)

    if not isinstance(expected, dict) or len(expected) != 1:
        return fail("wrong_name", "the expected entry is not a one-key {function: {args}} object")
    (name, allowed_args), = expected.items()
    if call.name != name:
        return fail("wrong_name", f"called {call.name!r}, expected {name!r}")
    if not isinstance(allowed_args, dict):
        allowed_args = {}
    params = (doc or {}).get("parameters") or {}
    props = params.get("properties") or {}
    required = params.get("required") or []
    if not isinstance(props, dict):
        props = {}
    for p in required if isinstance(required, list) else []:
        if p not in call.arguments:
            return fail("missing_required", f"required parameter {p!r} is missing", p)
    for p, value in call.arguments.items():
        if p not in props or p not in allowed_args:
            return fail("unexpected_param", f"parameter {p!r} is not expected", p)
        allowed = allowed_args[p] if isinstance(allowed_args[p], list) else [allowed_args[p]]
        schema = props[p] if isinstance(props[p], dict) else {}
        if value is None and None in allowed:
            continue
        first = first_allowed(allowed)
        is_variable = first != "" and first is not None and not fits_type(first, schema.get("type")) \
            and json_kind(value) == json_kind(first)
        if not is_variable:
            if not fits_type(value, schema.get("type")):
                return fail("type_error", f"parameter {p!r}: expected {schema.get('type')}, got {json_kind(value)} {value!r}"[:300], p)
            items = schema.get("items") if isinstance(schema.get("items"), dict) else None
            if isinstance(value, list) and items and not items_fit(value, items.get("type"), allowed, lenient):
                return fail("type_error", f"parameter {p!r}: an item is not of type {items.get('type')}", p)
        matches = exact_match(value, allowed) if is_variable and not lenient else value_matches(value, allowed, schema)
        if not matches:
            return fail("value_error", f"parameter {p!r} = {value!r} is not one of {allowed!r}"[:300], p)
    for p, allowed in allowed_args.items():
        if p not in call.arguments and not (isinstance(allowed, list) and "" in allowed):
            return fail("missing_required", f"parameter {p!r} is required by the expected answer", p)
    return None


def _mismatches(doc: dict | None, expected: Any, call: ToolCall, lenient: bool) -> int:
    """How far a call is from an expected entry: parameters missing, extra, or wrong (each 1); a
    wrong function name counts as far as can be. Used to pick the assignment a failure is
    reported from, so it need not stop at the first problem as check_call does."""
    if not isinstance(expected, dict) or len(expected) != 1:
        return 1_000
    (name, allowed_args), = expected.items()
    if call.name != name:
        return 1_000
    allowed_args = allowed_args if isinstance(allowed_args, dict) else {}
    count = 0
    for p, value in call.arguments.items():
        if p not in allowed_args:
            count += 1
        elif check_call(doc, {name: {p: allowed_args[p]}}, ToolCall(name, {p: value}, call.index), None, lenient):
            count += 1
    count += sum(1 for p, allowed in allowed_args.items()
                 if p not in call.arguments and not (isinstance(allowed, list) and "" in allowed))
    return count


def _best_assignment(cost: list[list[int]]) -> list[int]:
    """The call for each expected entry minimising the summed cost (exact, by dynamic programming
    over subsets of calls; BFCL's parallel entries hold a handful of calls)."""
    n = len(cost)
    best: dict[int, tuple[int, list[int]]] = {0: (0, [])}
    for i in range(n):
        nxt: dict[int, tuple[int, list[int]]] = {}
        for used, (total, picks) in best.items():
            for j in range(n):
                if not used >> j & 1:
                    key, val = used | 1 << j, total + cost[i][j]
                    if key not in nxt or val < nxt[key][0]:
                        nxt[key] = (val, picks + [j])
        best = nxt
    return min(best.values())[1]


# ---- sets of calls ----------------------------------------------------------------------------


def _max_matching(ok: list[list[bool]], n_calls: int) -> list[int | None]:
    """Kuhn's augmenting paths: for each expected entry, the call it is matched to (or None)."""
    call_owner: list[int | None] = [None] * n_calls

    def augment(i: int, seen: list[bool]) -> bool:
        for j in range(n_calls):
            if ok[i][j] and not seen[j]:
                seen[j] = True
                owner = call_owner[j]
                if owner is None or augment(owner, seen):
                    call_owner[j] = i
                    return True
        return False

    for i in range(len(ok)):
        augment(i, [False] * n_calls)
    match: list[int | None] = [None] * len(ok)
    for j, owner in enumerate(call_owner):
        if owner is not None:
            match[owner] = j
    return match


def _greedy(ok: list[list[bool]], n_calls: int) -> bool:
    """BFCL's order: each expected entry takes the first unmatched call that passes."""
    used: set[int] = set()
    for row in ok:
        j = next((j for j in range(n_calls) if row[j] and j not in used), None)
        if j is None:
            return False
        used.add(j)
    return True


def check_calls(tools: Iterable[Any], expected_calls: list, calls: list[ToolCall], order: str = "any",
                parse_failure: Failure | None = None, lenient: bool = False) -> Verdict:
    """Score a set of parsed calls against BFCL-style expected calls; see the module docstring.
    `parse_failure` (from `parse_tool_calls`) fails the set as `invalid_json` first of all."""
    try:
        return _check_calls(tools, expected_calls, calls, order, parse_failure, lenient)
    except RecursionError:
        return Verdict(False, Failure("value_error", "a value is nested too deeply to compare"),
                       n_calls=len(calls), n_expected=len(expected_calls or []))


def _check_calls(tools, expected_calls, calls, order, parse_failure, lenient) -> Verdict:
    expected_calls = list(expected_calls or [])
    n, m = len(expected_calls), len(calls)
    if parse_failure is not None:
        return Verdict(False, parse_failure, n_calls=m, n_expected=n)
    if n != m:
        what = "no call" if n == 0 else f"{n} call(s)"
        return Verdict(False, Failure("wrong_count", f"expected {what}, got {m}"), n_calls=m, n_expected=n)
    if n == 0:
        return Verdict(True, None, n_calls=0, n_expected=0, greedy_passed=None if order == "strict" else True)
    docs = docs_by_name(tools)

    def doc_for(entry: Any) -> dict | None:
        return docs.get(next(iter(entry))) if isinstance(entry, dict) and len(entry) == 1 else None

    if order == "strict":
        for i, (entry, call) in enumerate(zip(expected_calls, calls)):
            f = check_call(doc_for(entry), entry, call, i, lenient)
            if f is not None:
                return Verdict(False, f, n_calls=m, n_expected=n)
        return Verdict(True, None, [(i, i) for i in range(n)], None, m, n)

    results = [[check_call(doc_for(e), e, c, i, lenient) for c in calls] for i, e in enumerate(expected_calls)]
    ok = [[r is None for r in row] for row in results]
    match = _max_matching(ok, m)
    greedy = _greedy(ok, m)
    pairs = [(i, j) for i, j in enumerate(match) if j is not None]
    if len(pairs) == n:
        return Verdict(True, None, pairs, greedy, m, n)
    # Report the failure of the assignment closest to right: passing pairs cost 0, the others
    # their number of mismatched parameters; the first failing entry of it gives the reason.
    best: Failure | None = None
    if n <= 12:
        cost = [[0 if ok[i][j] else 1 + _mismatches(doc_for(e), e, calls[j], lenient) for j in range(m)]
                for i, e in enumerate(expected_calls)]
        assignment = _best_assignment(cost)
        best = next((results[i][j] for i, j in enumerate(assignment) if results[i][j] is not None), None)
    if best is None:  # too many calls to search, or every failing pair only fails in combination
        used = {j for _, j in pairs}
        left = [i for i, j in enumerate(match) if j is None]
        for i in left:
            for j in range(m):
                f = results[i][j]
                if j not in used and f is not None and (best is None or f.progress > best.progress):
                    best = f
        if best is None:
            best = results[left[0]][0] or Failure("value_error", "no call matches the expected entry", None, left[0])
    return Verdict(False, best, pairs, greedy, m, n)


def score_tool_calls(tools: Iterable[Any], expected_calls: list, tool_calls: Any, order: str = "any",
                     back: dict[str, str] | None = None, lenient: bool = False) -> Verdict:
    """Parse raw OpenAI `tool_calls` and score them: the one-stop entry for a single answer."""
    calls, failure = parse_tool_calls(tool_calls, back)
    return check_calls(tools, expected_calls, calls, order, failure, lenient)
