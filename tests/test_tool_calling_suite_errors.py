"""Tool-calling suite files: mistakes are reported with file, line and key path (exit 2)."""

from __future__ import annotations

import pytest

from helpers import write_suite

BASE = """
name: t
kind: tool_calling
messages:
  - {role: user, content: "{{ q }}"}
tools:
  - type: function
    function:
      name: f
      parameters: {type: object, properties: {x: {type: integer}}, required: [x]}
cases:
"""


@pytest.mark.parametrize("case, where, words", [
    ("  - {id: a, vars: {q: hi}, expected_calls: [{g: {x: [1]}}]}", "cases[0].expected_calls[0]", "not one of the tools"),
    ("  - {id: a, vars: {q: hi}, expected_calls: [{f: {x: [1]}, g: {}}]}", "cases[0].expected_calls[0]", "one function per entry"),
    ("  - {id: a, vars: {q: hi}, expected_calls: [{f: {x: 1}}]}", "cases[0].expected_calls[0].f.x", "list"),
    ("  - {id: a, vars: {q: hi}, expected_call: []}", "cases[0].expected_call", "unknown key"),
    ("  - {id: a, vars: {q: hi}, expected_calls: [], order: sometimes}", "cases[0].order", "strict"),
    ("  - {id: a, vars: {z: hi}, expected_calls: []}", "cases[0].vars", "q"),
    ("  - {id: a, vars: {q: hi}, expected_calls: [], tool_results: {fx: 1}}", "cases[0].tool_results.fx", "no tool"),
    ("  - {id: a, vars: {q: hi}, expected_calls: []}\ntool_results: {fx: 1}", "tool_results.fx", "typo"),
])
def test_case_mistakes(cli, tmp_path, case, where, words):
    p = write_suite(tmp_path, "t.yaml", BASE + case + "\n")
    code, out, err = cli("validate", p)
    assert code == 2
    assert f"{p}:" in err and where in err and words in err, err
    assert "Traceback" not in err


def test_bad_tool_schema(cli, tmp_path):
    text = BASE.replace("type: integer", "type: integr") + "  - {id: a, vars: {q: hi}, expected_calls: []}\n"
    p = write_suite(tmp_path, "t.yaml", text)
    code, out, err = cli("validate", p)
    assert code == 2 and "tools[0].function.parameters" in err and "JSON Schema" in err, err


def test_case_messages_are_not_templates(cli, tmp_path):
    # BFCL prompts hold braces; a case's own messages are sent as written.
    text = BASE.replace("messages:\n  - {role: user, content: \"{{ q }}\"}\n", "") + \
        "  - id: a\n    messages: [{role: user, content: 'print({{x}})'}]\n    expected_calls: []\n"
    p = write_suite(tmp_path, "t.yaml", text)
    code, out, err = cli("validate", p)
    assert code == 0, err
