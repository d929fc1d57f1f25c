"""The small interface every task kind implements.

A kind turns a suite case into request bodies (`prepare`), optionally drives several calls
(`execute`, e.g. the tool-calling loop), and scores what came back (`score`). The types it works
with (`Prepared`, `Outcome`, `Score`, `CallResult`) live in `evalseed.core`, so the engine can
return calls without knowing of classification or tools. Scorers get plain dicts, never HTTP
objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from ..core import Api, CallResult, Outcome, Prepared, Score, content_text, max_output_tokens
from ..costs import rough_tokens
from ..errors import CaseError, SuiteError
from ..templating import compile_template, render, user_text

if TYPE_CHECKING:
    from ..config import ModelInfo
    from ..suites.spec import BaseCase, BaseSuite

# The shared types and the case error are defined in `core` and `errors`; a kind module finds
# everything it needs here, in one import.
__all__ = [
    "Api", "CallResult", "CaseError", "Kind", "Outcome", "Prepared", "Score", "SuiteError", "THINKING_PARAMS",
    "chat_body", "chat_prepared", "check_templates", "content_text", "max_output_tokens",
]


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
        """Checks beyond the pydantic model, run at load time; raise `errors.SuiteError`
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

    for i, m in enumerate(messages):
        try:
            compile_template(m.content)
        except TemplateSyntaxError as e:
            raise SuiteError(f"messages[{i}].content", f"template syntax error: {e.message}") from None
    for ci, case in enumerate(suite.cases):
        for i, m in enumerate(messages):
            try:
                render(m.content, variables_for(case))
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
    body: dict[str, Any] = {"model": model.api_name, "messages": messages}
    dropped: list[str] = []
    # A variant's own params win over the suite's: "seed-1-8 without thinking" stays without it.
    for k, v in {**suite.params, **model.request_params}.items():
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
    return Prepared(
        input_text=user_text(messages),
        request=body,
        est_prompt_tokens=sum(rough_tokens(m["content"]) + 4 for m in messages),
        max_output_tokens=max_output_tokens(body, model),
        state=state,
    )

