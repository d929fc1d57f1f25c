"""What an HTTP failure means for a request: retried (the server may recover) or final, and
how long the server asked us to wait. Shared by API calls, streams and downloads."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

from ..errors import PermanentCallError, TransientCallError


def status_error(status: int, code: str | None, message: str,
                 headers: Mapping[str, str]) -> TransientCallError | PermanentCallError:
    """An HTTP error status as a retried or a final failure: the server may recover from a rate
    limit, a conflict or its own error; anything else would be refused again."""
    error_class = f"HTTP{status}" + (f" {code}" if code else "")
    if status in (408, 409, 425, 429) or status >= 500:
        return TransientCallError(error_class, message, retry_after(headers))
    return PermanentCallError(error_class, message)


def error_code(body: Any, fallback: str) -> tuple[str | None, str]:
    """(code, message) from a Seed/OpenAI error body, which may be the whole body or its `error`."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            code = inner.get("code") or inner.get("type")
            message = inner.get("message") or fallback
            return (str(code) if code else None), str(message)
        if isinstance(inner, str):
            return None, inner
    return None, fallback


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, else `retry-after` in seconds or as
    an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


# A row's status when a content filter, not the model's answer, decided the case (issue 18).
FILTERED = "filtered"
FILTER_FINISH_REASON = "content_filter"
# OpenAI's and Azure's codes for a refused prompt; Seed's are `...SensitiveContentDetected`
# (SEED_API.md: InputTextSensitiveContentDetected, OutputImageSensitiveContentDetected, ...).
_FILTER_CODES = {"content_filter", "content_policy_violation", "responsibleaipolicyviolation"}


def content_filtered(error_class: str | None) -> bool:
    """Whether a failed request's class (`HTTP400 InputTextSensitiveContentDetected`) is a content
    filter's refusal: the case's outcome, recorded as status `filtered` rather than an error."""
    if not error_class:
        return False
    code = error_class.split(" ", 1)[-1].strip()
    return code.endswith("SensitiveContentDetected") or code.lower() in _FILTER_CODES
