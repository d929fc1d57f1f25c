"""`kind: generation`: free-text answers scored by a list of checks, each keyed by a type string
as promptfoo's assertions are (`contains`, `regex`, `rouge-l`, ...).

The suite's `checks` apply to every case and a case's own `checks` are added to them. Each check
gives a score in [0, 1] and a verdict with a one-line reason, all kept in `details.checks`. The
case's score is the checks' weighted mean; it passes when every check passes, or, when the suite
sets `threshold`, when its score reaches the threshold (a suite that wants partial credit to
count says so; by default one failed check fails the case, as in promptfoo). Check specs are
refused at load time (an unknown type, a regex that does not compile, a missing value), so a
typo never turns into a run of failed cases. The rules per type are in docs/scoring.md.
"""

from __future__ import annotations

import json
import unicodedata
from typing import TYPE_CHECKING, Any, Callable

from ...scoring import regex_limit
from ...scoring.text import rouge_l, token_f1
from ...templating import render_messages
from ..base import Kind, Outcome, Prepared, Score, chat_case
from .details import CheckVerdict, GenerationDetails
from .spec import REFERENCE_TYPES, Check, GenerationCase, GenerationSuite, case_checks

if TYPE_CHECKING:
    from ...config import ModelInfo

_QUOTE = 60


def _q(text: str) -> str:
    """A value quoted for a one-line reason, cut short."""
    t = " ".join(text.split())
    return repr(t if len(t) <= _QUOTE else t[:_QUOTE - 1] + "…")


def _cut(pattern: str) -> str:
    return pattern if len(pattern) <= _QUOTE else pattern[:_QUOTE - 1] + "…"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _verdict(ok: bool, yes: str, no: str) -> tuple[float, bool, str]:
    return (1.0, True, yes) if ok else (0.0, False, no)


def run_check(check: Check, answer: str, reference: str | None) -> tuple[float, bool, str]:
    """(score in [0, 1], passed, one-line reason) of one check on one answer."""
    t, v = check.type, check.value
    if t == "equals":
        return _verdict(answer.strip() == v.strip(), f"the answer is {_q(v)}", f"the answer is not {_q(v)}")
    if t == "contains":
        return _verdict(v in answer, f"contains {_q(v)}", f"does not contain {_q(v)}")
    if t == "icontains":
        return _verdict(_fold(v) in _fold(answer), f"contains {_q(v)} (ignoring case)",
                        f"does not contain {_q(v)}, even ignoring case")
    if t == "contains-all":
        missing = [x for x in v if x not in answer]
        score = 1 - len(missing) / len(v)
        if not missing:
            return 1.0, True, f"contains all {len(v)}"
        return score, False, f"{len(v) - len(missing)} of {len(v)} found; missing {', '.join(map(_q, missing))}"
    if t == "contains-any":
        found = next((x for x in v if x in answer), None)
        return _verdict(found is not None, f"contains {_q(found or '')}", f"contains none of {len(v)}")
    if t == "not-contains":
        banned = v if isinstance(v, list) else [v]
        present = [x for x in banned if x in answer]
        if not present:
            return 1.0, True, f"contains none of {len(banned)}" if len(banned) > 1 else f"does not contain {_q(banned[0])}"
        return 1 - len(present) / len(banned), False, f"contains {', '.join(map(_q, present))}"
    if t == "regex":
        try:
            found, match = regex_limit.search(v, answer)
        except regex_limit.RegexTimeout:
            return 0.0, False, (f"/{_cut(v)}/ found no verdict within {regex_limit.TIMEOUT_S:g} s on a "
                                f"{len(answer):,}-character answer (catastrophic backtracking?): counted as no match")
        return _verdict(found, f"/{_cut(v)}/ matches {_q(match or '')}", f"/{_cut(v)}/ does not match")
    if t == "starts-with":
        return _verdict(answer.lstrip().startswith(v), f"starts with {_q(v)}",
                        f"starts with {_q(answer.lstrip()[:len(v)])}, not {_q(v)}")
    if t == "is-json":
        try:
            json.loads(answer.strip())
        except ValueError as e:
            return 0.0, False, f"not JSON: {e}"
        return 1.0, True, "the whole answer is JSON"
    if t == "length":
        n = len(answer.strip())
        if check.min is not None and n < check.min:
            return 0.0, False, f"{n} characters, under the minimum of {check.min}"
        if check.max is not None and n > check.max:
            return 0.0, False, f"{n} characters, over the maximum of {check.max}"
        return 1.0, True, f"{n} characters, within bounds"
    if t in REFERENCE_TYPES:
        fn: Callable[[str, str], float] = token_f1 if t == "token-f1" else rouge_l
        score = fn(answer, reference or "")
        ok = score >= (check.threshold or 0.0)
        return score, ok, f"{t} {score:.3f} against the reference ({'at or above' if ok else 'below'} {check.threshold})"
    raise AssertionError(f"check type {t!r} has no rule")  # CHECK_TYPES and this function disagree


class Generation(Kind[GenerationSuite, GenerationCase]):
    name = "generation"
    suite_model = GenerationSuite
    title = "Generation: pass rate per check"
    starter_file = "support-replies.yaml"

    def prepare(self, suite: GenerationSuite, case: GenerationCase, model: ModelInfo) -> Prepared:
        # The reference and the checks a case faces, on error and skipped rows too: a per-check
        # pass rate counts an error row as a failure of each of its checks.
        state: dict[str, Any] = {"detail_expected": case.reference,
                                 "detail_checks": [{"name": c.label, "type": c.type}
                                                   for c in case_checks(suite, case)]}
        return chat_case(suite, model, render_messages(suite.messages, case.vars), state)

    def score(self, suite: GenerationSuite, case: GenerationCase, prepared: Prepared, outcome: Outcome) -> Score:
        answer = outcome.output_text if isinstance(outcome.output_text, str) else ""
        checks = case_checks(suite, case)
        verdicts: list[CheckVerdict] = []
        total = weighted = 0.0
        # Weights relative to the largest: two weights of 1e308 would overflow their sum to inf.
        top = max(c.weight for c in checks)
        for c in checks:
            score, ok, reason = run_check(c, answer, case.reference)
            verdicts.append({"name": c.label, "type": c.type, "passed": ok, "score": score, "weight": c.weight,
                             "reason": reason})
            total += c.weight / top
            weighted += c.weight / top * score
        score = min(1.0, weighted / total)
        passed = score >= suite.threshold if suite.threshold is not None else all(v["passed"] for v in verdicts)
        details: GenerationDetails = {"expected": case.reference, "checks": verdicts, "threshold": suite.threshold,
                                   "checks_passed": sum(v["passed"] for v in verdicts)}
        if prepared.state.get("dropped_params"):
            details["dropped_params"] = prepared.state["dropped_params"]
        return Score(score=score, passed=passed, details=dict(details))


KIND = Generation()
