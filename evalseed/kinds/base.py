"""The small interface every task kind implements.

A kind turns a suite case into request bodies (`prepare`), optionally drives several calls
(`execute`, e.g. the tool-calling loop), and scores what came back (`score`). The engine only
ever sees `Prepared`, `Outcome` and `Score`; it knows nothing of classification or tools. Scorers
get plain dicts, never HTTP objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Protocol

if TYPE_CHECKING:
    from ..config import ModelInfo
    from ..suites.spec import BaseCase, BaseSuite


@dataclass(slots=True)
class CallResult:
    """One API call as the engine measured it. `response` is the raw JSON body (for a streamed
    chat call, the chunks assembled into the non-streamed shape)."""

    request: dict
    response: dict
    latency_ms: float | None = None
    ttft_ms: float | None = None
    output_tps: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    images: int | None = None
    cost_usd: float | None = None
    attempts: int = 1
    replayed: bool = False

    @property
    def message(self) -> dict:
        """`choices[0].message` of a chat response, or {} when there is none."""
        choices = self.response.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return {}
        return choices[0].get("message") or {}


class Api(Protocol):
    """What a kind may call. Implemented by the engine (retries, limits, timers, cassettes)."""

    async def chat(self, body: dict) -> CallResult: ...

    async def images(self, body: dict) -> CallResult: ...


@dataclass(slots=True)
class Prepared:
    """A case made ready for one model. `skip_reason` set means: store a `skipped` row, send nothing."""

    input_text: str
    request: dict | None = None
    skip_reason: str | None = None
    # Upper bound of what the request may cost, for --budget-usd and --dry-run.
    est_prompt_tokens: int = 0
    max_output_tokens: int = 0
    # Kind-private state handed back to execute/score (never stored as-is).
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    """Everything the calls for one case produced. `response` is what goes into the `response`
    column (one message, or a whole tool-calling trajectory)."""

    calls: list[CallResult]
    response: Any
    output_text: str | None


@dataclass(slots=True)
class Score:
    score: float
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    # Overrides Outcome.output_text when the scorer extracted the answer differently.
    output_text: str | None = None


class CaseError(Exception):
    """A failure of this case alone (bad tool-call loop state, undecodable image...): stored as an
    `error` row with this message; the run goes on."""


class Kind:
    """Base class for task kinds. Subclasses set `name`, `suite_model`, and override what they need."""

    name: ClassVar[str]
    #: pydantic model of a whole suite file of this kind (a subclass of suites.spec.BaseSuite).
    suite_model: ClassVar[type]
    #: model kinds ("text" / "image") this task kind can run on.
    model_kinds: ClassVar[tuple[str, ...]] = ("text",)

    def cases(self, suite: "BaseSuite") -> Iterable["BaseCase"]:
        """The cases to run; generated kinds (needle grids) override this and build lazily."""
        return suite.cases

    def prepare(self, suite: "BaseSuite", case: "BaseCase", model: "ModelInfo") -> Prepared:
        raise NotImplementedError

    async def execute(self, prepared: Prepared, api: Api) -> Outcome:
        """Default: one chat call; the answer is the message content."""
        call = await api.chat(prepared.request or {})
        message = call.message
        return Outcome(calls=[call], response=message, output_text=message.get("content"))

    def score(self, suite: "BaseSuite", case: "BaseCase", prepared: Prepared, outcome: Outcome) -> Score:
        raise NotImplementedError

    def suite_metrics(self, suite_rows: list[dict]) -> dict[str, Any]:
        """Aggregate metrics for one (suite, model) from stored rows (dicts of `results` columns,
        `details` already parsed). Default: accuracy over ok rows."""
        ok = [r for r in suite_rows if r.get("status") == "ok"]
        n = len(ok)
        return {"n": n, "accuracy": (sum(1 for r in ok if r.get("passed")) / n) if n else None}
