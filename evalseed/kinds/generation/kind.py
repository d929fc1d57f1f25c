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
import re
import unicodedata
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...scoring.text import rouge_l, token_f1, words
from ...suites.spec import BaseCase, BaseSuite, Message
from ...templating import render_messages
from ..base import Kind, Outcome, Prepared, Score, SuiteEntries, chat_body, chat_prepared
from .details import CheckVerdict, GenerationDetails

if TYPE_CHECKING:
    from ...metrics.scope import Scope
    from ...report.synthetic import SyntheticRow

# type -> what the check reads: one text, a list of texts, either, a pattern, length bounds, the
# case's reference, or nothing. The keys a check may carry follow from it (see `_FIELDS`).
CHECK_TYPES: dict[str, str] = {
    "equals": "text",
    "contains": "text",
    "icontains": "text",
    "contains-all": "texts",
    "contains-any": "texts",
    "regex": "pattern",
    "not-contains": "text_or_texts",
    "starts-with": "text",
    "is-json": "none",
    "length": "bounds",
    "token-f1": "reference",
    "rouge-l": "reference",
}
REFERENCE_TYPES = tuple(t for t, v in CHECK_TYPES.items() if v == "reference")
_FIELDS = {"text": {"value"}, "texts": {"value"}, "text_or_texts": {"value"}, "pattern": {"value"},
           "none": set(), "bounds": {"min", "max"}, "reference": {"threshold"}}
_OPTIONAL = ("value", "min", "max", "threshold")
_QUOTE = 60


class Check(BaseModel):
    """One check as written in the suite. Which of `value`, `min`, `max`, `threshold` it takes
    depends on `type`; a key the type does not use is refused rather than ignored, so
    `{type: contains, threshold: 0.8}` is caught as the mistake it is."""

    model_config = ConfigDict(extra="forbid")
    type: str
    name: str | None = Field(default=None, min_length=1, max_length=100)
    value: Any = None
    weight: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    threshold: float | None = Field(default=None, ge=0, le=1)
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _by_type(self) -> "Check":
        shape = CHECK_TYPES.get(self.type) if isinstance(self.type, str) else None
        if shape is None:
            raise ValueError(f"type: unknown check type {self.type!r}; use one of {', '.join(CHECK_TYPES)}")
        allowed = _FIELDS[shape]
        for key in _OPTIONAL:
            if key not in allowed and getattr(self, key) is not None:
                raise ValueError(f"{key}: a {self.type} check takes no {key}")
        if shape in ("text", "pattern"):
            self.value = _text(self.value, self.type)
        elif shape == "texts":
            self.value = _texts(self.value, self.type)
        elif shape == "text_or_texts":
            self.value = _texts(self.value, self.type) if isinstance(self.value, list) else _text(self.value, self.type)
        if shape == "pattern":
            try:
                re.compile(self.value)
            except re.error as e:
                raise ValueError(f"value: {self.value!r} is not a valid regular expression ({e})") from None
        if shape == "bounds":
            if self.min is None and self.max is None:
                raise ValueError("min: a length check needs min, max or both (characters)")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"min: {self.min} is more than max {self.max}")
        if shape == "reference" and self.threshold is None:
            raise ValueError(f"threshold: a {self.type} check needs a threshold between 0 and 1 to pass")
        return self

    @property
    def label(self) -> str:
        """What the check is reported under: its `name`, else its type."""
        return self.name or self.type


def _text(v: Any, type_: str) -> str:
    # YAML reads `value: 2024` as a number; the check means the text.
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise ValueError(f"value: a {type_} check needs a text value" + ("" if v is not None else ", and has none"))
    if v == "":
        raise ValueError(f"value: empty; a {type_} check with an empty value would pass or fail every answer")
    return v


def _texts(v: Any, type_: str) -> list[str]:
    if not isinstance(v, list) or not v:
        raise ValueError(f"value: a {type_} check needs a non-empty list of texts")
    out = []
    for i, x in enumerate(v):
        try:
            out.append(_text(x, type_))
        except ValueError as e:
            raise ValueError(f"value[{i}]: {str(e).split(': ', 1)[1]}") from None
    return out


class GenerationCase(BaseCase):
    reference: str | None = None
    checks: list[Check] = Field(default_factory=list)


class GenerationSuite(BaseSuite):
    kind: Literal["generation"]
    messages: list[Message] = Field(min_length=1)
    checks: list[Check] = Field(default_factory=list)
    threshold: float | None = Field(default=None, ge=0, le=1)
    cases: list[GenerationCase] = Field(min_length=1)  # type: ignore[assignment]  # narrows BaseSuite.cases

    @model_validator(mode="after")
    def _cases_can_be_scored(self) -> "GenerationSuite":
        for i, case in enumerate(self.cases):
            checks = [*(("checks", j, c) for j, c in enumerate(self.checks)),
                      *((f"cases[{i}].checks", j, c) for j, c in enumerate(case.checks))]
            if not checks:
                raise ValueError(f"cases[{i}].checks: no checks for this case, and the suite has none")
            if sum(c.weight for _, _, c in checks) <= 0:
                raise ValueError(f"cases[{i}].checks: the weights of this case's checks add up to 0")
            for where, j, c in checks:
                if c.type not in REFERENCE_TYPES:
                    continue
                if case.reference is None:
                    raise ValueError(f"cases[{i}].reference: required by the {c.type} check at {where}[{j}]")
                if not words(case.reference):
                    raise ValueError(f"cases[{i}].reference: holds no words to compare (only punctuation or "
                                     f"articles), so the {c.type} check at {where}[{j}] could not score")
        return self


def case_checks(suite: GenerationSuite, case: GenerationCase) -> list[Check]:
    """The checks one case is scored by: the suite's, then its own."""
    return [*suite.checks, *case.checks]


def _q(text: str) -> str:
    """A value quoted for a one-line reason, cut short."""
    t = " ".join(text.split())
    return repr(t if len(t) <= _QUOTE else t[:_QUOTE - 1] + "…")


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
        m = re.search(v, answer)
        return _verdict(m is not None, f"/{v}/ matches {_q(m.group(0)) if m else ''}", f"/{v}/ does not match")
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

    def prepare(self, suite: GenerationSuite, case: GenerationCase, model) -> Prepared:
        messages = render_messages(suite.messages, case.vars)
        body, dropped = chat_body(suite, model, messages)
        # The reference and the checks a case faces, on error and skipped rows too: a per-check
        # pass rate counts an error row as a failure of each of its checks.
        state: dict[str, Any] = {"detail_expected": case.reference,
                                 "detail_checks": [{"name": c.label, "type": c.type}
                                                   for c in case_checks(suite, case)]}
        if dropped:
            state["dropped_params"] = dropped
        return chat_prepared(messages, body, model, state)

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

    # ---- figures, report and synthetic rows: this package's metrics.py, report.py, synthetic.py ----

    def metrics(self, con: Any, scope: Scope) -> dict[tuple, dict[str, Any]]:
        from .metrics import metrics

        return metrics(con, scope)

    def report_data(self, con: Any, out_dir: str | None, suites: Sequence[SuiteEntries]) -> list[dict]:
        from .report import section

        return section(con, out_dir, suites)

    def synthetic_suite(self, cases_per_suite: int) -> dict[str, Any] | None:
        return {"name": "support-replies", "hash": "5eed9e4e7a71", "cases": cases_per_suite}

    def synthetic_row(self, row: SyntheticRow) -> None:
        from .synthetic import fill

        fill(row)


KIND = Generation()
