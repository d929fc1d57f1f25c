"""The `details` of a classification row: the label expected and the label answered, both as the
suite spells them (`predicted` None and `unparsed` true when the answer is no label)."""

from __future__ import annotations

from ..base import RowDetails


class ClassificationDetails(RowDetails, total=False):
    predicted: str | None
    unparsed: bool
