"""`kind: long_context`: questions about long documents, and needle-in-a-haystack grids.

Explicit cases ask a question about a document (a file beside the suite, or inline text). A grid
hides one `needle` sentence at several depths of a filler text cut to several lengths, measured in
tokens of the model under test (estimated from characters, see `evalseed.tokens`). A case whose
prompt plus `max_tokens` cannot fit the model's context window is skipped with the figures, never
sent.

Documents are built at send time, not when a case is prepared: preparing a whole 120k-token grid
for three models holds no document text at all, and the filler for one length is cut once and
shared by every depth and model (`_filler`). Scores: normalised containment of the expected answer
(`passed`) and token F1.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, cast

from ... import tokens
from ...core import thinking_may_run
from ...scoring.text import token_f1, words
from ...suites.spec import BaseCase, Message
from ...templating import render_messages
from ..base import (Api, CaseError, Kind, Outcome, Prepared, Score, SuiteError,
                    chat_body, check_templates, content_text, max_output_tokens)
from .details import LongContextDetails
from .spec import BUILTIN_HAYSTACK, Expected, LongContextCase, LongContextSuite, NeedleCase, grid_case_id

if TYPE_CHECKING:
    from ...config import ModelInfo

_BUILTIN_PATH = Path(__file__).resolve().parents[2] / "data" / "haystack.txt"

DEFAULT_MESSAGES = [
    Message(role="system", content=(
        "You answer questions about the document you are given, using only that document. "
        "Reply with the answer alone, as briefly as possible."
    )),
    Message(role="user", content="<document>\n{{ document }}\n</document>\n\nQuestion: {{ question }}"),
]
# Rendered in place of the document to measure the prompt around it and to check the messages use it.
_DOC_MARK = "\x00evalseed-document\x00"

#: The share of a prompt-size estimate held back for its error (chars-per-token ratios, learned or
#: default, are measured to a few percent; a prompt that lands over the window is a 400 row).
ESTIMATE_MARGIN = 0.05
#: Tokens held back for the chain of thought when thinking may be on and only `max_tokens` bounds
#: the answer: the window counts the reasoning too. `max_completion_tokens` bounds both exactly.
THINKING_RESERVE = 8_192


def window_margin(est: int, body: dict, model) -> tuple[int, str]:
    """Tokens to keep free beyond the estimate and the answer, and why."""
    margin, parts = int(est * ESTIMATE_MARGIN), [f"{ESTIMATE_MARGIN:.0%} for the estimate"]
    if thinking_may_run(body, model) and not isinstance(body.get("max_completion_tokens"), int):
        margin += THINKING_RESERVE
        parts.append(f"{THINKING_RESERVE:,} for the chain of thought; set max_completion_tokens to bound it")
    return margin, ", ".join(parts)

# ---- text ----------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _source_text(path: str) -> str:
    text = Path(path).read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"{path}: the haystack file is empty")
    return text


@lru_cache(maxsize=4)
def _source_stats(path: str) -> tuple[int, float]:
    """(characters, CJK share) of a haystack source, so lengths are sized without cutting text."""
    text = _source_text(path)
    return len(text), tokens.count_cjk(text) / len(text)


# One filler per length at most, shared by every depth and model of that length; a grid runs one
# length after another, so two slots are enough to avoid cutting the same length twice.
@lru_cache(maxsize=2)
def _filler(path: str, chars: int) -> str:
    """The haystack repeated and cut to about `chars` characters, ending at a sentence end."""
    src = _source_text(path)
    if chars <= 0:
        return ""
    text = (src * (chars // len(src) + 1))[:chars]
    end = max(text.rfind(". "), text.rfind(".\n"))
    return text[: end + 1] if end > chars * 0.9 else text


def insert_needle(filler: str, needle: str, depth: float) -> str:
    """`filler` with `needle` placed at a sentence boundary near `depth` (0 start, 1 end)."""
    if depth <= 0.0:
        return f"{needle} {filler}"
    if depth >= 1.0:
        return f"{filler} {needle}"
    pos = int(len(filler) * depth)
    cut = filler.rfind(". ", 0, pos)
    cut = 0 if cut < 0 else cut + 2
    return f"{filler[:cut]}{needle} {filler[cut:]}"


@lru_cache(maxsize=8)
def _document_file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


# ---- answers -------------------------------------------------------------------------------------

# One definition of an answer's words and of token F1 for every kind (evalseed/scoring/text.py):
# NFKC, case-folded, punctuation and English articles dropped, each CJK character a word.
answer_tokens = words


def contains_answer(output: str, expected: str) -> bool:
    """True when the expected answer's words appear, in order and adjacent, in the output."""
    exp, out = answer_tokens(expected), answer_tokens(output)
    if not exp:
        return False
    n = len(exp)
    return any(out[i:i + n] == exp for i in range(len(out) - n + 1))


# Answers copying this much of their document verbatim are echoes, not answers: any haystack text
# beyond a stray phrase (it never holds an answer), or several sentences of a real document (quoting
# the one that answers is fair). Found in chunks of _CHUNK characters, realigned every _STEP.
ECHO_HAYSTACK_CHARS = 80
ECHO_DOCUMENT_CHARS = 400
ECHO_SCAN_CHARS = 4000
_CHUNK, _STEP = 40, 4


# ---- the kind ------------------------------------------------------------------------------------


class LongContext(Kind[LongContextSuite, LongContextCase | NeedleCase]):
    name = "long_context"
    suite_model = LongContextSuite
    title = "Long context: accuracy by length and depth"
    starter_file = "handbook-questions.yaml"
    learns_token_ratios = True  # document lengths and window skips come from the ratios

    def validate(self, suite: LongContextSuite) -> None:
        messages = suite.messages or DEFAULT_MESSAGES
        check_templates(suite, messages, lambda case: {**case.vars, "document": "", "question": ""})
        rendered = render_messages(messages, {"document": _DOC_MARK, "question": "?", **_first_vars(suite)})
        if not any(_DOC_MARK in m["content"] for m in rendered):
            raise SuiteError("messages", "no message uses {{ document }}; the model would never see the document")
        # Read every file now: a missing or non-UTF-8 document is the suite's problem, not the run's.
        docs = [("document", suite.document)] + [(f"cases[{i}].document", c.document) for i, c in enumerate(suite.cases)]
        for where, doc in docs:
            if doc is not None and doc.file is not None:
                try:
                    if not _document_file(self._beside(suite, doc.file)).strip():
                        raise SuiteError(f"{where}.file", f"{doc.file!r} is empty")
                except (OSError, UnicodeDecodeError) as e:
                    raise SuiteError(f"{where}.file", f"cannot read {doc.file!r} as UTF-8 text ({_why(e)})") from None
        if suite.grid is not None:
            try:
                haystack = _source_text(self._haystack_path(suite))
            except (OSError, UnicodeDecodeError, ValueError) as e:
                raise SuiteError("haystack", f"cannot use {suite.haystack!r} as a haystack ({_why(e)})") from None
            for answer in _answers(suite.expected):
                if contains_answer(haystack, answer):
                    raise SuiteError("expected", f"the haystack already contains {answer!r}; pick a needle it lacks")

    def cases(self, suite: LongContextSuite) -> Iterator[LongContextCase | NeedleCase]:
        """Explicit cases, then one generated case per (length, depth); nothing is built up front."""
        yield from suite.cases
        for t, d in suite.grid_cells():
            yield NeedleCase(id=grid_case_id(t, d), tokens=t, depth=d, question=suite.question or "",
                             expected=suite.expected or "", tags=["needle", f"{t}-tokens", f"depth-{round(d * 100)}"])

    def prepare(self, suite: LongContextSuite, case: LongContextCase | NeedleCase, model: ModelInfo) -> Prepared:
        ratio = model.token_ratio
        messages_t = suite.messages or DEFAULT_MESSAGES
        variables = {**case.vars, "question": case.question}
        around = render_messages(messages_t, {**variables, "document": ""})
        around_tokens = ratio.estimate_messages(around)
        state: dict[str, Any] = {"variables": variables, "messages_template": suite.messages}
        details: dict[str, Any] = {"expected": case.expected, "token_ratio": ratio.describe(),
                                   "chars_per_token": round(ratio.chars_per_token, 3)}
        if isinstance(case, NeedleCase):
            source = self._haystack_path(suite)
            _, cjk_share = _source_stats(source)
            needle_tokens = ratio.estimate(suite.needle or "") + 1
            doc_tokens = max(0, case.tokens - around_tokens - needle_tokens)
            chars = ratio.chars_for(doc_tokens, cjk_share)
            est = around_tokens + needle_tokens + ratio.tokens(chars, int(chars * cjk_share))
            state.update(source=source, filler_chars=chars, needle=suite.needle, depth=case.depth)
            details.update(target_tokens=case.tokens, depth=case.depth, document_chars=chars + len(suite.needle or "") + 1)
            doc_label = f"haystack of {chars:,} characters with the needle at depth {case.depth:g}"
        else:
            doc = case.document or suite.document
            if doc is None:  # the suite's validation makes sure there is one
                raise CaseError("no document for this case")
            if doc.file is not None:
                path = self._beside(suite, doc.file)
                state["document_file"] = path
                try:
                    text = _document_file(path)
                except (OSError, UnicodeDecodeError) as e:  # changed since validation
                    raise CaseError(f"cannot read the document {doc.file!r} ({_why(e)})") from None
            else:
                text = doc.text or ""
                state["document_text"] = text
            est = around_tokens + ratio.estimate(text)
            details.update(document_chars=len(text), document=doc.file or "(inline)")
            doc_label = f"{doc.file or 'inline document'} ({len(text):,} characters)"
        body, dropped = chat_body(suite, model, [])
        max_out = max_output_tokens(body, model)
        details["est_prompt_tokens"] = est
        if dropped:
            details["dropped_params"] = dropped
        # `detail_*` state goes into `details` of the row, skipped rows included (jobs.py).
        state.update({f"detail_{k}": v for k, v in details.items()})
        skip = None
        limit = suite.prompt_token_limits.get(model.name, suite.prompt_token_limits.get(model.family))
        margin, why = window_margin(est, body, model)
        if est + max_out + margin > model.context_window:
            skip = (f"prompt of about {est:,} tokens ({ratio.describe()}) + max_tokens {max_out:,} + a margin of "
                    f"{margin:,} ({why}) exceeds the {model.context_window:,}-token context window of {model.name}")
        elif limit is not None and est > limit:
            skip = (f"prompt of about {est:,} tokens ({ratio.describe()}) is over the suite's "
                    f"prompt_token_limits of {limit:,} for {model.name}")
        return Prepared(
            input_text=f"[{doc_label}]\n\nQuestion: {case.question}",
            # The document goes in at send time (execute); the body here is everything else.
            request=body,
            skip_reason=skip,
            est_prompt_tokens=est,
            max_output_tokens=max_out,
            state=state,
        )

    def build_messages(self, suite_messages: list[Message] | None, prepared: Prepared) -> list[dict]:
        """The request's messages with the document in place (built now, dropped after the call)."""
        st = prepared.state
        if "filler_chars" in st:
            document = insert_needle(_filler(st["source"], st["filler_chars"]), st["needle"], st["depth"])
        elif "document_file" in st:
            document = _document_file(st["document_file"])
        else:
            document = st["document_text"]
        return render_messages(suite_messages or DEFAULT_MESSAGES, {**st["variables"], "document": document})

    async def execute(self, prepared: Prepared, api: Api) -> Outcome:
        body = dict(prepared.request or {})
        try:
            body["messages"] = self.build_messages(prepared.state.get("messages_template"), prepared)
        except (OSError, UnicodeDecodeError, ValueError) as e:  # the file changed since validation
            raise CaseError(f"cannot build the document ({_why(e)})") from None
        call = await api.chat(body)
        return Outcome(calls=[call], response=call.response, output_text=content_text(call.message.get("content")))

    def score(self, suite: LongContextSuite, case: LongContextCase | NeedleCase, prepared: Prepared,
              outcome: Outcome) -> Score:
        answer = outcome.output_text or ""
        answers = _answers(case.expected)
        contained = any(contains_answer(answer, a) for a in answers)
        f1 = max(token_f1(answer, a) for a in answers)
        # The grid cell and document figures `prepare` kept as `detail_*` state.
        details = cast(LongContextDetails, {k[len("detail_"):]: v for k, v in prepared.state.items()
                                            if k.startswith("detail_")})
        details.setdefault("expected", case.expected)
        details["contains"] = contained
        details["f1"] = round(f1, 4)
        prompt_tokens = next((c.prompt_tokens for c in outcome.calls if c.prompt_tokens is not None), None)
        if prompt_tokens is not None:
            details["prompt_tokens"] = prompt_tokens
            if details.get("target_tokens"):
                details["tokens_vs_target"] = round(prompt_tokens / details["target_tokens"], 4)
        # A model that recites its prompt (a base model does) "contains" whatever was near the start
        # of the document: such an answer does not count, however it scores on words.
        copied = self._copied_chars(case, prepared, answer)
        if copied is not None:
            details["copied_chars"], limit = copied
            if copied[0] >= limit:
                details["echoed_document"] = True
                return Score(score=0.0, passed=False, details=dict(details))
        return Score(score=1.0 if contained else f1, passed=contained, details=dict(details))

    @staticmethod
    def _copied_chars(case: BaseCase, prepared: Prepared, answer: str) -> tuple[int, int] | None:
        """(characters of the answer copied verbatim from the document, the most allowed). Haystack
        text is never an answer, so a little of it is an echo; quoting a document is fair, so only
        whole passages count. None when the document cannot be rebuilt (moved before a rescore)."""
        st = prepared.state
        try:
            if "filler_chars" in st:
                source, limit = _filler(st["source"], st["filler_chars"]), ECHO_HAYSTACK_CHARS
            elif "document_file" in st:
                source, limit = _document_file(st["document_file"]), ECHO_DOCUMENT_CHARS
            else:
                source, limit = st.get("document_text") or "", ECHO_DOCUMENT_CHARS
        except (OSError, KeyError, ValueError):
            return None
        text = answer[:ECHO_SCAN_CHARS].replace(getattr(case, "question", "") or "\x00", "\n")
        copied, i = 0, 0
        while i + _CHUNK <= len(text):
            if text[i:i + _CHUNK] in source:
                copied += _CHUNK
                i += _CHUNK
            else:
                i += _STEP
        return copied, limit

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _beside(suite: LongContextSuite, relative: str) -> str:
        return str(Path(suite.path).parent / relative) if suite.path else relative

    @classmethod
    def _haystack_path(cls, suite: LongContextSuite) -> str:
        return str(_BUILTIN_PATH) if suite.haystack == BUILTIN_HAYSTACK else cls._beside(suite, suite.haystack)

    def report_charts(self, sections: list[dict]) -> None:
        from ...report import charts

        for s in sections:
            for m in s["maps"]:
                m["svg"] = charts.heatmap(m)


def _why(e: BaseException) -> str:
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 at byte {e.start}"
    return getattr(e, "strerror", None) or str(e)


def _answers(expected: Expected | None) -> list[str]:
    if expected is None:
        return []
    return [expected] if isinstance(expected, str) else list(expected)


def _first_vars(suite: LongContextSuite) -> dict:
    return dict(suite.cases[0].vars) if suite.cases else {}


KIND = LongContext()
