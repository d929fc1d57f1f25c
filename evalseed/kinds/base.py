"""The interface every task kind implements; a kind is one package, `evalseed/kinds/<kind>/`.

A kind turns a suite case into request bodies (`prepare`), optionally drives several calls
(`execute`, e.g. the tool-calling loop), and scores what came back (`score`). The types it works
with (`Prepared`, `Outcome`, `Score`, `CallResult`) live in `evalseed.core`, so the engine can
return calls without knowing of classification or tools. Scorers get plain dicts, never HTTP
objects.

Everything else that differs by kind is a hook here too, so the rest of evalseed loops over the
registry (`evalseed.kinds.KINDS`) and never names a kind: the expected answer stored in
`details` (`expected`), the kind's metrics (`metrics`), its report section (`title`,
`report_data`, the template `<kind>/section.html.j2`, `report_charts`), its rows in the
synthetic report data (`synthetic_suite`, `synthetic_row`, `synthetic_hostile`), what compare
calls its per-case score (`score_name`) and whether a run learns token ratios for it
(`learns_token_ratios`). The figure, report and synthetic hooks default to the functions of the
kind's own `metrics.py` (`metrics`), `report.py` (`section`) and `synthetic.py` (`suite`, `fill`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Iterable, Sequence, TypedDict, TypeVar

from pydantic import BaseModel

from ..core import Api, CallResult, Outcome, Prepared, Score, content_text, max_output_tokens
from ..costs import rough_tokens
from ..errors import CaseError, SuiteError
from ..templating import compile_template, content_images, content_words, render, user_text

if TYPE_CHECKING:
    from ..config import ModelInfo
    from ..metrics.scope import Scope
    from ..metrics.table import SuiteMetrics
    from ..report.synthetic import SyntheticRow
    from ..suites.spec import BaseCase, BaseSuite

SuiteT = TypeVar("SuiteT", bound="BaseSuite")
CaseT = TypeVar("CaseT", bound="BaseCase")

#: One suite's figures in the report: (suite, [(entrant, its SuiteMetrics), ...]), both sorted.
SuiteEntries = tuple[str, list[tuple[str, "SuiteMetrics"]]]

# The shared types and the case error are defined in `core` and `errors`; a kind module finds
# everything it needs here, in one import.
__all__ = [
    "Api", "CallResult", "CaseError", "Kind", "Outcome", "Prepared", "RowDetails", "Score", "SuiteEntries",
    "SuiteError", "THINKING_PARAMS",
    "chat_body", "chat_case", "chat_prepared", "check_templates", "content_text", "max_output_tokens",
]


class Kind(Generic[SuiteT, CaseT]):
    """Base class for task kinds. Subclasses set `name`, `suite_model`, `title`, and override what
    they need; the type parameters are the kind's suite and case models."""

    name: ClassVar[str]
    #: pydantic model of a whole suite file of this kind (a subclass of suites.spec.BaseSuite).
    suite_model: ClassVar[type]
    #: model kinds ("text" / "image") this task kind can run on.
    model_kinds: ClassVar[tuple[str, ...]] = ("text",)
    #: the heading of the kind's section in the report.
    title: ClassVar[str]
    #: where the report draws the section: after the kinds with a lower number, registry order
    #: among equals (the image gallery, the longest section, goes last).
    report_order: ClassVar[int] = 0
    #: what compare calls the kind's per-case score when it tests it beside pass/fail.
    score_name: ClassVar[str] = "score"
    #: whether its requests are sized from measured chars-per-token ratios (`evalseed.tokens`), which
    #: a run then learns from earlier runs before it starts.
    learns_token_ratios: ClassVar[bool] = False
    #: the file name `evalseed init` gives the kind's commented starter suite (`starter.yaml` in
    #: its package, also the kind's example in docs/first-suite.md).
    starter_file: ClassVar[str]

    def starter(self) -> str:
        """The kind's commented starter suite, as `evalseed init` writes it."""
        from importlib import resources

        return resources.files(type(self).__module__.rpartition(".")[0]).joinpath("starter.yaml").read_text("utf-8")

    def use_config(self, cfg: Any) -> None:
        """The config of the command at hand (its `--config`), for kinds that call models of their
        own (judges) and resolve and price them there. Most kinds need none."""

    def budget_models(self, suite: Any, model: "ModelInfo", provider: Any) -> "list[ModelInfo]":
        """The models a suite's calls are priced as besides `model` (judges), so `--budget-usd`
        can refuse one with no known price. Most kinds call no other model."""
        return []

    def part(self, name: str) -> Any:
        """The module `name` of this kind's package (`metrics`, `report`, `synthetic`), imported
        when first needed; None when the package has none."""
        package = type(self).__module__.rpartition(".")[0]
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{package}.{name}":
                return None
            raise

    # ---- the run ------------------------------------------------------------------------------

    def cases(self, suite: SuiteT) -> Iterable[CaseT]:
        """The cases to run; generated kinds (needle grids) override this and build lazily."""
        return suite.cases  # type: ignore[return-value]  # the suite model narrows `cases`

    def validate(self, suite: SuiteT) -> None:
        """Checks beyond the pydantic model, run at load time; raise `errors.SuiteError`
        with a key path. Default: every case's messages render with its vars."""
        check_templates(suite, suite.messages or [], lambda case: case.vars)

    def prepare(self, suite: SuiteT, case: CaseT, model: "ModelInfo") -> Prepared:
        raise NotImplementedError

    async def execute(self, prepared: Prepared, api: Api) -> Outcome:
        """Default: one chat call; the answer is the message content, the whole body is stored."""
        call = await api.chat(prepared.request or {})
        return Outcome(calls=[call], response=call.response, output_text=content_text(call.message.get("content")))

    def score(self, suite: SuiteT, case: CaseT, prepared: Prepared, outcome: Outcome) -> Score:
        raise NotImplementedError

    def expected(self, case: CaseT) -> Any:
        """The case's expected answer as every row's `details.expected` holds it (JSON-ready)."""
        v = getattr(case, "expected", None)
        return v.model_dump() if isinstance(v, BaseModel) else v

    # ---- the figures ----------------------------------------------------------------------------

    def metrics(self, con: Any, scope: "Scope") -> dict[tuple, dict[str, Any]]:
        """The kind's metrics beyond counts and accuracy, per group of `scope` (rows of this kind
        only: filter on `kind`), as `evalseed.metrics` defines them for every view. Default: the
        package's `metrics.metrics(con, scope)`, none without a `metrics.py`."""
        part = self.part("metrics")
        return part.metrics(con, scope) if part else {}

    def suite_metrics(self, suite_rows: list[dict]) -> dict[str, Any]:
        """Metrics of one (suite, model) from rows held in Python (dicts of `results` columns,
        `details` parsed): counts, accuracy and this kind's metrics, as `evalseed.metrics`
        defines them for every view."""
        from ..metrics import of_rows

        return of_rows(suite_rows, self.name)

    # ---- the report -----------------------------------------------------------------------------

    @property
    def report_template(self) -> str:
        """The section's Jinja partial, relative to `evalseed/kinds/` (`<kind>/section.html.j2`).
        It sees the report's context and `view`: `view.sections` is what `report_data` returned."""
        return f"{self.name}/section.html.j2"

    def report_data(self, con: Any, out_dir: str | None, suites: Sequence[SuiteEntries]) -> list[dict]:
        """The section's data, one entry per suite of this kind, from the metrics layer's figures
        (`suites`) and, for breakdowns, SQL on the report's view `r`. No HTML. Default: the
        package's `report.section(con, out_dir, suites)`."""
        part = self.part("report")
        return part.section(con, out_dir, suites) if part else []

    def report_charts(self, sections: list[dict]) -> None:
        """Add the section's charts (inline SVG) to `sections` before the page is rendered."""

    # ---- synthetic report data --------------------------------------------------------------------

    def synthetic_suite(self, cases_per_suite: int) -> dict[str, Any] | None:
        """The suite the synthetic report data (`report.synthetic`) makes of this kind: `name`,
        `hash` and `cases`; None for none. Default: the package's `synthetic.suite(...)`."""
        part = self.part("synthetic")
        return part.suite(cases_per_suite) if part else None

    def synthetic_row(self, row: "SyntheticRow") -> None:
        """Fill one synthetic row of this kind in place: its details, answer and score (seeded
        random figures through `row.rng`, never a measurement). Default: `synthetic.fill(row)`."""
        self.part("synthetic").fill(row)

    def synthetic_hostile(self, row: "SyntheticRow", hostile: str) -> None:
        """Row 0 of every suite carries the escaping canary `hostile` where this kind shows text."""
        if row.status == "ok":
            row.output = (row.output or "") + hostile


def check_templates(suite: "BaseSuite", messages: Sequence[Any], variables_for: Any) -> None:
    """Render `messages` for every case so syntax errors and undefined variables surface at
    validation time, with the key path of the message or case at fault."""
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    from ..suites.images import check_local_image, is_local

    templates = [(i, where, text, is_url) for i, m in enumerate(messages) for where, text, is_url in _templates(m)]
    for i, where, text, _ in templates:
        try:
            compile_template(text)
        except TemplateSyntaxError as e:
            raise SuiteError(f"messages[{i}].{where}", f"template syntax error: {e.message}") from None
    for ci, case in enumerate(suite.cases):
        for i, where, text, is_url in templates:
            try:
                out = render(text, variables_for(case))
            except UndefinedError as e:
                raise SuiteError(f"cases[{ci}].vars", f"{e.message} (used by messages[{i}])") from None
            except SecurityError as e:
                raise SuiteError(f"messages[{i}].{where}", f"unsafe template: {e}") from None
            except Exception as e:  # a filter applied to the wrong type, etc.
                raise SuiteError(f"cases[{ci}].vars", f"template error in messages[{i}]: {e}") from None
            if is_url and "{" in text and is_local(out):  # a file a case's vars name: confined too
                try:
                    check_local_image(out, getattr(messages[i], "suite_dir", None))
                except ValueError as e:
                    raise SuiteError(f"cases[{ci}].vars", f"messages[{i}].{where}: {e}") from None


def _templates(message: Any) -> list[tuple[str, str, bool]]:
    """A message's templates: (key path, source, whether it is an image URL)."""
    content = message["content"] if isinstance(message, dict) else message.content
    if isinstance(content, str):
        return [("content", content, False)]
    out = []
    for j, p in enumerate(content):
        if p.type == "text":
            out.append((f"content[{j}].text", p.text, False))
        else:
            out.append((f"content[{j}].image_url.url", p.image_url.url, True))
    return out


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


def chat_case(suite: "BaseSuite", model: "ModelInfo", messages: list[dict], state: dict[str, Any]) -> Prepared:
    """A one-call chat case on `model`: its body (`chat_body`), the suite params it could not
    take noted in `state["dropped_params"]` (the scorer copies them into `details`)."""
    body, dropped = chat_body(suite, model, messages)
    if dropped:
        state["dropped_params"] = dropped
    return chat_prepared(messages, body, model, state)


def chat_prepared(messages: list[dict], body: dict, model: "ModelInfo", state: dict[str, Any]) -> Prepared:
    """A one-call chat case made ready: what the router sees, the body, and its budget bounds.
    A case with images in its messages is skipped, with the reason, on a model without `vision`."""
    return Prepared(
        input_text=user_text(messages),
        request=body,
        skip_reason=vision_skip(messages, model),
        est_prompt_tokens=prompt_estimate(messages),
        max_output_tokens=max_output_tokens(body, model),
        state=state,
    )


def prompt_estimate(messages: list[dict]) -> int:
    """Estimated prompt tokens of rendered messages: their text, 4 a message, and a rough figure
    per image (`suites.images.IMAGE_TOKENS`)."""
    from ..suites.images import IMAGE_TOKENS

    return sum(rough_tokens(content_words(m.get("content"))) + 4 + IMAGE_TOKENS * content_images(m.get("content"))
               for m in messages)


def vision_skip(messages: list[dict], model: "ModelInfo") -> str | None:
    """Why `model` is not sent these messages (they hold images and it takes none), or None."""
    images = sum(content_images(m.get("content")) for m in messages)
    if not images or model.vision:
        return None
    return (f"not sent: the messages hold {images} image(s) and {model.name} takes no image input (the model "
            f"table's `vision`; if it does, set `vision: true` for it under `models:` in evalseed.yaml)")


class RowDetails(TypedDict, total=False):
    """What every row's `details` may hold whatever its kind (docs/design.md): the expected answer
    and the case's tags (jobs.py adds them), what the engine corrected (`flags`), the suite params
    the model could not take (`dropped_params`). Each kind's `details.py` extends it."""

    expected: Any
    tags: list[str]
    flags: dict[str, Any]
    dropped_params: list[str]
    skip_reason: str
