"""The suite file contract (docs/design.md, "Suite files"): common keys. Each task kind subclasses these two models
with its own keys, so unknown keys are errors everywhere (`extra="forbid"`)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator,
                      model_validator)

NAME_RE = re.compile(r"^[a-z0-9_-]+$")


class TextPart(BaseModel):
    """`{type: text, text: ...}` in a message's content list: a template, like plain content."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ImageUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # https://, http:// or data: as written; else a file beside the suite (a template too, so a
    # case's vars or a data file's column can name it), sent as a data: URL (suites/images.py).
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(BaseModel):
    """`{type: image_url, image_url: {url: ...}}` (OpenAI's shape); `image_url: path` is short
    for `{url: path}`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["image_url"]
    image_url: ImageUrl

    @field_validator("image_url", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"url": v} if isinstance(v, str) else v


ContentPart = Annotated[Union[TextPart, ImagePart], Field(discriminator="type")]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str
    # Text, or a list of parts: text and images (for models whose `vision` is true).
    content: str | list[ContentPart]
    # The suite's folder, where local image files are looked up (set when the suite is loaded).
    _suite_dir: str | None = PrivateAttr(default=None)

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        if v not in ("system", "user", "assistant", "developer"):
            raise ValueError("role must be one of system, user, assistant, developer")
        return v

    @field_validator("content")
    @classmethod
    def _parts(cls, v: str | list[Any], info: ValidationInfo) -> str | list[Any]:
        if isinstance(v, list):
            if not v:
                raise ValueError("an empty list of parts; give text or parts")
            suite_dir = info.context.get("suite_dir") if isinstance(info.context, dict) else None
            for i, part in enumerate(v):
                url = part.image_url.url if isinstance(part, ImagePart) else None
                if url is not None and "{" not in url:  # a template is checked per case (check_templates)
                    from .images import check_local_image, is_local

                    if is_local(url):
                        try:
                            check_local_image(url, suite_dir)
                        except ValueError as e:
                            raise ValueError(f"[{i}].image_url.url: {e}") from None
        return v

    @model_validator(mode="after")
    def _where(self, info: ValidationInfo) -> "Message":
        self._suite_dir = info.context.get("suite_dir") if isinstance(info.context, dict) else None
        return self

    @property
    def suite_dir(self) -> str | None:
        return self._suite_dir

    def images(self) -> list[str]:
        """The image URLs of this message as written (templates unrendered)."""
        if isinstance(self.content, str):
            return []
        return [p.image_url.url for p in self.content if isinstance(p, ImagePart)]


class BaseCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    vars: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, v: Any) -> Any:
        # YAML turns `id: 12` into an int; an id is text, so accept it as such.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class SuiteGate(BaseModel):
    """`gate:` in a suite: what `evalseed compare` holds this suite to besides the paired test.
    `min_accuracy` is an absolute floor on the candidate's accuracy (the one definition, errors
    counting as failures): below it the suite fails whatever the significance, as promptfoo's
    thresholds do, because a small suite may be unable to fail the test at all."""

    model_config = ConfigDict(extra="forbid")
    min_accuracy: float | None = Field(default=None, ge=0, le=1)


class BaseSuite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str
    description: str = ""
    models: list[str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    messages: list[Message] | None = None
    repeats: int = Field(default=1, ge=1, le=100)
    gate: SuiteGate | None = None
    cases: list[BaseCase] = Field(default_factory=list)

    # Set by the loader, not by the file.
    _path: str = PrivateAttr(default="")
    _content_hash: str = PrivateAttr(default="")

    @property
    def path(self) -> str:
        return self._path

    @property
    def content_hash(self) -> str:
        return self._content_hash

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("name may only hold lowercase letters, digits, '-' and '_'")
        return v

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        # Kinds whose requests are not chat completions (image) override this validator.
        from .params import check_chat_params

        problem = check_chat_params(v)
        if problem:
            raise ValueError(problem)
        return v

    @property
    def undocumented_params(self) -> list[str]:
        from .params import undocumented

        return undocumented(self.params)

    @model_validator(mode="after")
    def _unique_case_ids(self) -> "BaseSuite":
        seen: set[str] = set()
        for i, case in enumerate(self.cases):
            if case.id in seen:
                raise ValueError(f"cases[{i}].id: duplicate case id {case.id!r}")
            seen.add(case.id)
        return self
