"""The `details` of a classification row: the label expected and the label answered, both as the
suite spells them (`predicted` None and `unparsed` true when the answer is no label), and how it
was asked: `response_format_used` (`labels`: constrained by the label schema; `none`: free),
`degraded` (the suite asked for labels and the model takes no JSON schema)."""

from __future__ import annotations

from ..base import RowDetails


class ClassificationDetails(RowDetails, total=False):
    predicted: str | None
    unparsed: bool
    response_format_used: str
    degraded: bool
