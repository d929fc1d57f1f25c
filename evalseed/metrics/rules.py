"""Which rows a metric counts, as SQL over the `results` columns. Every metric in evalseed is
built from these fragments, so the rule is written once:

- a row is *asked* when its status is `ok`, `error` or `filtered` (a content filter refused or
  ended the answer); a `skipped` row was never sent and is left out of every rate and mean (its
  count is reported beside them);
- an `error` or `filtered` row is an answer that failed: it never passes, and any per-answer value
  (field F1, schema-valid, score) is 0 on it;
- measurements (latency, steps, images, cost per image) exist only for `ok` rows and are taken
  over those.
"""

from __future__ import annotations

ASKED_STATUSES = ("ok", "error", "filtered")

ASKED = f"status IN {ASKED_STATUSES!r}"
OK = "status = 'ok'"
PASSED = "(status = 'ok' AND passed IS TRUE)"
FILTERED = "status = 'filtered'"
# An answer that ended at the token limit (max_tokens / max_completion_tokens): kept and scored as
# answered, counted beside the figures so a cut-off answer does not pass for a wrong one.
CUT = "finish_reason = 'length'"
# An answer's score: the scorer's, or pass/fail as 1/0 for rows that carry no score (imported ones).
SCORE = "coalesce(score, CAST(passed AS DOUBLE))"


def asked(status: str | None) -> bool:
    """`ASKED` for a row held in Python (compare pairs rows it has loaded, and its decision code
    runs on simulated rows without a database)."""
    return status in ASKED_STATUSES


def passed(status: str | None, passed_: bool | None) -> bool:
    """`PASSED` for a row held in Python."""
    return status == "ok" and passed_ is True


def answer(value_sql: str) -> str:
    """The per-answer value of an asked row: `value_sql` on an ok row (missing counts as 0),
    0 on an error or filtered row."""
    return f"CASE WHEN {OK} THEN coalesce(CAST(({value_sql}) AS DOUBLE), 0.0) ELSE 0.0 END"


def flag(key: str) -> str:
    """A boolean `details` key (missing = false)."""
    return f"coalesce(TRY_CAST(details->>'{key}' AS BOOLEAN), FALSE)"


def number(key: str) -> str:
    """A numeric `details` key (missing or not a number = NULL)."""
    return f"TRY_CAST(details->>'{key}' AS DOUBLE)"


def answer_value(status: str | None, value: float | None) -> float:
    """`answer` for a row held in Python."""
    return float(value or 0.0) if status == "ok" else 0.0


def score(score_: float | None, passed_: bool | None) -> float | None:
    """`SCORE` for a row held in Python."""
    return score_ if score_ is not None else (float(passed_) if passed_ is not None else None)
