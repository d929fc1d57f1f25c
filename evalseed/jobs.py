"""One case on one model: prepare, execute, score, and the `results` row that records it.

This is the only place that joins a kind (what to ask, how to score) with the engine's Api (how
to ask): the engine schedules jobs without knowing their kind, the kinds never see HTTP.
"""

from __future__ import annotations

import hashlib
import logging
import re
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .config import ModelInfo
from .core import CallResult, Outcome, Prepared
from .engine import FILTER_FINISH_REASON, FILTERED, JobApi, content_filtered, row_finish_reason
from .errors import BudgetExhausted, CallFailed, CaseError, RunAborted
from .kinds.base import Kind
from .suites.spec import BaseCase, BaseSuite

log = logging.getLogger("evalseed")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(slots=True)
class CaseJob:
    run_id: str
    suite: BaseSuite
    kind: Kind
    case: BaseCase
    model_info: ModelInfo
    provider: str
    repeat: int
    out_dir: str  # this run's artefact folder (generated images)

    @property
    def model(self) -> str:
        return self.model_info.name

    @property
    def case_id(self) -> str:
        return self.case.id

    def base_row(self, started: datetime) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "suite": self.suite.name,
            "case_id": self.case.id,
            "kind": self.suite.kind,
            "model": self.model_info.name,
            "provider": self.provider,
            "repeat": self.repeat,
            "started_at": started,
            "replayed": False,
        }

    def prepare(self) -> Prepared:
        prepared = self.kind.prepare(self.suite, self.case, self.model_info)
        prepared.skip_reason = prepared.skip_reason or self._over_limit(prepared)
        prepared.state.setdefault("out_dir", self.out_dir)
        prepared.state.setdefault(
            "file_stem", f"{self.suite.name}/{file_part(self.case.id)}-{file_part(self.model_info.name)}-{self.repeat}")
        return prepared

    def _over_limit(self, prepared: Prepared) -> str | None:
        """A request the provider documents it would refuse is not sent: skipped with the figures
        (ModelArk takes at most 224K input tokens of seed-1-8's 256K window, for one)."""
        m, body = self.model_info, prepared.request or {}
        where = f"{m.name} on {self.provider}"
        if m.max_input_tokens and prepared.est_prompt_tokens > m.max_input_tokens:
            return (f"prompt of about {prepared.est_prompt_tokens:,} tokens is over the {m.max_input_tokens:,}-token "
                    f"input limit of {where}")
        asked = body.get("max_completion_tokens")
        if m.max_completion_tokens and isinstance(asked, int) and asked > m.max_completion_tokens:
            return f"max_completion_tokens {asked:,} is over the {m.max_completion_tokens:,} that {where} accepts"
        return None

    async def run(self, api: JobApi) -> dict[str, Any]:
        started = _now()
        row = self.base_row(started)
        try:
            prepared = self.prepare()
        except CaseError as e:
            return self._error(row, "CaseError", str(e), None, 0, None)
        row["input_text"] = prepared.input_text
        row["request"] = prepared.request
        if prepared.skip_reason:
            row.update(status="skipped", error=prepared.skip_reason, attempts=0, finished_at=_now(),
                       details={**self._base_details(prepared), "skip_reason": prepared.skip_reason})
            return row
        try:
            # JobApi is the engine's Api (core.Api declares `provider` settable, JobApi reads it).
            outcome = await self.kind.execute(prepared, api)
        except CallFailed as e:
            return self._error(row, e.error_class, e.message, e.request, e.attempts, prepared)
        except CaseError as e:
            return self._error(row, "CaseError", str(e), None, 0, prepared)
        except (RunAborted, BudgetExhausted):
            raise
        except Exception as e:  # a response shape no kind expected must cost one case, not the run
            log.debug("execute failed:\n%s", traceback.format_exc())
            return self._error(row, "UnexpectedResponse", f"{type(e).__name__}: {e}"[:500], None, 0, prepared)
        return self.scored_row(row, prepared, outcome)

    def _base_details(self, prepared: Prepared | None) -> dict[str, Any]:
        """What every row's `details` holds whatever happened: the expected answer, the case's
        tags (reports and routers slice by them), and the kind's public state (a grid cell)."""
        details: dict[str, Any] = {"expected": self.kind.expected(self.case)}
        if self.case.tags:
            details["tags"] = list(self.case.tags)
        if prepared is not None:
            details.update(_public_state(prepared))
        return details

    def scored_row(self, row: dict, prepared: Prepared, outcome: Outcome) -> dict[str, Any]:
        calls = outcome.calls
        row.update(aggregate_calls(calls))
        if calls:
            row["request"] = calls[0].request
        row["response"] = outcome.response
        row["output_text"] = outcome.output_text
        row.update(self.verdict(prepared, outcome))
        return row

    def verdict(self, prepared: Prepared, outcome: Outcome) -> dict[str, Any]:
        """The row's verdict columns for an outcome: `status`, `error`, `score`, `passed`,
        `details`, `finished_at`, and `output_text` when the scorer rewrote it. A scorer that
        raises costs this case (`ScorerError: ...`), not the run. `evalseed rescore` calls this
        on stored responses, so a rescored row is what the run would have stored."""
        flags = call_flags(outcome.calls)
        try:
            score = self.kind.score(self.suite, self.case, prepared, outcome)
        except Exception as e:  # a scorer bug must cost one case, not the run
            log.debug("scorer failed:\n%s", traceback.format_exc())
            details = self._base_details(prepared)
            if flags:
                details["flags"] = flags
            return {"status": "error", "error": f"ScorerError: {type(e).__name__}: {e}", "finished_at": _now(),
                    "details": details}
        details = {**self._base_details(prepared), **score.details}
        if flags:
            details["flags"] = flags
        fields: dict[str, Any] = {"status": "ok", "error": None, "score": float(score.score),
                                  "passed": bool(score.passed), "details": details, "finished_at": _now()}
        if score.output_text is not None:
            fields["output_text"] = score.output_text
        if row_finish_reason(outcome.calls) == FILTER_FINISH_REASON:  # a content filter ended the answer: its own status
            fields.update(status=FILTERED, passed=False, score=0.0, error="content_filter: a filter ended the answer")
        return fields

    def _error(self, row: dict, cls: str, message: str, request: dict | None, attempts: int,
               prepared: Prepared | None) -> dict[str, Any]:
        row.update(status=FILTERED if content_filtered(cls) else "error", error=f"{cls}: {message}",
                   attempts=attempts, finished_at=_now(), details=self._base_details(prepared))
        if request is not None:
            row["request"] = request
        return row


def file_part(text: str) -> str:
    """A case id or model name made safe as one file-name component. Both are free text from
    input we did not write, and `../../x` must not steer where a run writes its files; a name
    that had to change gets a hash of the original so two ids never share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip(".") or "_"
    if safe != text:
        safe = f"{safe[:80]}-{hashlib.sha1(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    return safe


def call_flags(calls: list[CallResult]) -> dict[str, Any]:
    """What the engine corrected in these calls' answers (`CallResult.flags`), for the row's
    `details.flags`; a tool loop's later call keeps its own entry under `<name>@<step>`."""
    out: dict[str, Any] = {}
    for step, c in enumerate(calls):
        for name, value in (c.flags or {}).items():
            out[name if name not in out else f"{name}@{step}"] = value
    return out


def aggregate_calls(calls: list[CallResult]) -> dict[str, Any]:
    """The row's timing, token and cost columns from one or more calls (a tool loop sums them)."""
    if not calls:
        return {"attempts": 0}

    def total(attr: str):
        vals = [getattr(c, attr) for c in calls]
        known = [v for v in vals if v is not None]
        return sum(known) if known else None

    cost_vals = [c.cost_usd for c in calls]
    gen_time = 0.0
    gen_tokens = 0
    for c in calls:
        if c.output_tps and c.completion_tokens:
            gen_time += c.completion_tokens / c.output_tps
            gen_tokens += c.completion_tokens
    return {
        "latency_ms": total("latency_ms"),
        "ttft_ms": calls[0].ttft_ms,
        "ttft_answer_ms": calls[0].ttft_answer_ms,
        "finish_reason": row_finish_reason(calls),
        "output_tps": (gen_tokens / gen_time) if gen_time > 0 else None,
        "prompt_tokens": total("prompt_tokens"),
        "completion_tokens": total("completion_tokens"),
        "reasoning_tokens": total("reasoning_tokens"),
        "cached_tokens": total("cached_tokens"),
        "images": total("images"),
        # One unknown price makes the sum unknown: a partial cost would understate spend.
        "cost_usd": None if any(v is None for v in cost_vals) else sum(cost_vals),
        "attempts": sum(c.attempts for c in calls),
        "replayed": all(c.replayed for c in calls),
    }


def _public_state(prepared: Prepared) -> dict[str, Any]:
    """Kind state meant for `details` (keys starting with `detail_`), e.g. a grid cell."""
    return {k[len("detail_"):]: v for k, v in prepared.state.items() if k.startswith("detail_")}
