"""The `details` of a JSON extraction row (docs/scoring.md): whether the answer parsed (and sat in
a code fence), whether it is valid against the schema, and its field scores against `expected`."""

from __future__ import annotations

from typing import Any

from ..base import RowDetails


class JsonExtractionDetails(RowDetails, total=False):
    response_format: str
    response_format_used: str
    degraded: bool  # structured output not supported by the model: plain prompting
    # Schema paths of `pattern`s left out of the schema sent on the json_object wire (kind.py);
    # the answer is still checked against the whole schema.
    patterns_not_sent: list[str]
    parsed: bool
    fenced: bool
    parse_error: str | None
    schema_valid: bool
    schema_errors: list[str]
    precision: float
    recall: float
    f1: float
    fields_expected: int
    fields_correct: int
    mismatches: list[dict[str, Any]]  # {"path", "expected", "got"}
    missing: list[str]  # paths of scoring.json_fields.flatten ("a.b[0].c")
    extra: list[str]
