"""The `details` of an image row: each image's record with its verdict, and the counts."""

from __future__ import annotations

from typing import Any, TypedDict

from ..base import RowDetails


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
