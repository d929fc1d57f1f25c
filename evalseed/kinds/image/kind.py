"""`kind: image`: text-to-image prompts (Seedream), checked and saved.

Each case is one `images.generate` call. What comes back is made durable at once: `b64_json`
payloads are decoded and `url`s downloaded (they expire) through the engine, with its retries and
--timeout, then written under the run's folder as
`<out_dir>/images/<suite>/<case>-<model>-<repeat>-<i>.<ext>`. The stored response keeps every
image's path, format, size and byte count instead of the base64 text, and a failed image inside a
partly failed response is kept as that image's error. Checks: the count, that each image decodes,
its minimum width and height, and that it is not blank (grey-level variance above a floor);
with `expect_text`, the text OCR reads in it (`ocr.py`); with `judge`, a vision model's grade of
its prompt adherence (`judge.py`). Sizes are checked per model before anything is sent (`spec.py`).

How a case's score combines its checks: each image gets a credit, 0 when it fails any of the
pass/fail checks (it failed, does not decode, is too small, blank or unsaved), else the mean of
its graded scores (the OCR text score with `expect_text`, the judge's score with `judge`; 1 with
neither). The case's score is the sum of the best `count` credits over `count` (so missing
images count 0); it passes when exactly `count` images came back and every image passes every
check, the graded ones at their floors (`min_score`, the judge's `threshold`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import CallFailed
from ...templating import compile_template, render
from ..base import Api, CaseError, Kind, Outcome, Prepared, Score, SuiteError
from ..generation.details import JudgeRecord
from ..generation.judge import judge_model_info, judge_totals, use_config
from .decode import inspect_image, save_image, sniff_ext
from .details import ImageDetails
from .judge import (
    JUDGE_PROBLEM,
    image_verdicts,
    judge_images,
    judge_problem,
    vision_problem,
)
from .ocr import OcrUnavailable, read_text, score_text
from .ocr import normalise as normalise_text
from .spec import (
    DEFAULT_MIN_VARIANCE,
    ExpectText,
    ImageCase,
    ImageExpect,
    ImageJudge,
    ImageSuite,
    effective_expect,
    effective_judge,
    effective_params,
    effective_text,
    size_problem,
)

if TYPE_CHECKING:
    from ...config import ModelInfo

# ---- images ---------------------------------------------------------------------------------------

MAX_IMAGE_BYTES = 64 * 1024 * 1024
# A saved image's index, from its file name (`<stem>-<index>.<ext>`, see execute).
_SAVED_INDEX = re.compile(r"-(\d+)\.[a-z]+$")


def map_n(body: dict, takes_n: bool) -> dict:
    """The body for a provider: ModelArk has no `n` and asks for several images through
    `sequential_image_generation` (the model may then return fewer, which the count check sees)."""
    if takes_n or "n" not in body:
        return body
    body = dict(body)
    n = body.pop("n") or 1
    if n > 1:
        body["sequential_image_generation"] = "auto"
        body["sequential_image_generation_options"] = {"max_images": n}
    else:
        body["sequential_image_generation"] = "disabled"
    return body


# ---- the kind -------------------------------------------------------------------------------------


def _rendered(source: str, variables: dict, where: str, i: int) -> str:
    """A suite template (at `where`, in case `i`) rendered with the case's vars, or SuiteError."""
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        compile_template(source)
        return render(source, variables)
    except TemplateSyntaxError as e:
        raise SuiteError(where, f"template syntax error: {e.message}") from None
    except UndefinedError as e:
        raise SuiteError(f"cases[{i}].vars", f"{e.message} (used by {where})") from None
    except SecurityError as e:
        raise SuiteError(where, f"unsafe template: {e}") from None


class ImageKind(Kind[ImageSuite, ImageCase]):
    name = "image"
    suite_model = ImageSuite
    title = "Images"
    starter_file = "shop-banners.yaml"
    report_order = 1  # the gallery, the longest section, goes after the tables
    model_kinds = ("image",)

    def validate(self, suite: ImageSuite) -> None:
        refused: dict[str, str | None] = {}  # judge model: why it cannot judge images
        for i, case in enumerate(suite.cases):
            source = case.prompt or suite.prompt or ""
            where = f"cases[{i}].prompt" if case.prompt else "prompt"
            text = _rendered(source, case.vars, where, i)
            if not text.strip():
                raise SuiteError(where, "the prompt is empty once rendered")
            want = case.expect_text if case.expect_text is not None else suite.expect_text
            if want is not None:
                where = f"cases[{i}].expect_text" if case.expect_text is not None else "expect_text"
                shown = _rendered(want.text, case.vars, where, i)
                if not normalise_text(shown):
                    raise SuiteError(where, "holds no letters or digits once rendered: OCR could not check it")
            # Sizes: the syntax is checked with the params (_check_params); the range depends on
            # the provider, which a suite does not know, so it is checked per request (prepare).
            judge = effective_judge(suite, case)
            if judge is not None:
                where = f"cases[{i}].judge.model" if case.judge is not None else "judge.model"
                if judge.model not in refused:
                    refused[judge.model] = vision_problem(judge_model_info(judge.model))
                if refused[judge.model]:
                    raise SuiteError(where, refused[judge.model] or "")

    def cases(self, suite: ImageSuite) -> Iterable[ImageCase]:
        """The suite's cases with suite-level params and expectations merged in (so `expected` in
        every row, errors included, is the full expectation)."""
        for case in suite.cases:
            yield case.model_copy(update={"params": effective_params(suite, case),
                                          "expect": effective_expect(suite, case),
                                          # unrendered: effective_text renders it once, here too
                                          "expect_text": case.expect_text or suite.expect_text,
                                          "judge": effective_judge(suite, case)})

    def expected(self, case: ImageCase) -> Any:
        if case.expect is None:
            return None
        text = case.expect_text
        return _expected(case.expect, text.model_copy(update={"text": render(text.text, case.vars)}) if text else None,
                         case.judge)

    def prepare(self, suite: ImageSuite, case: ImageCase, model: ModelInfo) -> Prepared:
        params = effective_params(suite, case)
        prompt = render(case.prompt or suite.prompt or "", case.vars)
        body: dict[str, Any] = {"model": model.api_name, "prompt": prompt, **params, **model.request_params}
        expect = effective_expect(suite, case)
        skip = None
        size_note = None
        if "size" in params:
            problem = size_problem(params["size"], model.name, model.family)
            if problem and model.documented_sizes:
                skip = f"not sent: {problem} (the provider's documented limits)"
            elif problem:
                size_note = (f"sent as given: this provider documents no size limits, and ModelArk's would refuse "
                             f"it ({problem})")
        n = params.get("n", 1)
        return Prepared(
            input_text=prompt,
            request=body,
            skip_reason=skip,
            max_output_tokens=0,
            state={"suite": suite.name, "case": case.id, "model": model.name,
                   "detail_expected": _expected(expect, effective_text(suite, case), effective_judge(suite, case)),
                   "detail_n": n, "size_note": size_note,
                   "ocr_lang": suite.ocr_lang if effective_text(suite, case) else None,
                   "judge": effective_judge(suite, case),
                   # what `evalseed rescore --judge` looks for: a case it can ask a judge about
                   "judges": [effective_judge(suite, case)] if effective_judge(suite, case) else None},
        )

    def use_config(self, cfg: Any) -> None:
        """The run's config (its `--config`): the judge model is resolved and priced in it."""
        use_config(cfg)

    def budget_models(self, suite: ImageSuite, model: ModelInfo, provider: Any) -> list[ModelInfo]:
        """The judge models this suite's calls are also priced as: `run --budget-usd` refuses a
        suite whose judge has no known price (run/checks.py)."""
        names = {j.model for case in suite.cases if (j := effective_judge(suite, case)) is not None}
        return [judge_model_info(n, provider) for n in sorted(names)]

    async def judge(self, prepared: Prepared, answer: str, api: Api, model: str | None = None) -> dict[str, Any]:
        """`evalseed rescore --judge MODEL`: ask `model` (else the case's judge) about the images
        the run saved, read back from the files its answer lists (`<stem>-<index>.<ext>`), through
        `api`. The result is what `execute` leaves for the scorer."""
        spec: ImageJudge | None = prepared.state.get("judge")
        if spec is None:
            return {"images": {}}
        if model:
            spec = spec.model_copy(update={"model": model})
        images: list[tuple[int, bytes]] = []
        for line in (answer or "").splitlines():
            m = _SAVED_INDEX.search(line)
            if not m:
                continue
            try:
                images.append((int(m.group(1)), await asyncio.to_thread(Path(line).read_bytes)))
            except OSError as e:
                return {"error": f"cannot read {line} to judge it ({e.strerror or e})"}
        return await judge_images(api, spec, prepared.input_text, images)

    async def execute(self, prepared: Prepared, api: Api) -> Outcome:
        body = dict(prepared.request or {})
        provider = getattr(api, "provider", None)
        if provider is not None:
            body = map_n(body, getattr(provider, "images_take_n", True))
        call = await api.images(body)
        response = call.response if isinstance(call.response, dict) else {}
        listed = response.get("data")
        items = listed if isinstance(listed, list) else []
        st = prepared.state
        folder = Path(st.get("out_dir") or "runs") / "images"
        stem = st.get("file_stem") or f"{st.get('suite', 'suite')}/{st.get('case', 'case')}-{st.get('model', 'model')}-0"
        records: list[dict[str, Any]] = []
        stored_items: list[Any] = []
        to_judge: list[tuple[int, bytes]] = []  # the images that decoded, for the judge
        for i, item in enumerate(items):
            rec: dict[str, Any] = {"index": i}
            kept = {k: v for k, v in item.items() if k != "b64_json"} if isinstance(item, dict) else {"raw": item}
            data: bytes | None = None
            if not isinstance(item, dict):
                rec["error"] = {"code": "MalformedItem", "message": "data[i] is not an object"}
            elif item.get("error"):
                err = item["error"]
                rec["error"] = err if isinstance(err, dict) else {"code": "Error", "message": str(err)}
            elif isinstance(item.get("b64_json"), str):
                rec["source"] = "b64_json"
                try:
                    data = base64.b64decode(item["b64_json"], validate=True)
                except (binascii.Error, ValueError) as e:
                    rec["error"] = {"code": "BadBase64", "message": str(e)}
                kept["b64_json"] = f"<{len(item['b64_json']):,} base64 characters, saved to file>"
            elif isinstance(item.get("url"), str):
                rec["source"] = "url"
                t0 = time.perf_counter()
                try:
                    data = await api.download(item["url"], MAX_IMAGE_BYTES)
                except CallFailed as e:  # one image's failure, recorded on it
                    rec["error"] = {"code": "DownloadFailed", "message": f"{e.error_class}: {e.message}"[:300]}
                rec["download_ms"] = round((time.perf_counter() - t0) * 1000.0, 2)
            else:
                rec["error"] = {"code": "NoImage", "message": "data[i] has neither b64_json nor url"}
            if data is not None:
                path = folder / f"{stem}-{i}.{sniff_ext(data)}"
                try:
                    await asyncio.to_thread(save_image, path, data)
                    rec.update(path=str(path), bytes=len(data))
                except OSError as e:  # the image is still checked; only the file is missing
                    rec.update(bytes=len(data), save_error=f"cannot write {path}: {e.strerror or e}")
                try:
                    rec.update(await asyncio.to_thread(inspect_image, data))
                except ValueError as e:
                    rec["decode_error"] = str(e)
                else:
                    to_judge.append((i, data))
                if "decode_error" not in rec and st.get("ocr_lang"):
                    try:
                        rec["ocr_text"] = await asyncio.to_thread(read_text, data, st.get("ocr_lang") or "eng")
                    except OcrUnavailable as e:
                        rec["ocr_error"] = str(e)  # the scorer reads the saved file again, or says why not
            if isinstance(item, dict) and item.get("size"):
                rec["reported_size"] = item["size"]
            records.append(rec)
            stored_items.append(kept)
        stored = {k: v for k, v in response.items() if k != "data"}
        stored["data"] = stored_items
        stored["images"] = records
        # The base64 text now lives in the files; keep the call light for the row and any cache.
        call.response = stored
        saved = [r["path"] for r in records if r.get("path")]
        judge: ImageJudge | None = st.get("judge")
        if judge is not None:
            # Judge calls are this job's calls: the budget counts them, priced as the judge model;
            # their usage goes to details.judge, not to the row's columns (the image call's alone).
            st["judge_results"] = (await judge_images(api, judge, prepared.input_text, to_judge) if to_judge
                                   else {"images": {}})
        return Outcome(calls=[call], response=stored, output_text="\n".join(saved) if saved else None)

    def score(self, suite: ImageSuite, case: ImageCase, prepared: Prepared, outcome: Outcome) -> Score:
        expect = effective_expect(suite, case)
        want_text = effective_text(suite, case)
        response = outcome.response if isinstance(outcome.response, dict) else {}
        records = response.get("images")
        if not isinstance(records, list):
            raise CaseError("the stored response has no image records to score")
        if want_text is not None:
            records = [_with_ocr(rec, suite.ocr_lang) for rec in records]
        judge = effective_judge(suite, case)
        verdicts = image_verdicts(judge, prepared.state.get("judge_results"),
                                  prepared.state.get("stored_details") or {}) if judge is not None else {}
        checked = [check_image(rec, expect, want_text, judge, verdicts.get(rec.get("index"))) for rec in records]
        returned = sum(1 for c in checked if not c.get("error"))
        good = sum(1 for c in checked if c["ok"])
        want = expect.count if expect.count is not None else 1
        if want == 0:
            score = 1.0 if returned == 0 else 0.0
        else:
            # Each image's credit (the module's docstring): its graded scores' mean once its
            # pass/fail checks pass. A poster that reads right scores about 1 on its text, one
            # with other words about 0.2 or less.
            credits = sorted((_credit(c, want_text is not None, judge is not None) for c in checked), reverse=True)
            score = sum(credits[:want]) / want
        passed = returned == want and good == returned
        problems = []
        if returned != want:
            problems.append(f"{returned} image(s) returned, {want} expected")
        problems.extend(f"image {c['index']}: {p}" for c in checked for p in c.get("problems", []))
        details: ImageDetails = {
            "expected": _expected(expect, want_text, judge),
            "count": returned,
            "count_ok": good,
            "failed_images": sum(1 for c in checked if c.get("error")),
            "images": checked,  # type: ignore[typeddict-item]  # check_image's records
            "problems": problems,
        }
        if want_text is not None:
            scored = [c for c in checked if "text_score" in c]
            details["text_exact"] = sum(1 for c in scored if c.get("text_exact"))
            details["mean_cer"] = round(sum(c["cer"] for c in scored) / len(scored), 4) if scored else None
        if judge is not None:
            graded = [c["judge_score"] for c in checked if "judge_score" in c]
            details["mean_judge_score"] = round(sum(graded) / len(graded), 4) if graded else None
            usage = judge_totals(checked)
            if usage is not None:
                details["judge"] = usage
        if "sequential_image_generation" in ((outcome.calls[0].request if outcome.calls else None) or {}):
            details["n_mapped_to"] = "sequential_image_generation"
        if prepared.state.get("size_note"):
            details["size_note"] = prepared.state["size_note"]
        return Score(score=score, passed=passed, details=dict(details))


def _expected(expect: ImageExpect, text: ExpectText | None, judge: ImageJudge | None = None) -> dict[str, Any]:
    """`details.expected`: the checks, the text (and its passing score) when there is one, and
    the judge (`{rubric, model, threshold}`) when there is one."""
    out = expect.model_dump()
    if text is not None:
        out.update(text=text.text, min_text_score=text.min_score)
    if judge is not None:
        out["judge"] = judge.model_dump()
    return out


def check_image(rec: dict[str, Any], expect: ImageExpect, text: ExpectText | None = None,
                judge: ImageJudge | None = None, verdict: JudgeRecord | None = None) -> dict[str, Any]:
    """One image record with its verdict: `ok` and the `problems` that made it fail. With a
    `judge`, `verdict` is its judge record (None for an image the judge was not shown)."""
    out = dict(rec)
    problems: list[str] = []
    if rec.get("error"):
        err = rec["error"]
        problems.append(f"failed: {err.get('code', '')} {err.get('message', '')}".strip())
    elif rec.get("decode_error") or rec.get("width") is None:
        problems.append(f"does not decode ({rec.get('decode_error', 'no image data')})")
    else:
        if expect.min_width and rec["width"] < expect.min_width:
            problems.append(f"width {rec['width']} < {expect.min_width}")
        if expect.min_height and rec["height"] < expect.min_height:
            problems.append(f"height {rec['height']} < {expect.min_height}")
        floor = expect.min_variance if expect.min_variance is not None else DEFAULT_MIN_VARIANCE
        if rec.get("variance") is not None and rec["variance"] < floor:
            problems.append(f"blank: grey-level variance {rec['variance']:.2f} < {floor:g}")
    if rec.get("save_error"):
        problems.append(f"not saved: {rec['save_error']}")
    if text is not None and "ocr_text" in rec:
        ts = score_text(text.text, rec["ocr_text"])
        out.update(ts.as_dict())
        if ts.score < text.min_score:
            problems.append(f"{_TEXT_PROBLEM}read {normalise_text(rec['ocr_text'])[:80]!r} for {text.text!r}: "
                            f"CER {ts.cer:.2f}, text score {ts.score:.2f} < {text.min_score:g}")
    if judge is not None and verdict is not None:
        out["judge"] = verdict
        out["judge_score"] = verdict["score"] if verdict["score"] is not None else 0.0
        jp = judge_problem(verdict, judge.threshold)
        if jp:
            problems.append(jp)
    elif judge is not None and not problems:
        problems.append(f"{JUDGE_PROBLEM}no verdict for this image (the judge was not asked)")
    out["ok"] = not problems
    out["problems"] = problems
    return out


_TEXT_PROBLEM = "text: "


def _other_problems(checked: dict[str, Any]) -> list[str]:
    """An image's pass/fail problems: those other than its graded checks' (text, judge)."""
    return [p for p in checked["problems"] if not p.startswith((_TEXT_PROBLEM, JUDGE_PROBLEM))]


def _credit(checked: dict[str, Any], text: bool, judge: bool) -> float:
    """An image's credit toward the case's score: 0 when a pass/fail check fails, else the mean
    of its graded scores (text score, judge score), 1 when it has none."""
    if _other_problems(checked):
        return 0.0
    graded = ([checked.get("text_score", 0.0)] if text else []) + ([checked.get("judge_score", 0.0)] if judge else [])
    return sum(graded) / len(graded) if graded else 1.0


def _with_ocr(rec: dict[str, Any], lang: str) -> dict[str, Any]:
    """The record with the text read from its image: as the run read it, else (the run had no
    Tesseract, or this is `evalseed rescore`) read now from the saved file. Raises CaseError when
    the text cannot be read, so the row is an error that says why, never a silent pass."""
    if "ocr_text" in rec or rec.get("error") or rec.get("decode_error") or rec.get("width") is None:
        return rec
    path = rec.get("path")
    if not path:
        raise CaseError(f"expect_text: image {rec.get('index')} was not saved and was not read "
                        f"({rec.get('ocr_error') or 'no OCR text'})")
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CaseError(f"expect_text: cannot read {path} to check its text ({e.strerror or e})") from None
    try:
        return {**rec, "ocr_text": read_text(data, lang)}
    except OcrUnavailable as e:
        raise CaseError(f"expect_text not checked: {e}") from None


KIND = ImageKind()
