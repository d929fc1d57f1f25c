"""`kind: generation`: free-text answers scored by a list of checks, each keyed by a type string
as promptfoo's assertions are (`contains`, `regex`, `rouge-l`, ...).

The suite's `checks` apply to every case and a case's own `checks` are added to them. Each check
gives a score in [0, 1] and a verdict with a one-line reason, all kept in `details.checks`. The
case's score is the checks' weighted mean; it passes when every check passes, or, when the suite
sets `threshold`, when its score reaches the threshold (a suite that wants partial credit to
count says so; by default one failed check fails the case, as in promptfoo). Check specs are
refused at load time (an unknown type, a regex that does not compile, a missing value), so a
typo never turns into a run of failed cases. The rules per type are in docs/scoring.md.
"""

from __future__ import annotations

import json
import unicodedata
from typing import TYPE_CHECKING, Any, Callable, cast

from ...scoring import regex_limit
from ...scoring.text import rouge_l, token_f1
from ...templating import render_messages
from ..base import Api, Kind, Outcome, Prepared, Score, chat_case
from .custom import run_scorer
from .details import CheckVerdict, GenerationDetails, JudgeCallUsage, JudgeRecord
from .judge import JudgeError, judge_model_info, judge_once, judge_totals, use_config
from .spec import REFERENCE_TYPES, Check, GenerationCase, GenerationSuite, case_checks

if TYPE_CHECKING:
    from ...config import ModelInfo

_QUOTE = 60


def _q(text: str) -> str:
    """A value quoted for a one-line reason, cut short."""
    t = " ".join(text.split())
    return repr(t if len(t) <= _QUOTE else t[:_QUOTE - 1] + "…")


def _cut(pattern: str) -> str:
    return pattern if len(pattern) <= _QUOTE else pattern[:_QUOTE - 1] + "…"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _verdict(ok: bool, yes: str, no: str) -> tuple[float, bool, str]:
    return (1.0, True, yes) if ok else (0.0, False, no)


def run_check(check: Check, answer: str, reference: str | None) -> tuple[float, bool, str]:
    """(score in [0, 1], passed, one-line reason) of one check on one answer."""
    t, v = check.type, check.value
    if t == "equals":
        return _verdict(answer.strip() == v.strip(), f"the answer is {_q(v)}", f"the answer is not {_q(v)}")
    if t == "contains":
        return _verdict(v in answer, f"contains {_q(v)}", f"does not contain {_q(v)}")
    if t == "icontains":
        return _verdict(_fold(v) in _fold(answer), f"contains {_q(v)} (ignoring case)",
                        f"does not contain {_q(v)}, even ignoring case")
    if t == "contains-all":
        missing = [x for x in v if x not in answer]
        score = 1 - len(missing) / len(v)
        if not missing:
            return 1.0, True, f"contains all {len(v)}"
        return score, False, f"{len(v) - len(missing)} of {len(v)} found; missing {', '.join(map(_q, missing))}"
    if t == "contains-any":
        found = next((x for x in v if x in answer), None)
        return _verdict(found is not None, f"contains {_q(found or '')}", f"contains none of {len(v)}")
    if t == "not-contains":
        banned = v if isinstance(v, list) else [v]
        present = [x for x in banned if x in answer]
        if not present:
            return 1.0, True, f"contains none of {len(banned)}" if len(banned) > 1 else f"does not contain {_q(banned[0])}"
        return 1 - len(present) / len(banned), False, f"contains {', '.join(map(_q, present))}"
    if t == "regex":
        try:
            found, match = regex_limit.search(v, answer)
        except regex_limit.RegexTimeout:
            return 0.0, False, (f"/{_cut(v)}/ found no verdict within {regex_limit.TIMEOUT_S:g} s on a "
                                f"{len(answer):,}-character answer (catastrophic backtracking?): counted as no match")
        return _verdict(found, f"/{_cut(v)}/ matches {_q(match or '')}", f"/{_cut(v)}/ does not match")
    if t == "starts-with":
        return _verdict(answer.lstrip().startswith(v), f"starts with {_q(v)}",
                        f"starts with {_q(answer.lstrip()[:len(v)])}, not {_q(v)}")
    if t == "is-json":
        try:
            json.loads(answer.strip())
        except ValueError as e:
            return 0.0, False, f"not JSON: {e}"
        return 1.0, True, "the whole answer is JSON"
    if t == "length":
        n = len(answer.strip())
        if check.min is not None and n < check.min:
            return 0.0, False, f"{n} characters, under the minimum of {check.min}"
        if check.max is not None and n > check.max:
            return 0.0, False, f"{n} characters, over the maximum of {check.max}"
        return 1.0, True, f"{n} characters, within bounds"
    if t in REFERENCE_TYPES:
        fn: Callable[[str, str], float] = token_f1 if t == "token-f1" else rouge_l
        score = fn(answer, reference or "")
        ok = score >= (check.threshold or 0.0)
        return score, ok, f"{t} {score:.3f} against the reference ({'at or above' if ok else 'below'} {check.threshold})"
    if t in ("judge", "python"):
        raise ValueError(f"a {t} check is scored by Generation.score, which has the model call or the suite's file")
    raise AssertionError(f"check type {t!r} has no rule")  # CHECK_TYPES and this function disagree


class Generation(Kind[GenerationSuite, GenerationCase]):
    name = "generation"
    suite_model = GenerationSuite
    title = "Generation: pass rate per check"
    starter_file = "support-replies.yaml"

    def prepare(self, suite: GenerationSuite, case: GenerationCase, model: ModelInfo) -> Prepared:
        # The reference and the checks a case faces, on error and skipped rows too: a per-check
        # pass rate counts an error row as a failure of each of its checks.
        checks = case_checks(suite, case)
        state: dict[str, Any] = {"detail_expected": case.reference,
                                 "detail_checks": [{"name": c.label, "type": c.type} for c in checks]}
        messages = render_messages(suite.messages, case.vars)
        judges = [(i, c) for i, c in enumerate(checks) if c.type == "judge"]
        if judges:
            state["judges"] = judges
            state["judge_question"] = "\n\n".join(f"[{m['role']}] {m['content']}" for m in messages)
            state["reference"] = case.reference
        return chat_case(suite, model, messages, state)

    def use_config(self, cfg: Any) -> None:
        """The run's config (its `--config`): judge models are resolved and priced in it."""
        use_config(cfg)

    def budget_models(self, suite: GenerationSuite, model: ModelInfo, provider: Any) -> list[ModelInfo]:
        """The models this suite's calls are priced as besides `model`, when it is graded through
        `provider`: each judge check's judge (its `offline_model` on the embedded model's server).
        `run --budget-usd` refuses a suite whose judge has no known price, as it refuses an
        unpriced graded model (run/checks.py)."""
        names = {c.judge_for(provider) for case in suite.cases for c in case_checks(suite, case) if c.type == "judge"}
        return [judge_model_info(n, provider) for n in sorted(names)]

    def pair_inputs(self, suite: GenerationSuite, case: GenerationCase, rubric: str | None = None) -> tuple[str, str, str | None]:
        """What a pairwise judge is shown for one case (`evalseed judge-pair`): the rendered
        question as a judge check sees it, the rubric (`rubric` when given, else the case's first
        judge check's, else `pairwise.DEFAULT_PAIR_RUBRIC`) and the case's reference."""
        from .pairwise import DEFAULT_PAIR_RUBRIC

        messages = render_messages(suite.messages, case.vars)
        question = "\n\n".join(f"[{m['role']}] {m['content']}" for m in messages)
        own = next((c.rubric for c in case_checks(suite, case) if c.type == "judge" and c.rubric), None)
        return question, rubric or own or DEFAULT_PAIR_RUBRIC, case.reference

    async def judge_pair(self, api: Api, model: ModelInfo, inputs: tuple[str, str, str | None], first: str,
                         second: str) -> dict[str, Any]:
        """Two answers to one case judged against each other in both orders (pairwise.judge_pair)."""
        from .pairwise import judge_pair

        question, rubric, reference = inputs
        return await judge_pair(api, model, question, first, second, rubric, reference)

    async def execute(self, prepared: Prepared, api: Api) -> Outcome:
        outcome = await super().execute(prepared, api)
        if prepared.state.get("judges"):
            answer = outcome.output_text if isinstance(outcome.output_text, str) else ""
            prepared.state["judge_results"] = await self.judge(prepared, answer, api)
        return outcome

    async def judge(self, prepared: Prepared, answer: str, api: Api, model: str | None = None) -> dict[int, dict]:
        """Ask each judge check of a prepared case for its verdict on `answer` (with `model` in
        place of every check's own judge when given: `evalseed rescore --judge`), through `api`.
        Results by check index; a judge that failed leaves `{"error": ...}`, which the scorer
        turns into the case's scorer error."""
        out: dict[int, dict] = {}
        for i, check in prepared.state.get("judges") or ():
            provider = getattr(api, "provider", None)
            info = judge_model_info(model or check.judge_for(provider), provider)
            try:
                _judge_reachable(info, provider)
                out[i] = await judge_once(api, info, prepared.state.get("judge_question", ""), answer,
                                          check.rubric or "", prepared.state.get("reference"))
            except JudgeError as e:
                out[i] = {"error": str(e), "model": info.name}
        return out

    def score(self, suite: GenerationSuite, case: GenerationCase, prepared: Prepared, outcome: Outcome) -> Score:
        answer = outcome.output_text if isinstance(outcome.output_text, str) else ""
        checks = case_checks(suite, case)
        verdicts: list[CheckVerdict] = []
        total = weighted = 0.0
        # Weights relative to the largest: two weights of 1e308 would overflow their sum to inf.
        top = max(c.weight for c in checks)
        fresh = prepared.state.get("judge_results") or {}
        stored = prepared.state.get("stored_details") or {}
        stored_checks: list = stored["checks"] if isinstance(stored.get("checks"), list) else []
        for i, c in enumerate(checks):
            v: CheckVerdict
            if c.type == "judge":
                v = _judge_verdict(c, i, fresh.get(i), stored_checks, case)
            elif c.type == "python":
                score, ok, reason, extra = run_scorer(c.value, suite.path, _case_dict(case), answer, outcome.response)
                v = {"name": c.label, "type": c.type, "passed": ok, "score": score, "weight": c.weight,
                     "reason": reason}
                if extra is not None:
                    v["details"] = extra
            else:
                score, ok, reason = run_check(c, answer, case.reference)
                v = {"name": c.label, "type": c.type, "passed": ok, "score": score, "weight": c.weight,
                     "reason": reason}
            verdicts.append(v)
            total += c.weight / top
            weighted += c.weight / top * v["score"]
        score = min(1.0, weighted / total)
        passed = score >= suite.threshold if suite.threshold is not None else all(v["passed"] for v in verdicts)
        details: GenerationDetails = {"expected": case.reference, "checks": verdicts, "threshold": suite.threshold,
                                      "checks_passed": sum(v["passed"] for v in verdicts)}
        usage = judge_totals(verdicts)
        if usage is not None:
            details["judge"] = usage
        if case.human is not None:
            details["human"] = case.human
        if prepared.state.get("dropped_params"):
            details["dropped_params"] = prepared.state["dropped_params"]
        return Score(score=score, passed=passed, details=dict(details))


def _judge_reachable(info: ModelInfo, provider: Any) -> None:
    """A judge is asked on the graded model's server: the embedded model's server answers only as
    itself, and the embedded judge is only there (or behind a --base-url that serves every model)."""
    if provider is None or getattr(provider, "base_url", None):
        return
    here_local, judge_local = provider.name == "local", info.provider == "local"
    if here_local and not judge_local:
        raise JudgeError(f"the judge {info.name} cannot be asked on the embedded model's server, which answers only "
                         "as itself: judge offline with model: gemma-3-270m, or later with "
                         f"`evalseed rescore RUN --judge {info.name}`")
    if judge_local and not here_local:
        raise JudgeError(f"the embedded judge {info.name} runs beside the embedded model only (--models local); "
                         f"for answers from {provider.name}, use `evalseed rescore RUN --judge {info.name}`")


def _case_dict(case: GenerationCase) -> dict[str, Any]:
    """The case as a custom scorer sees it: plain JSON-ready data, its checks left out."""
    return case.model_dump(mode="json", exclude={"checks"})


def _judge_verdict(check: Check, index: int, result: dict | None, stored_checks: list, case: GenerationCase) -> CheckVerdict:
    """A judge check's verdict from this run's judge call, else (rescore without --judge) from the
    verdict stored for the same check, its score held to the check's threshold as it is now."""
    reused = False
    if result is None:
        old = stored_checks[index] if index < len(stored_checks) else None
        if isinstance(old, dict) and old.get("type") == "judge" and old.get("name") == check.label \
                and isinstance(old.get("judge"), dict):
            j = old["judge"]
            result = {"score": j.get("score"), "reason": j.get("reason") or old.get("reason", ""),
                      "raw": j.get("raw", ""), "response_format": j.get("response_format"), "usage": j.get("usage") or {}}
            reused = True
    if result is None:
        raise JudgeError(f"check {check.label}: no judge verdict (the judge was not asked); "
                         "`evalseed rescore RUN --judge MODEL` asks one")
    if "error" in result:
        raise JudgeError(result["error"])
    usage = cast(JudgeCallUsage, result.get("usage") or {})
    model = usage.get("model") or check.judge_model
    threshold = check.judge_threshold
    raw_score = result.get("score")
    if raw_score is None:
        score, ok, reason = 0.0, False, f"judge {model}: {result.get('reason')}"
    else:
        score = float(raw_score)
        ok = score >= threshold
        reason = f"judge {model}: {score:.2f} ({'at or above' if ok else 'below'} {threshold:g}); {result.get('reason')}"
    judge: JudgeRecord = {"model": model, "score": raw_score, "reason": result.get("reason") or "",
                          "raw": result.get("raw") or "", "response_format": result.get("response_format"),
                          "usage": usage, "reused": reused}
    v: CheckVerdict = {"name": check.label, "type": check.type, "passed": ok, "score": score, "weight": check.weight,
                       "reason": reason, "judge": judge}
    if case.human is not None:
        v["human_passed"] = (case.human == "pass") if isinstance(case.human, str) else case.human >= threshold
    return v


KIND = Generation()
