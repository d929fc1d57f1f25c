"""`kind: generation`: every check type's rule, the case's score and verdict, check specs refused
at validate time with their line and key path, the suite metrics, and a whole run against the
stub server into results and the report."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalseed.errors import UsageError
from evalseed.kinds import get_kind
from evalseed.kinds.base import Outcome, Prepared
from evalseed.kinds.generation import CHECK_TYPES, Check, run_check
from evalseed.suites.loader import load_suites

from conftest import ROOT
from helpers import report_page, result_rows, write_suite

KIND = get_kind("generation")
REF = "Your refund of 42.50 EUR was issued on 3 March."


def suite(checks=(), case_checks=(), threshold=None, reference=REF):
    doc = {"name": "g", "kind": "generation", "messages": [{"role": "user", "content": "{{ q }}"}],
           "checks": list(checks), "cases": [{"id": "a", "vars": {"q": "x"}, "reference": reference,
                                              "checks": list(case_checks)}]}
    if threshold is not None:
        doc["threshold"] = threshold
    return KIND.suite_model.model_validate(doc)


def score(s, answer):
    return KIND.score(s, s.cases[0], Prepared(input_text="x"), Outcome(calls=[], response={}, output_text=answer))


# (check spec, answer, score, passed)
RULES = [
    ({"type": "equals", "value": "P1"}, " P1\n", 1.0, True),
    ({"type": "equals", "value": "P1"}, "P1.", 0.0, False),
    ({"type": "contains", "value": "42.50"}, "refund of 42.50 EUR", 1.0, True),
    ({"type": "contains", "value": "Refund"}, "your refund", 0.0, False),  # case matters
    ({"type": "icontains", "value": "REFUND"}, "your refund", 1.0, True),
    ({"type": "icontains", "value": "ＡＢＣ"}, "abc", 1.0, True),  # NFKC before folding
    ({"type": "contains-all", "value": ["a1", "b2", "c3", "d4"]}, "a1 c3 d4", 0.75, False),
    ({"type": "contains-all", "value": ["a1", "b2"]}, "b2 a1", 1.0, True),
    ({"type": "contains-any", "value": ["x9", "b2"]}, "b2", 1.0, True),
    ({"type": "contains-any", "value": ["x9", "y8"]}, "b2", 0.0, False),
    ({"type": "not-contains", "value": "As an AI"}, "As an AI, I", 0.0, False),
    ({"type": "not-contains", "value": ["voucher", "discount", "free", "gift"]}, "a free gift", 0.5, False),
    ({"type": "not-contains", "value": ["voucher"]}, "no such word", 1.0, True),
    ({"type": "regex", "value": r"(?i)\bsorry\b"}, "So SORRY!", 1.0, True),
    ({"type": "regex", "value": r"^\d{4}$"}, "year 2024", 0.0, False),  # search, but anchors hold
    ({"type": "starts-with", "value": "{"}, '\n {"a": 1}', 1.0, True),
    ({"type": "starts-with", "value": "{"}, 'Sure: {"a": 1}', 0.0, False),
    ({"type": "is-json", "weight": 2}, ' {"a": [1, 2]} \n', 1.0, True),
    ({"type": "is-json"}, '```json\n{"a": 1}\n```', 0.0, False),  # the whole answer, no fences
    ({"type": "length", "min": 3, "max": 5}, "  abcd  ", 1.0, True),
    ({"type": "length", "max": 5}, "abcdef", 0.0, False),
    ({"type": "length", "min": 3}, "ab", 0.0, False),
    # [your, refund, of, 42, 50, eur, was, issued, on, 3, march] vs [refund, issued, 3, march]:
    # P = 1, R = 4/11, F = 8/15; in reverse order the LCS is one word: P = 1/4, R = 1/11, F = 2/15.
    ({"type": "token-f1", "threshold": 0.5}, "refund issued 3 March", 8 / 15, True),
    ({"type": "token-f1", "threshold": 0.6}, "refund issued 3 March", 8 / 15, False),
    ({"type": "rouge-l", "threshold": 0.5}, "March 3 issued refund", 2 / 15, False),
]


@pytest.mark.parametrize("spec,answer,want_score,want_pass", RULES)
def test_each_check_rule(spec, answer, want_score, want_pass):
    got, ok, reason = run_check(Check.model_validate(spec), answer, REF)
    assert got == pytest.approx(want_score) and ok is want_pass
    assert reason and "\n" not in reason


def test_every_type_has_a_rule_and_a_case_here():
    # judge and python checks call out (a model, your function): tests/test_generation_judges.py.
    assert {spec["type"] for spec, *_ in RULES} == set(CHECK_TYPES) - {"judge", "python"}


def test_case_score_is_the_weighted_mean_and_every_check_must_pass():
    checks = [{"type": "contains", "value": "42.50", "weight": 3}, {"type": "contains", "value": "EUR"}]
    s = score(suite(checks), "refund of 42.50")  # 3 * 1 + 1 * 0 over 4
    assert s.score == pytest.approx(0.75) and s.passed is False
    assert [c["passed"] for c in s.details["checks"]] == [True, False]
    assert s.details["checks_passed"] == 1 and s.details["expected"] == REF
    # Suite checks come first, the case's are added after them.
    s = score(suite(checks[:1], [{"type": "length", "max": 3}]), "refund of 42.50")
    assert [c["type"] for c in s.details["checks"]] == ["contains", "length"] and not s.passed


def test_huge_weights_do_not_overflow_the_mean():
    checks = [{"type": "contains", "value": "a", "weight": 1e308}, {"type": "contains", "value": "b", "weight": 1e308}]
    assert score(suite(checks), "a").score == pytest.approx(0.5)


def test_a_suite_threshold_replaces_every_check_passing():
    checks = [{"type": "contains", "value": "42.50", "weight": 3}, {"type": "contains", "value": "EUR"}]
    assert score(suite(checks, threshold=0.75), "refund of 42.50").passed is True
    assert score(suite(checks, threshold=0.8), "refund of 42.50").passed is False
    assert score(suite(checks, threshold=0.8), "42.50 EUR").passed is True


ANY_CHECKS = [{"type": "contains", "value": "a"}, {"type": "not-contains", "value": ["b", "c"]},
              {"type": "contains-all", "value": ["d", "e", "f"], "weight": 0.5},
              {"type": "rouge-l", "threshold": 0.2, "weight": 2}, {"type": "length", "max": 20},
              {"type": "is-json", "weight": 0}, {"type": "regex", "value": "[0-9]+"}]


@given(answer=st.one_of(st.none(), st.text(max_size=80)), threshold=st.one_of(st.none(), st.floats(0, 1)))
def test_any_answer_gets_a_bounded_score_and_a_verdict_per_check(answer, threshold):
    s = score(suite(ANY_CHECKS, threshold=threshold), answer)
    assert 0.0 <= s.score <= 1.0
    checks = s.details["checks"]
    assert len(checks) == len(ANY_CHECKS)
    assert all(0.0 <= c["score"] <= 1.0 and c["reason"] and "\n" not in c["reason"] for c in checks)
    want = sum(c["score"] * c["weight"] for c in checks) / sum(c["weight"] for c in checks)
    assert s.score == pytest.approx(want)
    assert s.passed == (s.score >= threshold if threshold is not None else all(c["passed"] for c in checks))
    json.dumps(s.details)  # storable


# ---- refused at validate time ------------------------------------------------------------------

BASE = """
name: g
kind: generation
messages:
  - {role: user, content: "{{ q }}"}
checks:
  - {type: length, max: 500}
cases:
  - id: a
    vars: {q: x}
    reference: The refund was issued.
    checks:
      - CHECK
"""


@pytest.mark.parametrize("check,where,says", [
    ("{type: containz, value: x}", "cases[0].checks[0].type", "unknown check type 'containz'"),
    ("{type: regex, value: '(unclosed'}", "cases[0].checks[0].value", "not a valid regular expression"),
    ("{type: contains}", "cases[0].checks[0].value", "needs a text value, and has none"),
    ("{type: contains, value: ''}", "cases[0].checks[0].value", "empty"),
    ("{type: contains-all, value: x}", "cases[0].checks[0].value", "non-empty list"),
    ("{type: contains-any, value: [a, [b]]}", "cases[0].checks[0].value[1]", "needs a text value"),
    ("{type: rouge-l}", "cases[0].checks[0].threshold", "needs a threshold"),
    ("{type: token-f1, threshold: 1.5}", "cases[0].checks[0].threshold", "less than or equal to 1"),
    ("{type: contains, value: x, threshold: 0.5}", "cases[0].checks[0].threshold", "takes no threshold"),
    ("{type: length}", "cases[0].checks[0].min", "needs min, max or both"),
    ("{type: length, min: 9, max: 3}", "cases[0].checks[0].min", "more than max"),
    ("{type: is-json, value: x}", "cases[0].checks[0].value", "takes no value"),
    ("{type: contains, value: x, weight: -1}", "cases[0].checks[0].weight", "greater than or equal to 0"),
    ("{type: contains, value: x, case: true}", "cases[0].checks[0].case", "unknown key"),
    ("{type: contains, value: x, weight: .inf}", "cases[0].checks[0].weight", "finite number"),
])
def test_bad_checks_are_refused_with_line_and_key_path(tmp_path, check, where, says):
    path = write_suite(tmp_path, "g.yaml", BASE.replace("CHECK", check))
    with pytest.raises(UsageError) as err:
        load_suites([str(path)])
    msg = str(err.value)
    assert msg.startswith(f"{path}:12 {where}: "), msg  # line 12 is the check's line
    assert says in msg


def test_suite_level_problems_name_their_case(tmp_path):
    text = BASE.replace("    reference: The refund was issued.\n", "").replace("CHECK", "{type: rouge-l, threshold: 0.3}")
    path = write_suite(tmp_path, "g.yaml", text)
    with pytest.raises(UsageError, match=re.escape(f"{path}:8 cases[0].reference: required by the rouge-l check "
                                                   "at cases[0].checks[0]")):
        load_suites([str(path)])
    text = BASE.replace("The refund was issued.", "'the ...'").replace("CHECK", "{type: token-f1, threshold: 0.3}")
    with pytest.raises(UsageError, match="holds no words to compare"):
        load_suites([str(write_suite(tmp_path, "h.yaml", text))])
    text = BASE.replace("checks:\n  - {type: length, max: 500}\n", "").replace("    checks:\n      - CHECK\n", "")
    with pytest.raises(UsageError, match=r"cases\[0\]\.checks: no checks for this case, and the suite has none"):
        load_suites([str(write_suite(tmp_path, "i.yaml", text))])
    text = BASE.replace("max: 500}", "max: 500, weight: 0}").replace("CHECK", "{type: contains, value: x, weight: 0}")
    with pytest.raises(UsageError, match="add up to 0"):
        load_suites([str(write_suite(tmp_path, "j.yaml", text))])


def test_validate_exits_2_on_a_bad_check(cli, tmp_path):
    path = write_suite(tmp_path, "g.yaml", BASE.replace("CHECK", "{type: regex, value: '[a-'}"))
    code, out, err = cli("validate", path)
    assert code == 2
    assert f"{path}:12 cases[0].checks[0].value: " in out + err


# ---- metrics -----------------------------------------------------------------------------------


def _row(case, status, checks, passed=None, score=None):
    return {"case_id": case, "status": status, "passed": passed, "score": score, "details": {"checks": checks}}


def test_metrics_by_hand():
    ok = [{"name": "polite", "passed": True}, {"name": "facts", "passed": False}]
    rows = [
        _row("c1", "ok", ok, False, 0.5),
        _row("c1", "ok", [{"name": "polite", "passed": True}, {"name": "facts", "passed": True}], True, 1.0),
        _row("c2", "ok", [{"name": "polite", "passed": False}], False, 0.0),
        # An error fails every check its case carries; its score counts 0.
        _row("c3", "error", [{"name": "polite"}, {"name": "facts"}]),
        # A skipped row is left out of every rate.
        _row("c4", "skipped", [{"name": "polite"}]),
    ]
    m = KIND.suite_metrics(rows)
    # accuracy: c1 1/2, c2 0, c3 0 -> 1/6; mean score: c1 0.75, c2 0, c3 0 -> 0.25
    assert m["accuracy"] == pytest.approx(1 / 6) and m["mean_score"] == pytest.approx(0.25)
    # polite: c1 1, c2 0, c3 0 -> 1/3 over 3 cases; facts: c1 1/2, c3 0 -> 1/4 over 2 cases.
    assert m["check_pass_rates"] == pytest.approx({"polite": 1 / 3, "facts": 1 / 4})
    assert m["check_cases"] == {"polite": 3, "facts": 2}
    assert (m["errors"], m["skipped"]) == (1, 1)


# ---- a whole run ---------------------------------------------------------------------------------

BUNDLED = ROOT / "suites" / "generation-support-replies.yaml"


def test_run_against_the_stub_scores_every_check_and_reports_them(cli, stub, tmp_path):
    from evalseed.testing.stub_server import Reply

    s = load_suites([str(BUNDLED)])[0]
    refs = {c.vars["message"]: c.reference for c in s.cases}

    def respond(body):
        user = body["messages"][-1]["content"]
        message = user.rsplit("Customer message:\n", 1)[1]
        if "cracked mirror" in message:
            return Reply(fault="400")  # one error row: it must fail every check of its case
        return Reply(content=refs[message])  # the senior agent's own reply

    srv = stub(responder=respond)
    db = tmp_path / "g.duckdb"
    code, _, err = cli("run", BUNDLED, "--base-url", srv.base_url, "--models", "seed-1-8-251228", "--db", db,
                       "--no-progress", "--max-attempts", "1")
    assert code == 0, err
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    assert len(rows) == len(s.cases)
    err_row = rows.pop("ticket-json")
    assert err_row["status"] == "error"
    assert [c["name"] for c in err_row["details"]["checks"]] == [
        "no-placeholders", "no-ai-disclaimer", "short-enough", "no-prompt-echo", "is-json", "contains", "topic-damage", "starts-with"]
    for case_id, r in rows.items():
        d = r["details"]
        # The reference passes its own case's checks: the suite is answerable as written.
        assert r["status"] == "ok" and r["passed"] is True, (case_id, d["checks"])
        assert d["expected"] and all(c["reason"] for c in d["checks"])
    code, out, err = cli("runs", "latest", "--db", db, "--json")
    assert code == 0, err
    (rec,) = json.loads(out)["results"]
    assert rec["kind"] == "generation" and rec["accuracy"] == pytest.approx(11 / 12)
    # The error row fails its case's checks: is-json is that case's alone, the suite's checks are
    # on all twelve cases.
    assert rec["check_pass_rates"]["is-json"] == 0.0 and rec["check_cases"]["is-json"] == 1
    assert rec["check_pass_rates"]["no-placeholders"] == pytest.approx(11 / 12)
    assert rec["check_cases"]["no-placeholders"] == 12
    html = report_page(cli, db, tmp_path / "reports")
    assert 'id="kind-generation"' in html and 'class="sortable checks"' in html
    table = html.split('class="sortable checks"', 1)[1].split("</table>", 1)[0]
    assert "topic-damage" in table and "no-placeholders" in table
