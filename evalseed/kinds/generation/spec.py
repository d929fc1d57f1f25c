"""The `kind: generation` suite file (docs/design.md): `checks` on the suite and on each case,
keyed by `type` as promptfoo's assertions are, refused at load time when they could not score."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from ...scoring.text import words
from ...suites.spec import BaseCase, BaseSuite, Message
from .custom import check_scorer_ref


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
    "python": "scorer",
    "judge": "judge",
}
REFERENCE_TYPES = tuple(t for t, v in CHECK_TYPES.items() if v == "reference")
_FIELDS = {"text": {"value"}, "texts": {"value"}, "text_or_texts": {"value"}, "pattern": {"value"},
           "none": set(), "bounds": {"min", "max"}, "reference": {"threshold"}, "scorer": {"value"},
           "judge": {"rubric", "model", "offline_model", "threshold"}}
_OPTIONAL = ("value", "min", "max", "threshold", "rubric", "model", "offline_model")
#: The judge model when a judge check names none.
DEFAULT_JUDGE = "seed-1-8-251228"
#: A judge check passes when the judge's score reaches this, unless it sets `threshold`.
DEFAULT_JUDGE_THRESHOLD = 0.5


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
    rubric: str | None = Field(default=None, min_length=1, max_length=20_000)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    # The judge asked instead of `model` when the graded model is the embedded one on its own
    # server (`--models local`), which answers only as itself: a bundled suite judged by a Seed
    # model by default can then be run, and recorded, offline. The verdict names the model that
    # gave it either way.
    offline_model: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _by_type(self, info: ValidationInfo) -> "Check":
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
        if shape == "scorer":
            self.value = _text(self.value, self.type)
            ctx = info.context if isinstance(info.context, dict) else {}
            check_scorer_ref(self.value, ctx.get("suite_dir"))
        if shape == "judge" and (self.rubric is None or not self.rubric.strip()):
            raise ValueError("rubric: a judge check needs a rubric: what a good answer does")
        if shape == "reference" and self.threshold is None:
            raise ValueError(f"threshold: a {self.type} check needs a threshold between 0 and 1 to pass")
        return self

    @property
    def judge_model(self) -> str:
        return self.model or DEFAULT_JUDGE

    def judge_for(self, provider: Any) -> str:
        """The judge this check asks when the graded model is served by `provider`: the
        `offline_model` on the embedded model's own server, when the check names one."""
        if self.offline_model and provider is not None and getattr(provider, "name", None) == "local" \
                and not getattr(provider, "base_url", None):
            return self.offline_model
        return self.judge_model

    @property
    def judge_threshold(self) -> float:
        return DEFAULT_JUDGE_THRESHOLD if self.threshold is None else self.threshold

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
    # A person's verdict on the answer to this case, for calibrating the case's judge checks:
    # `pass` / `fail`, or a score in [0, 1] (a pass when it reaches the judge check's threshold).
    human: Literal["pass", "fail"] | float | None = None

    @model_validator(mode="after")
    def _human_in_range(self) -> "GenerationCase":
        h = self.human
        if isinstance(h, float) and not 0.0 <= h <= 1.0:
            raise ValueError(f"human: {h} is not a score between 0 and 1 (or pass / fail)")
        return self


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
            if case.human is not None and not any(c.type == "judge" for _, _, c in checks):
                raise ValueError(f"cases[{i}].human: a human label calibrates a judge check, and this case has none")
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
