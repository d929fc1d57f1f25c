"""No suite file crashes the loader: whatever the bytes, `load_suites` returns suites or raises
UsageError with one line that names the file. Hypothesis writes the files."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalseed.errors import UsageError
from evalseed.suites.loader import load_suites
from strategies import json_values, unicode_text

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BASE: dict = {
    "name": "sentiment",
    "kind": "classification",
    "description": "fuzz base",
    "labels": ["positive", "negative", "neutral"],
    "params": {"temperature": 0, "max_tokens": 8},
    "messages": [
        {"role": "system", "content": "Classify as positive, negative or neutral."},
        {"role": "user", "content": "{{ text }}"},
    ],
    "cases": [
        {"id": "a", "vars": {"text": "great"}, "expected": "positive", "tags": ["short"]},
        {"id": "b", "vars": {"text": "awful"}, "expected": "negative"},
    ],
}

# Text without lone surrogates (a file cannot hold them as UTF-8), but with controls, RTL marks,
# emoji, combining characters and the rest.
odd_text = unicode_text(40)
huge_text = st.integers(10_000, 200_000).map(lambda n: "é" * n)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), odd_text, huge_text)
values = json_values(scalars, odd_text, max_leaves=12)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _write(text_or_bytes, name: str = "suite.yaml") -> Path:
    d = Path(tempfile.mkdtemp(prefix="fuzz-suite-"))
    p = d / name
    if isinstance(text_or_bytes, bytes):
        p.write_bytes(text_or_bytes)
    else:
        p.write_text(text_or_bytes, encoding="utf-8")
    return p


def _check(path: Path) -> list:
    """Load; the only acceptable failure is UsageError with one line naming the file."""
    try:
        return load_suites([str(path)])
    except UsageError as e:
        msg = str(e)
        assert msg.startswith(str(path)), msg[:300]
        assert "\n" not in msg, msg[:300]
        assert "Traceback" not in msg
        return []


@st.composite
def mutated_suites(draw) -> dict:
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        op = draw(st.sampled_from(["delete", "replace", "unknown_key"]))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if not path:
            if op == "replace":
                doc = draw(values)
                break
            op = "unknown_key"
        if op == "delete" and path:
            del parent[path[-1]]
        elif op == "replace" and path:
            parent[path[-1]] = draw(values)
        else:
            target = doc
            for part in path:
                target = target[part]
            if isinstance(target, dict):
                target[draw(odd_text)] = draw(values)
        if not isinstance(doc, dict):
            break
    return doc


@FUZZ
@given(mutated_suites())
def test_mutated_suites_load_or_fail_clearly(doc):
    _check(_write(yaml.safe_dump(doc, allow_unicode=True)))


@FUZZ
@given(st.text(max_size=300))
def test_any_text_loads_or_fails_clearly(text):
    _check(_write(text.encode("utf-8", "surrogatepass")))


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_load_or_fail_clearly(data):
    _check(_write(data))


@FUZZ
@given(st.sampled_from([(), ("cases", 0), ("messages", 1)]), odd_text.filter(lambda k: k.strip() != ""))
def test_unknown_keys_are_refused_with_their_path(where, key):
    doc = copy.deepcopy(BASE)
    target = doc
    for part in where:
        target = target[part]
    if key in target:
        return
    target[key] = 1
    path = _write(yaml.safe_dump(doc, allow_unicode=True))
    with pytest.raises(UsageError) as err:
        load_suites([str(path)])
    msg = str(err.value)
    assert "unknown key" in msg and "\n" not in msg
    if where == ("cases", 0):
        assert "cases[0]" in msg


@pytest.mark.parametrize("drop", ["name", "kind", "cases", "labels", "messages"])
def test_missing_required_fields_are_named(drop):
    doc = copy.deepcopy(BASE)
    del doc[drop]
    path = _write(yaml.safe_dump(doc))
    with pytest.raises(UsageError) as err:
        load_suites([str(path)])
    assert drop in str(err.value)


def test_huge_values_give_short_messages():
    doc = copy.deepcopy(BASE)
    doc["cases"][0]["expected"] = "x" * 500_000
    path = _write(yaml.safe_dump(doc))
    with pytest.raises(UsageError) as err:
        load_suites([str(path)])
    assert len(str(err.value)) < 2_000, "an error message should not echo half a megabyte of suite"


def test_yaml_tags_are_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = f"name: !!python/object/apply:os.system ['touch {marker}']\nkind: classification\n"
    path = _write(text)
    with pytest.raises(UsageError):
        load_suites([str(path)])
    assert not marker.exists()


def test_recursive_alias_is_a_usage_error():
    path = _write("name: &a [*a]\nkind: classification\ncases: []\n")
    with pytest.raises(UsageError):
        load_suites([str(path)])


def test_alias_bomb_is_refused_quickly():
    # "Billion laughs": nine levels of nine aliases each expand to 9**9 strings.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = "\n".join(lines) + "\nname: bomb\nkind: classification\n"
    import time

    t0 = time.monotonic()
    with pytest.raises(UsageError):
        load_suites([str(_write(text))])
    assert time.monotonic() - t0 < 10


# ---- every kind: the bundled suites, mutated ------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "suites").glob("*.yaml"))
_BASE_DIR = Path(tempfile.mkdtemp(prefix="fuzz-kinds-"))
if (ROOT / "suites" / "documents").is_dir():
    import shutil

    shutil.copytree(ROOT / "suites" / "documents", _BASE_DIR / "documents")


def _bundled(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(doc.get("cases"), list):
        doc["cases"] = doc["cases"][:3]  # the checks are per case; three keep examples fast
    return doc


BUNDLED_DOCS = {p.name: _bundled(p) for p in BUNDLED}


@st.composite
def mutated_bundled(draw) -> dict:
    doc = copy.deepcopy(BUNDLED_DOCS[draw(st.sampled_from(sorted(BUNDLED_DOCS)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["delete", "replace", "unknown_key"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = draw(values)
        elif isinstance(parent, dict):
            parent[draw(odd_text)] = draw(values)
    return doc


@settings(max_examples=int(os.environ.get("EVALSEED_FUZZ_SUITES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bundled())
def test_mutated_bundled_suites_of_every_kind_load_or_fail_clearly(doc):
    p = _BASE_DIR / "suite.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    _check(p)


def test_every_bundled_suite_loads_unmutated():
    assert BUNDLED_DOCS, "no bundled suites found under suites/"
    for name, doc in BUNDLED_DOCS.items():
        p = _BASE_DIR / "suite.yaml"
        p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        assert load_suites([str(p)]), name  # the base of the fuzzing is itself valid
