"""The generation `regex` check has a time limit: a catastrophic pattern on a long answer that
does not match is a scored failure within the limit, not a hung run; the helper that ran it is
replaced and the next search works."""

from __future__ import annotations

import time

import pytest

from evalseed.kinds.generation import Check, run_check
from evalseed.scoring import regex_limit


def test_catastrophic_backtracking_is_cut_off(monkeypatch):
    monkeypatch.setattr(regex_limit, "TIMEOUT_S", 0.5)
    check = Check.model_validate({"type": "regex", "value": "(a+)+$"})
    answer = "a" * 5000 + "!"  # re.search would run for longer than any run lasts
    t0 = time.monotonic()
    score, ok, reason = run_check(check, answer, None)
    took = time.monotonic() - t0
    assert (score, ok) == (0.0, False)
    assert "no verdict within 0.5 s" in reason and "5,001-character" in reason
    assert took < 5
    # The helper was replaced: the next search answers, and correctly.
    assert run_check(check, "aaa", None)[:2] == (1.0, True)
    assert run_check(Check.model_validate({"type": "regex", "value": r"(?i)\bsorry\b"}), "So SORRY!", None)[1]


def test_search_matches_re_semantics():
    assert regex_limit.search(r"^\d{4}$", "year 2024") == (False, None)
    assert regex_limit.search(r"\d{4}", "year 2024") == (True, "2024")
    assert regex_limit.search(r"x*", "abc") == (True, "")  # an empty match is a match
    assert regex_limit.search("退款", "您的退款已到账\ud800") == (True, "退款")  # any text crosses the pipe


def test_a_pattern_that_does_not_compile_raises():
    with pytest.raises(ValueError):
        regex_limit.search("(", "x")


def test_a_killed_helper_is_started_again():
    regex_limit.search("a", "a")
    regex_limit._HELPER.proc.kill()
    regex_limit._HELPER.proc.wait()
    assert regex_limit.search("b", "abc") == (True, "b")
