"""`expect_text:` on `kind: image` (issue 17 item 6): the rendered typography read with Tesseract
(Debian's tesseract-ocr, a direct subprocess call), scored by character error rate and a
normalised exact match. The images are rendered here with Pillow with known text; a wrong text is
the negative control. Without Tesseract the check says so (an error row), never a silent pass."""

from __future__ import annotations

import io
import json
import os
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalseed.kinds.image import ocr
from evalseed.suites.loader import check_suite_file, load_suite_file
from evalseed.testing.stub_server import Reply

from helpers import result_rows, write_suite

HAVE_TESSERACT = shutil.which("tesseract") is not None
# CI installs tesseract-ocr (.ci/run): there a missing binary is a failure, not a skip.
needs_tesseract = pytest.mark.skipif(not HAVE_TESSERACT and not os.environ.get("CI"),
                                     reason="Tesseract is not installed (apt-get install tesseract-ocr)")


def poster(headline: str, size: tuple[int, int] = (1440, 1024), fmt: str = "JPEG") -> bytes:
    """A poster with `headline` in large type, a smaller line and some shapes, as a model's might be."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", size, (236, 226, 204))
    d = ImageDraw.Draw(img)
    d.ellipse([1100, 480, 1380, 760], fill=(200, 120, 60))
    d.text((80, 220), headline, fill=(24, 24, 30), font=ImageFont.load_default(size=96))
    d.text((80, 420), "Doors open at eight", fill=(60, 60, 70), font=ImageFont.load_default(size=40))
    d.rectangle([0, 880, size[0], size[1]], fill=(30, 50, 110))
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=90)
    return buf.getvalue()


# ---- the scores --------------------------------------------------------------------------------------


def test_normalise_folds_what_ocr_confuses():
    assert ocr.normalise("  BUILD the\nFuture — of AI!") == ocr.normalise("build the future of Al")
    assert ocr.normalise("Ｍｉｄｎｉｇｈｔ") == "midnight"  # NFKC
    assert ocr.normalise("«...»") == ""


def test_substring_distance_ignores_the_rest_of_the_poster():
    assert ocr.substring_distance("jazz", "midnight jazz tonight") == 0
    assert ocr.substring_distance("jazz", "midnight jaz tonight") == 1
    assert ocr.substring_distance("abc", "") == 3


@given(st.text(max_size=20), st.text(max_size=40))
def test_scores_are_bounded_and_exact_implies_perfect(expected, read):
    s = ocr.score_text(expected, read)
    assert 0.0 <= s.score <= 1.0 and s.cer >= 0.0
    if s.exact:
        assert s.score == 1.0
    assert ocr.score_text(expected, f"noise {expected} more noise").score == 1.0


# ---- Tesseract on rendered images ---------------------------------------------------------------------


@needs_tesseract
@pytest.mark.parametrize("headline, want", [
    ("BUILD THE FUTURE OF AI", "Build the future of AI"),
    ("MIDNIGHT JAZZ", "Midnight Jazz"),
])
def test_correct_text_scores_near_one(headline, want):
    s = ocr.score_text(want, ocr.read_text(poster(headline)))
    assert s.score >= 0.9 and s.exact, s


@needs_tesseract
@pytest.mark.parametrize("headline, want", [
    ("SUNRISE FOLK", "Midnight Jazz"),                 # other words, same length
    ("GRAND OPENING SALE", "Build the future of AI"),
])
def test_wrong_text_scores_near_zero(headline, want):
    s = ocr.score_text(want, ocr.read_text(poster(headline)))
    assert s.score <= 0.1 and not s.exact and s.cer > 0.5, s


SUITE = """
name: typography
kind: image
params: {size: 1440x1024, n: 1, response_format: b64_json}
expect: {min_width: 1000, min_height: 1000}
expect_text: "{{ headline }}"
cases:
  - id: right
    prompt: 'A poster whose headline reads exactly "{{ headline }}".'
    vars: {headline: Midnight Jazz}
  - id: wrong
    prompt: 'A poster whose headline reads exactly "{{ headline }}".'
    vars: {headline: Build the future of AI}
  - id: own-floor
    prompt: A poster that says hello.
    expect_text: {text: "Midnight Jaz", min_score: 0.8}
"""


def _serve_posters(stub):
    """The stub draws MIDNIGHT JAZZ for every prompt: right for `right`, wrong for `wrong`."""
    picture = poster("MIDNIGHT JAZZ")
    return stub(responder=lambda body: Reply(image_bytes=picture))


@needs_tesseract
def test_run_scores_typography_against_the_stub(cli, stub, tmp_path):
    srv = _serve_posters(stub)
    path = write_suite(tmp_path / "suites", "t.yaml", SUITE)
    db = tmp_path / "t.duckdb"
    code, out, err = cli("run", path, "--base-url", srv.base_url, "--models", "seedream-4-5-251128", "--db", db,
                         "--no-progress", "--out-dir", tmp_path / "runs")
    assert code == 0, out + err
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    right, wrong, own = rows["right"], rows["wrong"], rows["own-floor"]
    assert right["status"] == "ok" and right["passed"] and right["score"] >= 0.9
    img = right["details"]["images"][0]
    assert img["text_exact"] and img["cer"] <= 0.1 and "MIDNIGHT JAZZ" in img["ocr_text"]
    assert right["details"]["expected"]["text"] == "Midnight Jazz"
    assert right["details"]["expected"]["min_text_score"] == 0.9
    assert wrong["status"] == "ok" and not wrong["passed"] and wrong["score"] <= 0.1
    assert any(p.startswith("image 0: text: read") for p in wrong["details"]["problems"])
    # One letter off, with a floor of 0.8: passes, not exactly.
    assert own["passed"] and 0.8 <= own["score"] < 1.0 and own["details"]["text_exact"] == 0


def test_without_tesseract_the_row_says_so_and_rescore_finishes_it(cli, stub, tmp_path, monkeypatch):
    srv = _serve_posters(stub)
    path = write_suite(tmp_path / "suites", "t.yaml", SUITE)
    db = tmp_path / "t.duckdb"
    monkeypatch.setattr(ocr, "tesseract_path", lambda: None)
    code, out, err = cli("run", path, "--base-url", srv.base_url, "--models", "seedream-4-5-251128", "--db", db,
                         "--no-progress", "--out-dir", tmp_path / "runs")
    rows = result_rows(db, parse_json=True)
    assert {r["status"] for r in rows} == {"error"} and not any(r["passed"] for r in rows)
    for r in rows:
        assert "expect_text not checked" in r["error"] and "apt-get install tesseract-ocr" in r["error"], r["error"]
    # The images were kept: once Tesseract is there, `rescore` reads them and scores the rows.
    if not HAVE_TESSERACT:
        return
    monkeypatch.undo()
    code, out, err = cli("rescore", "latest", "--db", db)
    assert code == 0, out + err
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    assert rows["right"]["status"] == "ok" and rows["right"]["passed"]
    assert rows["wrong"]["status"] == "ok" and not rows["wrong"]["passed"]


def test_missing_language_data_is_named(monkeypatch):
    if not HAVE_TESSERACT:
        pytest.skip("needs the tesseract binary")
    with pytest.raises(ocr.OcrUnavailable, match="no data for language 'zzz_nope'"):
        ocr.read_text(poster("HELLO"), "zzz_nope")


@pytest.mark.parametrize("edit, key, says", [
    ('expect_text: "{{ missing }}"', "cases[0].vars", "'missing' is undefined"),
    ('expect_text: "..."', "expect_text", "no letters or digits"),
    ("expect_text: {text: Hi, min_score: 2}", "expect_text.min_score", "less than or equal to 1"),
    ("ocr_lang: 'eng; rm -rf'", "ocr_lang", "not a Tesseract language"),
])
def test_bad_expect_text_is_refused_at_load_time(tmp_path, edit, key, says):
    text = SUITE.replace('expect_text: "{{ headline }}"', edit)
    (p,) = check_suite_file(write_suite(tmp_path, "t.yaml", text))
    assert p.path == key and says in p.message, str(p)


def test_cases_from_a_data_file_with_expect_text(tmp_path):
    """Items 4 and 6 together: 10 headlines in a CSV, one suite-wide expect_text template."""
    rows = "id,headline\n" + "".join(f"h{i},Sale number {i}\n" for i in range(9)) + "h9,{{ '{{' }} not a template\n"
    (tmp_path / "h.csv").write_text(rows)
    text = SUITE.split("cases:")[0] + "prompt: 'A poster reading \"{{ headline }}\".'\ncases_from: h.csv\n"
    suite = load_suite_file(write_suite(tmp_path, "t.yaml", text))
    from evalseed.kinds.image import KIND

    cases = list(KIND.cases(suite))
    assert [KIND.expected(c)["text"] for c in cases][:2] == ["Sale number 0", "Sale number 1"]
    assert json.dumps(KIND.expected(cases[3]))  # stored as JSON
    assert KIND.expected(cases[3])["text"] == "Sale number 3"
    # A value is rendered into the template once, never rendered again as a template itself.
    assert KIND.expected(cases[9])["text"] == "{{ '{{' }} not a template"
