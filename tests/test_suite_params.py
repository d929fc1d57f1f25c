"""Suite `params` checked against the documented Seed parameters at `validate` time (issue 18):
each refused value is one `file:line params.KEY: ...` line and exit 2; undocumented keys pass
with a warning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import write_suite
from evalseed.suites.params import check_chat_params

SUITE = """name: p
kind: classification
labels: [positive, negative]
params: {PARAMS}
messages:
  - {role: user, content: "{{ text }}"}
cases:
  - {id: a, vars: {text: hi}, expected: positive}
"""


@pytest.mark.parametrize("params, words", [
    ("{max_tokens: 100, max_completion_tokens: 200}", "params.max_completion_tokens: the API refuses max_tokens and max_completion_tokens together"),
    ("{max_completion_tokens: 70000}", "params.max_completion_tokens: 70000 is refused by the API; a whole number of tokens from 1 to 65,536"),
    ("{thinking: enabled}", "params.thinking: 'enabled' is refused by the API; give thinking as a mapping, e.g. thinking: {type: enabled}"),
    ("{thinking: {type: sometimes}}", "params.thinking"),
    ("{reasoning_effort: extreme}", "params.reasoning_effort: 'extreme' is refused by the API; one of minimal, low, medium, high"),
    ("{temperature: 3}", "params.temperature"),
    ("{stop: [a, b, c, d, e]}", "params.stop"),
])
def test_refused_params_are_one_line_at_validate(cli, tmp_path, params, words):
    suite = write_suite(tmp_path, "p.yaml", SUITE.replace("{PARAMS}", params))
    code, out, err = cli("validate", suite)
    assert code == 2
    lines = [line for line in (out + err).splitlines() if "params" in line]
    assert len(lines) == 1 and lines[0].startswith(f"evalseed: {suite}:4 ") and words in lines[0], out + err


def test_documented_params_pass_and_undocumented_ones_warn(cli, tmp_path):
    suite = write_suite(tmp_path, "p.yaml", SUITE.replace(
        "{PARAMS}", "{max_completion_tokens: 65536, thinking: {type: disabled}, reasoning_effort: minimal, "
                    "temperature: 0, top_p: 1, stop: ['\\n'], gateway_tag: nightly}"))
    code, out, err = cli("validate", suite)
    assert code == 0, out + err
    assert "params gateway_tag are not among the parameters the Seed API documents; sent as written" in err


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["max_tokens", "max_completion_tokens", "thinking", "reasoning_effort",
                                        "temperature", "top_p", "n", "stop", "stream", "other"]),
                       st.one_of(st.none(), st.booleans(), st.integers(-5, 100_000), st.floats(allow_nan=True),
                                 st.text(max_size=8), st.lists(st.text(max_size=3), max_size=6),
                                 st.dictionaries(st.text(max_size=5), st.text(max_size=8), max_size=2)),
                       max_size=5))
def test_the_check_never_crashes_and_names_the_key(params):
    problem = check_chat_params(params)
    assert problem is None or problem.split(":")[0] in params
