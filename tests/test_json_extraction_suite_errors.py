"""JSON extraction suite files: mistakes are reported with file, line and key path (exit 2)."""

from __future__ import annotations

import pytest

from helpers import write_suite

BASE = """
name: j
kind: json_extraction
schema:
  type: object
  properties: {total: {type: number}}
  required: [total]
messages:
  - {role: user, content: "{{ text }} {{ schema_json }}"}
cases:
  - {id: a, vars: {text: x}, expected: {total: 1}}
"""


@pytest.mark.parametrize("old, new, where, words", [
    ("expected: {total: 1}", "expected: {total: '1,999'}", "cases[0].expected", "schema"),
    ("type: number", "type: numbr", "schema", "not a valid JSON Schema"),
    ("kind: json_extraction", "kind: json_extraction\nresponse_format: xml", "response_format", "json_schema"),
    ("kind: json_extraction", "kind: json_extraction\nschemas: {}", "schemas", "unknown key"),
    ("{{ text }}", "{{ txt }}", "cases[0].vars", "txt"),
])
def test_suite_mistakes(cli, tmp_path, old, new, where, words):
    p = write_suite(tmp_path, "j.yaml", BASE.replace(old, new))
    code, out, err = cli("validate", p)
    assert code == 2 and f"{p}:" in err and where in err and words in err, err
    assert "Traceback" not in err
