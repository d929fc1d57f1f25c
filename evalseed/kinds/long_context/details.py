"""The `details` of a long-context row. The grid cell and document figures are known before the
call (`prepare` keeps them as `detail_*` state, so skipped rows carry them too); the answer's
figures are the scorer's."""

from __future__ import annotations

from ..base import RowDetails


class LongContextDetails(RowDetails, total=False):
    token_ratio: str
    chars_per_token: float
    target_tokens: int  # grid cases: the cell's length and depth
    depth: float
    document_chars: int
    document: str  # explicit cases: the file, or "(inline)"
    est_prompt_tokens: int
    contains: bool
    f1: float
    prompt_tokens: int
    tokens_vs_target: float
    copied_chars: int
    echoed_document: bool  # the answer recites the prompt: failed whatever it contains
