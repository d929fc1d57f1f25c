"""Hostile templates in a suite someone else wrote: each one is refused by `validate` and `run`
with exit 2 and one `file:line key: ...` sentence, in bounded time and memory, and nothing is
sent (issue 16). Before, these hung validation or ended it with a MemoryError traceback."""

from __future__ import annotations

import resource
import time

import pytest

from helpers import run_evalseed, write_suite

HOSTILE = {
    "string repetition": "{{ 'a' * 10**10 }}",
    "list repetition": "{{ [1, 2] * 10**9 }}",
    "huge power": "{{ 7 ** 123456789 }}",
    "nested ranges with output": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "nested ranges, silent": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "doubling with ~": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "doubling with +": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "padding filter": "{{ 'x'|center(10**10) }}",
    "padding method": "{{ 'x'.ljust(10**10) }}",
    "format width": "{{ '%999999999s' % 'x' }}",
    "format method width": "{{ '{:>999999999}'.format('x') }}",
    "loop over a long string, nested": "{% set s = 'a' * 1000000 %}{% for c in s %}{% for d in s %}{% endfor %}{% endfor %}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
}


def _limit_memory():
    # 2 GiB of address space: a template that escaped the limits would die here, not the machine.
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_hostile_template_is_one_line_and_exit_2(tmp_path, name, command):
    suite = write_suite(tmp_path, "s.yaml",
                        "name: hostile\nkind: classification\nlabels: [positive, negative]\nmessages:\n"
                        f"  - {{role: user, content: \"{HOSTILE[name]}\"}}\n"
                        "cases:\n  - {id: a, vars: {text: hi}, expected: positive}\n")
    args = [command, str(suite)] + (["--base-url", "http://127.0.0.1:9/v1", "--models", "m1", "--db",
                                     str(tmp_path / "r.duckdb"), "--no-progress"] if command == "run" else [])
    started = time.monotonic()
    p = run_evalseed(*args, timeout=120, preexec_fn=_limit_memory, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr and "MemoryError" not in p.stderr
    lines = [line for line in (p.stdout + p.stderr).splitlines() if "unsafe template" in line]
    assert lines and "s.yaml:" in lines[0] and "messages[0].content" in lines[0], p.stdout + p.stderr
    assert elapsed < 60, elapsed  # the limit is 2 s of CPU; the rest is start-up on a busy machine


def test_ordinary_templates_still_render():
    from evalseed.templating import render

    assert render("{% for i in range(3) %}{{ i }}{% endfor %}", {}) == "012"
    assert render("{{ 'ab' * 3 }}-{{ x ~ '!' }}-{{ '%5s' % 'a' }}-{{ 2 ** 10 }}", {"x": "hi"}) == "ababab-hi!-    a-1024"
    assert render("{{ '{:>4}'.format('a') }}|{{ 'a'|center(5) }}", {}) == "   a|  a  "


def test_an_oversized_suite_file_is_refused_before_parsing_with_a_true_reason(cli, tmp_path):
    from evalseed.suites.loader import MAX_SUITE_BYTES

    rows = "".join(f"  - {{id: c{i}, vars: {{text: '{'x' * 80}'}}, expected: positive}}\n"
                   for i in range(MAX_SUITE_BYTES // 100 + 10))
    suite = write_suite(tmp_path, "big.yaml", "name: big\nkind: classification\nlabels: [positive, negative]\n"
                        "messages:\n  - {role: user, content: '{{ text }}'}\ncases:\n" + rows)
    assert suite.stat().st_size > MAX_SUITE_BYTES
    started = time.monotonic()
    code, out, err = cli("validate", suite)
    assert code == 2
    assert "a suite may be at most 8 MB" in out + err and "alias" not in out + err
    assert time.monotonic() - started < 10  # refused from its size, not after parsing 8 MB


def test_many_values_without_aliases_are_not_blamed_on_aliases(tmp_path):
    from evalseed.errors import UsageError
    from evalseed.suites import loader

    text = "cases:\n" + "".join(f"  - [{', '.join('1' for _ in range(50))}]\n" for _ in range(20_001))
    with pytest.raises(UsageError) as e:
        loader.parse_yaml(text, "many.yaml")
    assert "this suite holds more than" in str(e.value) and "aliases expand" not in str(e.value)
