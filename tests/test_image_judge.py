"""`judge:` on `kind: image` (issue 17 item 6): a vision model grades each generated image's
prompt adherence. Against the stub server, with scripted verdicts: a judge that scores adherence,
a lying verdict, a judge call that fails, the judge request carrying the image as a downscaled
data URL, judge cost kept apart from the image's and counted by the budget, stored verdicts
reused by rescore, and a text-only judge model refused before anything is sent."""

from __future__ import annotations

import base64
import io

import pytest
from conftest import result_rows, write_suite

from evalseed.kinds.image import KIND, check_image
from evalseed.kinds.image.judge import SYSTEM, judge_image_url
from evalseed.kinds.image.kind import _credit
from evalseed.kinds.image.spec import ExpectText, ImageExpect, ImageJudge
from evalseed.suites.loader import check_suite_file
from evalseed.testing.stub_server import Reply

SUITE = """
name: judged-images
kind: image
params: {size: 2048x2048, n: 1, response_format: b64_json}
expect: {min_width: 1000, min_height: 1000}
judge: {rubric: "The image shows what the prompt asks for, and nothing it forbids.", threshold: 0.6}
cases:
  - {id: cat, prompt: "A red cat on a blue sofa."}
  - {id: lying, prompt: "A lying lighthouse."}
  - {id: dog, prompt: "A dog in the snow.", judge: {rubric: "A dog, in snow.", threshold: 0.5}}
  - {id: broken, prompt: "A broken clock."}
"""

VERDICTS = {
    "cat": '{"score": 0.9, "reason": "a red cat on a blue sofa"}',
    "lying": '{"score": 9, "reason": "perfect!!!"}',
    "dog": 'Verdict: {"score": 0.2, "reason": "a cat, not a dog"}',
}


def picture(size: tuple[int, int] = (2048, 2048)) -> bytes:
    """A PNG larger than what the judge is sent, with some shapes (not blank)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (220, 40, 40))
    d = ImageDraw.Draw(img)
    w, h = size
    d.ellipse([w // 7, h // 7, w * 5 // 7, h * 5 // 7], fill=(30, 60, 200))
    d.rectangle([0, h * 5 // 6, w, h], fill=(240, 240, 240))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def responder(seen: list):
    image = picture()

    def respond(body):
        if "messages" not in body:  # the image model
            return Reply(image_bytes=image)
        msgs = body["messages"]
        assert msgs[0]["content"] == SYSTEM
        seen.append(body)
        text = msgs[1]["content"][0]["text"]
        key = next(k for k in ("cat", "lying", "dog", "clock") if k in text)
        if body["model"].startswith("seed-1-6-flash"):  # another judge, for rescore --judge
            return Reply(content='{"score": 0.3, "reason": "the sofa is green"}')
        if key == "clock":
            return Reply(fault="400")
        return Reply(content=VERDICTS[key])

    return respond


def run_suite(cli, stub, tmp_path, *extra, text=SUITE):
    seen: list = []
    srv = stub(responder=responder(seen))
    path = write_suite(tmp_path / "suites", "judged.yaml", text)
    db = tmp_path / "j.duckdb"
    code, out, err = cli("run", path, "--base-url", srv.base_url, "--models", "seedream-4-5-251128", "--db", db,
                         "--no-progress", "--max-attempts", "1", "--out-dir", tmp_path / "runs", *extra)
    return code, out + err, db, seen, srv


def test_judge_scores_prompt_adherence_apart_from_the_image_cost(cli, stub, tmp_path):
    code, err, db, seen, srv = run_suite(cli, stub, tmp_path)
    assert code == 0, err
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    assert len(rows) == 4

    cat = rows["cat"]
    assert cat["status"] == "ok" and cat["passed"] is True and cat["score"] == pytest.approx(0.9)
    (img,) = cat["details"]["images"]
    assert img["judge"]["score"] == 0.9 and img["judge"]["model"] == "seed-1-8-251228"
    assert img["judge"]["reason"] == "a red cat on a blue sofa" and img["judge"]["response_format"] == "json_schema"
    assert cat["details"]["expected"]["judge"] == {"rubric": "The image shows what the prompt asks for, and nothing "
                                                             "it forbids.", "model": "seed-1-8-251228", "threshold": 0.6}
    assert cat["details"]["mean_judge_score"] == pytest.approx(0.9)
    # The judge's cost apart, priced as seed-1-8; the row's cost_usd is the image's alone.
    j = cat["details"]["judge"]
    assert j["calls"] == 1 and j["models"] == ["seed-1-8-251228"] and j["cost_usd"] > 0
    from evalseed.config import load_config
    from evalseed.costs import chat_cost, image_cost

    cfg = load_config(None)
    assert cat["cost_usd"] == pytest.approx(image_cost(cfg.resolve_model("seedream-4-5-251128"), 1))
    u = img["judge"]["usage"]
    assert j["cost_usd"] == pytest.approx(chat_cost(cfg.resolve_model("seed-1-8-251228"), u["prompt_tokens"],
                                                    u["completion_tokens"], 0))

    # A lying verdict (9 out of 1) is not believed: a scored failure, not a crash.
    lying = rows["lying"]
    assert lying["status"] == "ok" and lying["passed"] is False and lying["score"] == 0.0
    assert lying["details"]["images"][0]["judge"]["score"] is None
    assert any("outside 0..1" in p for p in lying["details"]["problems"]), lying["details"]["problems"]

    # The case's own judge (threshold 0.5) replaces the suite's; prose around the JSON is parsed.
    dog = rows["dog"]
    assert dog["status"] == "ok" and dog["passed"] is False and dog["score"] == pytest.approx(0.2)
    assert any("scored 0.20 < 0.5" in p for p in dog["details"]["problems"])

    # A judge call that fails is the case's scorer error; the image is kept.
    broken = rows["broken"]
    assert broken["status"] == "error" and broken["error"].startswith("ScorerError: JudgeError: the judge seed-1-8")
    assert broken["output_text"] and broken["output_text"].endswith(".png")

    # The judge requests: the judge model, structured output, thinking off, the prompt and the
    # rubric as text, and the image as a data URL scaled down to at most 1024 pixels a side.
    assert len(seen) == 4 and {b["model"] for b in seen} == {"seed-1-8-251228"}
    assert all(b["response_format"]["type"] == "json_schema" for b in seen)
    assert all(b["thinking"] == {"type": "disabled"} for b in seen)
    dog_body = next(b for b in seen if "A dog in the snow." in b["messages"][1]["content"][0]["text"])
    assert "A dog, in snow." in dog_body["messages"][1]["content"][0]["text"]
    part = dog_body["messages"][1]["content"][1]
    assert part["type"] == "image_url"
    url = part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as sent:
        assert sent.format == "JPEG" and sent.size == (1024, 1024)

    # The suite's metrics and the report show the judge apart from the image model.
    import json

    code, out, err = cli("runs", "latest", "--db", db, "--json")
    assert code == 0, err
    (rec,) = json.loads(out)["results"]
    assert rec["judge_calls"] == 3 and rec["judge_cost_usd"] == pytest.approx(
        sum(r["details"]["judge"]["cost_usd"] for r in rows.values() if r["status"] == "ok"))
    assert rec["mean_judge_score"] == pytest.approx((0.9 + 0.0 + 0.2) / 3)
    out_dir = tmp_path / "reports"
    code, _, err = cli("report", "--db", db, "-o", out_dir)
    assert code == 0, err
    html = next(p for p in out_dir.glob("*.html") if p.name != "index.html").read_text(encoding="utf-8")
    assert "judge calls" in html and "judge 0.90: a red cat on a blue sofa" in html
    assert "judge: seed-1-8-251228 scored 0.20 &lt; 0.5: a cat, not a dog" in html

    # Rescore reuses the stored verdicts: no judge is asked, and their cost is not counted again.
    n = len(seen)
    code, out, err = cli("rescore", "latest", "--db", db)
    assert code == 0, out + err
    assert len(seen) == n
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    assert rows["cat"]["passed"] is True and rows["cat"]["details"]["images"][0]["judge"]["reused"] is True
    assert rows["cat"]["details"]["judge"]["calls"] == 0
    assert rows["dog"]["passed"] is False and rows["lying"]["score"] == 0.0

    # rescore --judge asks another judge about the saved images (read back from their files),
    # never the image model.
    images_before = srv.count("/images/generations")
    code, out, err = cli("rescore", "latest", "--db", db, "--judge", "seed-1-6-flash-250715")
    assert code == 0, out + err
    assert srv.count("/images/generations") == images_before
    flash = [b for b in seen[n:] if b["model"] == "seed-1-6-flash-250715"]
    assert len(flash) == 4 and all(b["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg")
                                   for b in flash)
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    cat = rows["cat"]
    assert cat["passed"] is False and cat["score"] == pytest.approx(0.3)
    assert cat["details"]["images"][0]["judge"]["model"] == "seed-1-6-flash-250715"
    assert cat["details"]["judge"]["calls"] == 1 and cat["details"]["judge"]["models"] == ["seed-1-6-flash-250715"]
    # The row whose judge failed in the run (an error row, its images kept) is judged now.
    assert rows["broken"]["status"] == "ok" and rows["broken"]["score"] == pytest.approx(0.3)


def test_the_budget_counts_judge_calls(cli, stub, tmp_path):
    """Four images at $0.04 fit a $0.16 budget exactly, but not with their judge calls: the budget
    stops the run before the fourth image (exit 3), having spent no more than $0.16 in all."""
    code, err, db, seen, srv = run_suite(cli, stub, tmp_path, "--budget-usd", "0.16", "--concurrency", "1")
    assert code == 3 and "budget" in err, err
    rows = result_rows(db, parse_json=True)
    images = sum(r["cost_usd"] or 0 for r in rows)
    judged = sum(((r["details"] or {}).get("judge") or {}).get("cost_usd") or 0 for r in rows)
    assert srv.count("/images/generations") == 3 and len(seen) == 3
    assert images == pytest.approx(0.12) and judged > 0 and images + judged <= 0.16


SUITE_JUDGE = 'judge: {rubric: "The image shows what the prompt asks for, and nothing it forbids.", threshold: 0.6}'
CAT = '- {id: cat, prompt: "A red cat on a blue sofa."}'


@pytest.mark.parametrize("text, key", [
    (SUITE.replace(SUITE_JUDGE, SUITE_JUDGE.replace("threshold: 0.6", "model: gemma-3-270m")), "judge.model"),
    (SUITE.replace(CAT, '- {id: cat, prompt: "A red cat.", judge: {rubric: a cat, model: gemma-3-270m}}'),
     "cases[0].judge.model"),
])
def test_a_text_only_judge_model_is_refused_before_anything_is_sent(cli, stub, tmp_path, text, key):
    assert text != SUITE
    path = write_suite(tmp_path / "suites", "judged.yaml", text)
    (p,) = check_suite_file(path)
    assert p.path == key and "the judge model gemma-3-270m takes no image input" in p.message, str(p)
    assert ". " not in p.message  # one sentence
    code, out, err = cli("validate", path)
    assert code == 2 and "takes no image input" in err, out + err
    code, err, db, seen, _ = run_suite(cli, stub, tmp_path, text=text)
    assert code == 2 and "takes no image input" in err, err
    assert seen == [] and (not db.exists() or result_rows(db) == [])


def test_an_image_credit_is_the_mean_of_its_graded_scores():
    rec = {"index": 0, "width": 2048, "height": 2048, "variance": 300.0, "ocr_text": "MIDNIGHT JAZ"}
    judge = ImageJudge(rubric="a poster", threshold=0.5)
    verdict = {"model": "seed-1-8-251228", "score": 0.6, "reason": "ok", "raw": "", "response_format": "json_schema",
               "usage": {}, "reused": False}
    c = check_image(rec, ImageExpect(min_width=1000), ExpectText(text="Midnight Jazz", min_score=0.8), judge, verdict)
    assert c["ok"] and _credit(c, True, True) == pytest.approx((c["text_score"] + 0.6) / 2)
    # A failed pass/fail check (too small) zeroes the credit, whatever the judge said.
    small = check_image(rec, ImageExpect(min_width=4000), None, judge, verdict)
    assert not small["ok"] and _credit(small, False, True) == 0.0
    # An image the judge was not shown fails its judge check and earns no judge credit.
    unseen = check_image(rec, ImageExpect(), None, judge, None)
    assert not unseen["ok"] and any(p.startswith("judge: no verdict") for p in unseen["problems"])
    assert _credit(unseen, False, True) == 0.0


def test_the_judge_image_is_bounded_and_not_enlarged():
    big = judge_image_url(picture((3000, 1500)))
    small = judge_image_url(picture((400, 300)))
    from PIL import Image

    for url, size in ((big, (1024, 512)), (small, (400, 300))):
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
            assert im.size == size
    with pytest.raises(ValueError):
        judge_image_url(b"not an image")
    assert KIND.name == "image"
