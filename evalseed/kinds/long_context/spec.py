"""The `kind: long_context` suite file (docs/design.md): explicit cases about a document beside the
suite or inline, and the needle grid. Paths may not leave the suite's folder."""

from __future__ import annotations

from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ...scoring.text import words
from ...suites.paths import check_relative_path
from ...suites.spec import BaseCase, BaseSuite, Message

BUILTIN_HAYSTACK = "builtin"

# ---- paths --------------------------------------------------------------------------------------


def _suite_dir(info: ValidationInfo) -> str | None:
    ctx = info.context if isinstance(info.context, dict) else None
    return ctx.get("suite_dir") if ctx else None


class DocumentSpec(BaseModel):
    """`document: {file: spec.md}` or `document: {text: "..."}`. A plain string is shorthand: text
    when it spans several lines, a file path when it is one line."""

    model_config = ConfigDict(extra="forbid")
    file: str | None = None
    text: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"text": v} if "\n" in v else {"file": v}
        return v

    @model_validator(mode="after")
    def _one(self) -> "DocumentSpec":
        if (self.file is None) == (self.text is None):
            raise ValueError("give exactly one of file (a path beside the suite) or text")
        if self.text is not None and not self.text.strip():
            raise ValueError("text: the document is empty")
        return self

    @field_validator("file")
    @classmethod
    def _file(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else check_relative_path(v, _suite_dir(info))


class Grid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokens: list[int] = Field(min_length=1)
    depths: list[float] = Field(min_length=1)

    @field_validator("tokens")
    @classmethod
    def _tokens(cls, v: list[int]) -> list[int]:
        for t in v:
            if t < 200 or t > 10_000_000:
                raise ValueError(f"{t} is not a usable length; give prompt lengths in tokens from 200 up")
        if len(set(v)) != len(v):
            raise ValueError("a length is listed twice")
        return v

    @field_validator("depths")
    @classmethod
    def _depths(cls, v: list[float]) -> list[float]:
        for d in v:
            if not 0.0 <= d <= 1.0:
                raise ValueError(f"{d} is not a depth; give fractions of the document from 0 (start) to 1 (end)")
        if len({round(d, 4) for d in v}) != len(v):
            raise ValueError("a depth is listed twice")
        return v


Expected = str | list[str]


def _check_expected(v: Expected | None) -> Expected | None:
    if v is None:
        return v
    answers = [v] if isinstance(v, str) else v
    if not answers:
        raise ValueError("give at least one expected answer")
    for a in answers:
        if not words(a):
            raise ValueError(f"{a!r} is empty once normalised (case, punctuation, articles removed)")
    return v


class LongContextCase(BaseCase):
    """An explicit question about a document. `expected` may list several acceptable answers."""

    document: DocumentSpec | None = None
    question: str
    expected: Expected

    @field_validator("expected")
    @classmethod
    def _expected(cls, v: Expected) -> Expected:
        _check_expected(v)
        return v


class NeedleCase(BaseCase):
    """A generated grid cell: the suite's needle at `depth` of a document `tokens` long."""

    tokens: int
    depth: float
    question: str
    expected: Expected


class LongContextSuite(BaseSuite):
    kind: Literal["long_context"]
    messages: list[Message] | None = None
    # Default document for explicit cases that name none.
    document: DocumentSpec | None = None
    cases: list[LongContextCase] = Field(default_factory=list)  # type: ignore[assignment]  # narrows BaseSuite.cases
    # The needle grid.
    needle: str | None = None
    question: str | None = None
    expected: Expected | None = None
    grid: Grid | None = None
    haystack: str = BUILTIN_HAYSTACK
    # Longest prompt (tokens) to send per model name or family, below the context window: a slow
    # model (the embedded CPU one reads ~125 tokens/s) gets the short cases only, the rest skipped.
    prompt_token_limits: dict[str, int] = Field(default_factory=dict)

    @field_validator("prompt_token_limits")
    @classmethod
    def _limits(cls, v: dict[str, int]) -> dict[str, int]:
        for name, limit in v.items():
            if limit < 1:
                raise ValueError(f"{name}: give the longest prompt to send, in tokens (1 or more)")
        return v

    @field_validator("expected")
    @classmethod
    def _expected(cls, v: Expected | None) -> Expected | None:
        return _check_expected(v)

    @field_validator("haystack")
    @classmethod
    def _haystack(cls, v: str, info: ValidationInfo) -> str:
        return v if v == BUILTIN_HAYSTACK else check_relative_path(v, _suite_dir(info))

    @model_validator(mode="after")
    def _shape(self) -> "LongContextSuite":
        if not self.cases and self.grid is None:
            raise ValueError("cases: a long_context suite needs explicit cases, a grid, or both")
        if self.grid is not None:
            for key in ("needle", "question", "expected"):
                if not getattr(self, key):
                    raise ValueError(f"{key}: field required with grid (the sentence to hide, what to ask, the answer)")
        elif self.needle is not None:
            raise ValueError("needle: only used with grid: {tokens: [...], depths: [...]}")
        for i, case in enumerate(self.cases):
            if case.document is None and self.document is None:
                raise ValueError(f"cases[{i}].document: field required (or a suite-level document)")
        ids = {c.id for c in self.cases}
        for cid in (grid_case_id(t, d) for t, d in self.grid_cells()):
            if cid in ids:
                raise ValueError(f"cases: id {cid!r} is also a generated grid case id; rename the case")
        return self

    def grid_cells(self) -> Iterator[tuple[int, float]]:
        if self.grid is None:
            return iter(())
        return ((t, d) for t in self.grid.tokens for d in self.grid.depths)


def grid_case_id(tokens_: int, depth: float) -> str:
    """Stable id of a grid cell, e.g. `needle-120000-at-050` (depth in percent)."""
    return f"needle-{tokens_}-at-{round(depth * 100):03d}"
