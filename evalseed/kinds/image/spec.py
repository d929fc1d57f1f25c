"""The `kind: image` suite file (docs/design.md): prompts, image parameters and what a good answer
looks like. Sizes are checked per model before anything is sent (Seedream 4.5 takes 2K / 4K or WxH
with 3,686,400..16,777,216 pixels and an aspect ratio within 1/16..16, SEED_API.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ...config import VERSION_RE
from ...suites.spec import BaseCase, BaseSuite
from ..generation.spec import DEFAULT_JUDGE, DEFAULT_JUDGE_THRESHOLD

# ---- sizes ----------------------------------------------------------------------------------------

_WXH = re.compile(r"^\s*(\d{1,6})\s*[xX*×]\s*(\d{1,6})\s*$")


@dataclass(frozen=True, slots=True)
class SizeRule:
    """What `size` values one model family accepts."""

    presets: tuple[str, ...]
    min_pixels: int
    max_pixels: int
    max_aspect: float  # the long side over the short side, at most

    def problem(self, size: str, model: str) -> str | None:
        """Why `model` would refuse `size`, or None when it is accepted."""
        if size.strip().upper() in self.presets:
            return None
        m = _WXH.match(size)
        if not m:
            return (f"size {size!r} is neither a preset ({', '.join(self.presets)}) nor WIDTHxHEIGHT "
                    f"such as 2560x1440")
        w, h = int(m.group(1)), int(m.group(2))
        if w == 0 or h == 0:
            return f"size {size!r} has a zero side"
        px = w * h
        if not self.min_pixels <= px <= self.max_pixels:
            return (f"size {size!r} has {px:,} pixels; {model} accepts {self.min_pixels:,} "
                    f"({_example(self.min_pixels)}) to {self.max_pixels:,} ({_example(self.max_pixels)}) "
                    f"or a preset ({', '.join(self.presets)})")
        if max(w, h) / min(w, h) > self.max_aspect:
            return (f"size {size!r} has an aspect ratio of {max(w, h) / min(w, h):.1f}:1; {model} accepts "
                    f"1/{self.max_aspect:g} to {self.max_aspect:g}")
        return None


def _example(px: int) -> str:
    return {3_686_400: "2560x1440", 16_777_216: "4096x4096", 921_600: "1280x720"}.get(px, "")


# Per model family, from SEED_API.md. A family not listed gets the syntax check only.
SIZE_RULES: dict[str, SizeRule] = {
    "seedream-4-5": SizeRule(("2K", "4K"), 3_686_400, 16_777_216, 16.0),
    "seedream-4-0": SizeRule(("1K", "2K", "4K"), 921_600, 16_777_216, 16.0),
}
_ANY_SIZE = SizeRule(("1K", "2K", "4K"), 1, 1 << 30, 1e9)


def family_of(model: str, family: str | None = None) -> str:
    if family:
        return family
    m = VERSION_RE.match(model)
    return m.group("family") if m else model


def size_problem(size: str, model: str, family: str | None = None) -> str | None:
    """Why `model` (of `family`, else the family its name implies) would refuse `size` on ModelArk,
    whose limits SEED_API.md documents, or None."""
    return SIZE_RULES.get(family_of(model, family), _ANY_SIZE).problem(size, model)


# ---- the suite ------------------------------------------------------------------------------------

# Request parameters an image suite may set. `n` is mapped to ModelArk's sequential options where
# the provider has no `n`; `seed` and `guidance_scale` are not supported by Seedream 4.x.
IMAGE_PARAMS = ("size", "n", "watermark", "response_format", "image")
MAX_N = 15


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(IMAGE_PARAMS))
    if unknown:
        raise ValueError(f"unknown image parameter(s) {unknown}; use {', '.join(IMAGE_PARAMS)}")
    if "size" in params:
        size = params["size"]
        if not isinstance(size, str) or _ANY_SIZE.problem(size, "any model"):
            raise ValueError(f"size: {size!r} is not a size; give 2K, 4K or WIDTHxHEIGHT such as 2560x1440")
    if "n" in params:
        n = params["n"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
            raise ValueError(f"n: {n!r}; give a whole number of images from 1 to {MAX_N}")
    if "watermark" in params and not isinstance(params["watermark"], bool):
        raise ValueError("watermark: give true or false")
    if "response_format" in params and params["response_format"] not in ("url", "b64_json"):
        raise ValueError("response_format: give url or b64_json")
    if "image" in params:
        img = params["image"]
        refs = [img] if isinstance(img, str) else img
        if not isinstance(refs, list) or not refs or len(refs) > 14 or not all(isinstance(r, str) for r in refs):
            raise ValueError("image: give one reference image (URL or data: URI) or a list of up to 14")
    return params


class ImageExpect(BaseModel):
    """What a good answer looks like. `count` defaults to the request's `n`; `min_variance` is the
    grey-level variance (0..255 scale, on a 64x64 thumbnail) below which an image counts as blank."""

    model_config = ConfigDict(extra="forbid")
    count: int | None = Field(default=None, ge=0, le=MAX_N)
    min_width: int | None = Field(default=None, ge=1)
    min_height: int | None = Field(default=None, ge=1)
    min_variance: float | None = Field(default=None, ge=0)


DEFAULT_MIN_VARIANCE = 4.0
DEFAULT_MIN_TEXT_SCORE = 0.9


class ExpectText(BaseModel):
    """`expect_text:` the text every image must show, read with OCR: a template rendered with the
    case's vars, and the least text score (1 - character error rate) that passes. A plain string
    is `{text: ...}`."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    min_score: float = Field(default=DEFAULT_MIN_TEXT_SCORE, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"text": v} if isinstance(v, str) else v


class ImageJudge(BaseModel):
    """`judge:` a vision-capable model grades each image's adherence to its prompt against
    `rubric` (kinds/image/judge.py); an image passes this check when the score reaches
    `threshold`. The defaults are the generation judge check's."""

    model_config = ConfigDict(extra="forbid")
    rubric: str = Field(min_length=1, max_length=20_000)
    model: str = Field(default=DEFAULT_JUDGE, min_length=1, max_length=200)
    threshold: float = Field(default=DEFAULT_JUDGE_THRESHOLD, ge=0, le=1)

    @field_validator("rubric")
    @classmethod
    def _rubric(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a judge needs a rubric: what a good image shows")
        return v


_LANG = re.compile(r"^[a-z][a-z_]{1,30}(\+[a-z][a-z_]{1,30}){0,4}$")


class ImageCase(BaseCase):
    prompt: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    expect: ImageExpect | None = None
    # The text the image must show, checked with OCR (a template, rendered with the case's vars).
    expect_text: ExpectText | None = None
    # A vision model grading the image's prompt adherence (replaces the suite's judge).
    judge: ImageJudge | None = None

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_params(v)


class ImageSuite(BaseSuite):
    kind: Literal["image"]
    # A template for every case (rendered with each case's vars) when a case has no prompt.
    prompt: str | None = None
    expect: ImageExpect = Field(default_factory=ImageExpect)
    # For every case without its own: the text its images must show (a template).
    expect_text: ExpectText | None = None
    # For every case without its own: a vision model grading each image's prompt adherence.
    judge: ImageJudge | None = None
    # Tesseract's language(s) for expect_text, e.g. eng or eng+chi_sim (each needs its package).
    ocr_lang: str = "eng"
    cases: list[ImageCase] = Field(min_length=1)  # type: ignore[assignment]  # narrows BaseSuite.cases

    @field_validator("ocr_lang")
    @classmethod
    def _lang(cls, v: str) -> str:
        if not _LANG.match(v):
            raise ValueError(f"{v!r} is not a Tesseract language; give codes such as eng or eng+chi_sim")
        return v

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_params(v)

    @property
    def undocumented_params(self) -> list[str]:
        return []  # _check_params refuses every key it does not know

    @model_validator(mode="after")
    def _shape(self) -> ImageSuite:
        if self.messages:
            raise ValueError("messages: image suites take a prompt (per case or suite-wide), not chat messages")
        for i, case in enumerate(self.cases):
            if not (case.prompt or self.prompt):
                raise ValueError(f"cases[{i}].prompt: field required (or a suite-level prompt template)")
        return self


def effective_params(suite: ImageSuite, case: ImageCase) -> dict[str, Any]:
    return {**suite.params, **case.params}


def effective_expect(suite: ImageSuite, case: ImageCase) -> ImageExpect:
    merged = suite.expect.model_dump(exclude_none=True)
    if case.expect is not None:
        merged.update(case.expect.model_dump(exclude_none=True))
    merged.setdefault("count", effective_params(suite, case).get("n", 1))
    merged.setdefault("min_variance", DEFAULT_MIN_VARIANCE)
    return ImageExpect(**merged)


def effective_text(suite: ImageSuite, case: ImageCase) -> ExpectText | None:
    """The case's `expect_text` (else the suite's), its text rendered with the case's vars."""
    from ...templating import render

    want = case.expect_text if case.expect_text is not None else suite.expect_text
    return None if want is None else want.model_copy(update={"text": render(want.text, case.vars)})


def effective_judge(suite: ImageSuite, case: ImageCase) -> ImageJudge | None:
    """The case's `judge` (else the suite's)."""
    return case.judge if case.judge is not None else suite.judge
