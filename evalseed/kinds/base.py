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
    from ..config import ModelInfo, Provider
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
        choices = self.response.get("choices") if isinstance(self.response, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return {}
        message = choices[0].get("message")
        return message if isinstance(message, dict) else {}


class Api(Protocol):
    """What a kind may call. Implemented by the engine (retries, limits, timers, cassettes)."""

    provider: "Provider"

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
    # Kind-private state handed back to execute/score (never stored as-is). The job adds
    # `out_dir` (this run's artefact folder) and `file_stem` ("<suite>/<case>-<model>-<repeat>")
    # for kinds that save files. Keys starting with `detail_` are copied (prefix removed) into
    # `details` of a skipped row, so e.g. a skipped grid cell still shows where it sits.
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


def content_text(content: Any) -> str | None:
    """A message's `content` as text: a string as is, a list of content parts (some servers send
    `[{"type": "text", "text": ...}]`) joined, anything else None (the answer is then unparsed)."""
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(parts) if parts else None
    return None


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

    def validate(self, suite: "BaseSuite") -> None:
        """Checks beyond the pydantic model, run at load time; raise `suites.loader.SuiteError`
        with a key path. Default: every case's messages render with its vars."""
        check_templates(suite, suite.messages or [], lambda case: case.vars)

    def prepare(self, suite: "BaseSuite", case: "BaseCase", model: "ModelInfo") -> Prepared:
        raise NotImplementedError

    async def execute(self, prepared: Prepared, api: Api) -> Outcome:
        """Default: one chat call; the answer is the message content, the whole body is stored."""
        call = await api.chat(prepared.request or {})
        return Outcome(calls=[call], response=call.response, output_text=content_text(call.message.get("content")))

    def score(self, suite: "BaseSuite", case: "BaseCase", prepared: Prepared, outcome: Outcome) -> Score:
        raise NotImplementedError

    def suite_metrics(self, suite_rows: list[dict]) -> dict[str, Any]:
        """Metrics of one (suite, model) from rows held in Python (dicts of `results` columns,
        `details` parsed): counts, accuracy and this kind's metrics, as `evalseed.metrics`
        defines them for every view."""
        from ..metrics import of_rows

        return of_rows(suite_rows, self.name)


def check_templates(suite: "BaseSuite", messages, variables_for) -> None:
    """Render `messages` for every case so syntax errors and undefined variables surface at
    validation time, with the key path of the message or case at fault."""
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    from ..suites.loader import SuiteError
    from ..templating import compile_template

    for i, m in enumerate(messages):
        try:
            compile_template(m.content)
        except TemplateSyntaxError as e:
            raise SuiteError(f"messages[{i}].content", f"template syntax error: {e.message}") from None
    for ci, case in enumerate(suite.cases):
        for i, m in enumerate(messages):
            try:
                compile_template(m.content).render(variables_for(case))
            except UndefinedError as e:
                raise SuiteError(f"cases[{ci}].vars", f"{e.message} (used by messages[{i}])") from None
            except SecurityError as e:
                raise SuiteError(f"messages[{i}].content", f"unsafe template: {e}") from None
            except Exception as e:  # a filter applied to the wrong type, etc.
                raise SuiteError(f"cases[{ci}].vars", f"template error in messages[{i}]: {e}") from None


# Request parameters that only reasoning-capable models accept; dropped (and recorded) for others.
THINKING_PARAMS = ("thinking", "reasoning_effort")


def chat_body(suite: "BaseSuite", model: "ModelInfo", messages: list[dict]) -> tuple[dict, list[str]]:
    """The chat request body for a model, and notes on the suite params it could not take as
    written: dropped (the model lacks the feature) or capped (the model's output_token_cap)."""
    body: dict[str, Any] = {"model": model.name, "messages": messages}
    dropped: list[str] = []
    for k, v in suite.params.items():
        if k in THINKING_PARAMS and not model.thinking:
            dropped.append(k)
            continue
        body[k] = v
    cap = model.output_token_cap
    if cap:
        key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        asked = body.get(key)
        if not isinstance(asked, int) or asked > cap:
            body[key] = cap
            if isinstance(asked, int):
                dropped.append(f"{key}={asked} (capped at {cap} for {model.name})")
    return body, dropped


def chat_prepared(messages: list[dict], body: dict, model: "ModelInfo", state: dict[str, Any]) -> Prepared:
    """A one-call chat case made ready: what the router sees, the body, and its budget bounds."""
    from ..costs import rough_tokens
    from ..templating import user_text

    return Prepared(
        input_text=user_text(messages),
        request=body,
        est_prompt_tokens=sum(rough_tokens(m["content"]) + 4 for m in messages),
        max_output_tokens=max_output_tokens(body, model),
        state=state,
    )


def max_output_tokens(body: dict, model: "ModelInfo") -> int:
    """The most output tokens a request allows (for budgets): what it asks, else the model default."""
    for k in ("max_completion_tokens", "max_tokens"):
        v = body.get(k)
        if isinstance(v, int) and v > 0:
            return v
    return model.max_output_tokens
