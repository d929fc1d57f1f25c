"""Async execution: per-model workers, rate limits, retries, timers, budget.

The engine schedules opaque jobs (`Job.run(api)`) and gives each an `Api` whose calls go through
the real `openai.AsyncOpenAI` client, and whose downloads through one plain HTTP client, both
with our own retry loop. It knows nothing of task kinds and imports nothing from
`evalseed.kinds`.

- `lane`: EngineOptions and ModelLane, what every call to one model shares.
- `api`: JobApi, the calls one job makes, measured into CallResults, and its downloads.
- `download`: the HTTP client for links in answers (public addresses only, unless allowed) and
  one download attempt.
- `usage`: the usage a server reports, checked against what the request allowed.
- `retry`: the retry loop, what each failure means, the backoff.
- `failures`: HTTP error statuses and bodies as retried or final failures, Retry-After.
- `sse`: reading a streamed answer and assembling it.
- `budget`: --budget-usd reservations (waiting for room rather than stopping) and `worst_case`,
  the one estimate both they and --dry-run use.
- `redact`: the run's keys kept out of stored and printed text, in any spelling.
- `transport`: the API client's HTTP client, error bodies capped.
- `scheduling`: Engine, the per-model workers.
"""

from ..errors import BudgetExhausted, CallFailed
from .api import JobApi, row_finish_reason
from .budget import MAX_COMPLETION_TOKENS, Budget, WorstCase, billable_output_tokens, case_worst_case, worst_case
from .download import AddressPolicy, Downloads
from .failures import FILTER_FINISH_REASON, FILTERED, content_filtered
from .lane import CallObserver, EngineOptions, ModelLane
from .redact import Redactor
from .retry import DOWN_STREAK
from .scheduling import Engine, Job

__all__ = [
    "DOWN_STREAK", "MAX_COMPLETION_TOKENS", "AddressPolicy", "Budget", "BudgetExhausted", "CallFailed", "CallObserver", "Downloads",
    "Engine", "EngineOptions", "FILTERED", "FILTER_FINISH_REASON", "Job", "JobApi", "ModelLane", "Redactor",
    "WorstCase", "billable_output_tokens", "case_worst_case", "content_filtered", "row_finish_reason", "worst_case",
]
