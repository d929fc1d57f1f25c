"""The `kind: classification` suite file (docs/design.md): `labels`, one expected label per case,
and `response_format` (`none`, the default: a free answer; `labels`: the answer constrained to
`{"label": <one of the labels>}` by a JSON schema, where the model takes one). Labels and answers
are compared once normalised (`normalise`)."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import Field, model_validator

from ...suites.spec import BaseCase, BaseSuite, Message


_TRIM = " \t\r\n\"'`*_“”‘’「」『』"
_TRAILING = ".!?,;:。！？，；：、…"


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).casefold().strip(_TRIM)
    t = t.rstrip(_TRAILING).strip(_TRIM)
    return re.sub(r"\s+", " ", t)


class ClassificationCase(BaseCase):
    expected: str


class ClassificationSuite(BaseSuite):
    kind: Literal["classification"]
    labels: list[str] = Field(min_length=2)
    # `labels`: ask for {"label": one of the labels} through a JSON-schema enum (kind.py).
    response_format: Literal["none", "labels"] = "none"
    messages: list[Message] = Field(min_length=1)
    cases: list[ClassificationCase] = Field(min_length=1)  # type: ignore[assignment]  # narrows BaseSuite.cases

    @model_validator(mode="after")
    def _labels(self) -> "ClassificationSuite":
        norm = [normalise(label) for label in self.labels]
        if len(set(norm)) != len(norm):
            raise ValueError("labels: two labels are the same once normalised (case, punctuation)")
        if "" in norm:
            raise ValueError("labels: a label is empty once normalised")
        if "response_format" in self.params:
            raise ValueError("params.response_format: set the suite's top-level response_format (none | labels) instead")
        for i, case in enumerate(self.cases):
            if normalise(case.expected) not in norm:
                raise ValueError(f"cases[{i}].expected: {case.expected!r} is not one of the labels {self.labels}")
        return self
