"""Suite loading: every error names file, line and key path; nothing invalid gets through."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalseed.errors import UsageError
from evalseed.suites.loader import check_suite_file, load_suites

from conftest import SMALL_SUITE, write_suite


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


def test_unknown_key_is_an_error_with_its_line(tmp_path):
    msg = _error(tmp_path, SMALL_SUITE.replace("params:", "parms:"))
    assert "s.yaml:4 parms: unknown key" in msg


def test_duplicate_key(tmp_path):
    msg = _error(tmp_path, SMALL_SUITE.replace("kind: classification", "kind: classification\nkind: classification"))
    assert ":3 kind: duplicate key (first at line 2)" in msg


def test_bad_yaml_names_the_line(tmp_path):
    msg = _error(tmp_path, SMALL_SUITE.replace('{text: "I hate it"}', '{text: "I hate it"'))
    assert "s.yaml:" in msg and "not valid YAML" in msg


def test_expected_must_be_a_label(tmp_path):
    msg = _error(tmp_path, SMALL_SUITE.replace("expected: positive", "expected: positve"))
    assert "cases[0].expected: 'positve' is not one of the labels" in msg
    assert "s.yaml:11 " in msg


def test_undefined_template_variable(tmp_path):
    msg = _error(tmp_path, SMALL_SUITE.replace('{text: "It broke"}', '{txt: "It broke"}'))
    assert "cases[2].vars: 'text' is undefined" in msg


def test_sandbox_refuses_unsafe_templates(tmp_path):
    msg = _error(tmp_path, SMALL_SUITE.replace('"{{ text }}"', '"{{ text.__class__.__mro__ }}"'))
    assert "unsafe" in msg or "undefined" in msg


def test_duplicate_case_ids(tmp_path):
    msg = _error(tmp_path, SMALL_SUITE.replace("id: meh", "id: bad"))
    assert "duplicate case id 'bad'" in msg


def test_unknown_kind(tmp_path):
    msg = _error(tmp_path, SMALL_SUITE.replace("kind: classification", "kind: clasification"))
    assert "s.yaml:2 kind: unknown kind 'clasification'" in msg


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
values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                      max_leaves=12)
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
    assert isinstance(result, list) or result.name
