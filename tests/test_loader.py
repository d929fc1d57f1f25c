"""Suite loading: every error names file, line and key path; nothing invalid gets through."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalseed.errors import UsageError
from evalseed.suites.loader import check_suite_file, load_suites

from helpers import SMALL_SUITE, write_suite
from strategies import json_values


def test_valid_suite_loads(tmp_path):
    write_suite(tmp_path, "tiny.yaml", SMALL_SUITE)
    (suite,) = load_suites([str(tmp_path)])
    assert suite.name == "tiny" and len(suite.cases) == 3
    assert len(suite.content_hash) == 16


def _error(tmp_path, text) -> str:
    p = write_suite(tmp_path, "s.yaml", text)
    with pytest.raises(UsageError) as e:
        load_suites([str(p)])
    return str(e.value)


def test_missing_expected_names_file_line_and_path(tmp_path):
    text = SMALL_SUITE.replace("    expected: negative\n  - id: meh", "  - id: meh", 1)
    msg = _error(tmp_path, text)
    # cases[1] starts at line 12 of the dedented file
    assert msg.startswith(f"{tmp_path}/s.yaml:12 cases[1].expected: field required"), msg


@pytest.mark.parametrize("old,new,expected", [
    pytest.param("params:", "parms:", ["s.yaml:4 parms: unknown key"], id="unknown-key"),
    pytest.param("kind: classification", "kind: classification\nkind: classification",
                 [":3 kind: duplicate key (first at line 2)"], id="duplicate-key"),
    pytest.param('{text: "I hate it"}', '{text: "I hate it"', ["s.yaml:", "not valid YAML"], id="bad-yaml"),
    pytest.param("expected: positive", "expected: positve",
                 ["cases[0].expected: 'positve' is not one of the labels", "s.yaml:11 "], id="expected-not-a-label"),
    pytest.param('{text: "It broke"}', '{txt: "It broke"}', ["cases[2].vars: 'text' is undefined"],
                 id="undefined-variable"),
    pytest.param('"{{ text }}"', '"{{ text.__class__.__mro__ }}"', ["unsafe"], id="sandbox-refuses-unsafe"),
    pytest.param("id: meh", "id: bad", ["duplicate case id 'bad'"], id="duplicate-case-id"),
    pytest.param("kind: classification", "kind: clasification", ["s.yaml:2 kind: unknown kind 'clasification'"],
                 id="unknown-kind"),
])
def test_suite_error_names_its_place(tmp_path, old, new, expected):
    assert old in SMALL_SUITE
    msg = _error(tmp_path, SMALL_SUITE.replace(old, new))
    for text in expected:
        assert text in msg, msg


def test_names_unique_across_run(tmp_path):
    write_suite(tmp_path / "a", "one.yaml", SMALL_SUITE)
    write_suite(tmp_path / "b", "two.yaml", SMALL_SUITE)
    with pytest.raises(UsageError, match="already used"):
        load_suites([str(tmp_path)])


def test_validate_command_exit_codes(tmp_path, cli):
    write_suite(tmp_path, "ok.yaml", SMALL_SUITE)
    code, out, _ = cli("validate", tmp_path)
    assert code == 0 and "tiny (classification, 3 cases)" in out
    write_suite(tmp_path, "bad.yaml", SMALL_SUITE.replace("name: tiny", "name: Bad Name"))
    code, out, err = cli("validate", tmp_path)
    assert code == 2
    assert "bad.yaml:1 name:" in err and "Traceback" not in err


def test_run_with_bad_suite_exits_2_before_any_request(tmp_path, cli, stub):
    srv = stub()
    p = write_suite(tmp_path, "s.yaml", SMALL_SUITE.replace("expected: positive", "expected: 3"))
    code, _, err = cli("run", p, "--base-url", srv.base_url, "--models", "seed-1-6-flash-250715",
                       "--db", tmp_path / "x.duckdb")
    assert code == 2 and err.count("\n") == 1 and "s.yaml:11" in err
    assert srv.count() == 0
    assert not (tmp_path / "x.duckdb").exists()


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
values = json_values(scalars, key_size=10, max_leaves=12)
keys = st.sampled_from(["name", "kind", "labels", "messages", "cases", "params", "repeats", "models", "oops"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(keys, values, max_size=7), kind=st.sampled_from(["classification", None, 5]))
def test_any_document_gives_a_suite_or_located_problems(tmp_path, doc, kind):
    import yaml

    if kind is not None:
        doc["kind"] = kind
    p = tmp_path / "fuzz.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = check_suite_file(p)
    if isinstance(result, list):
        assert result and all(str(x).startswith(str(p)) for x in result)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_any_text_never_crashes_the_loader(tmp_path, text):
    p = tmp_path / "garbage.yaml"
    p.write_text(text, encoding="utf-8")
    result = check_suite_file(p)
    if isinstance(result, list):
        assert result and all(str(x).startswith(str(p)) and x.message for x in result), result
    else:
        assert result.name
