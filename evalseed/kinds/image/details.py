"""The `details` of an image row: each image's record with its verdict, and the counts."""

from __future__ import annotations

from typing import Any, TypedDict

from ..base import RowDetails
from ..generation.details import JudgeRecord, JudgeUsage


class ImageRecord(TypedDict, total=False):
    index: int
    path: str
    format: str
    width: int
    height: int
    bytes: int
    variance: float
    error: dict[str, Any]  # a failed image inside a partly failed response
    decode_error: str
    save_error: str
    # expect_text (OCR): the text read, or why it could not be; its scores against the expected text.
    ocr_text: str
    ocr_error: str
    expected_text: str
    cer: float
    text_score: float
    text_exact: bool
    # judge: the judge's record for this image (its score, reason, usage), and the score counted
    # (the judge's, 0 for a verdict that could not be used).
    judge: JudgeRecord
    judge_score: float
    ok: bool
    problems: list[str]


class ImageDetails(RowDetails, total=False):
    count: int  # images returned
    count_ok: int
    failed_images: int
    images: list[ImageRecord]
    problems: list[str]
    n_mapped_to: str
    size_note: str
    text_exact: int  # images whose text read exactly as expected (normalised)
    mean_cer: float | None
    mean_judge_score: float | None  # over the images the judge graded
    judge: JudgeUsage  # the row's judge calls in all, apart from its own cost_usd and tokens
