"""`kind: image`: size rules per model at validation time, `n` for providers without it, decoding
`b64_json` and downloading `url`s, partial failures recorded per image, checks (count, decode,
size, blank), saved files, cost per image, and a run end to end against the stub server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import time
import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalseed.config import BUILTIN_MODELS, Provider
from evalseed.engine import Budget, EngineOptions, JobApi, ModelLane, Redactor
from evalseed.errors import CallFailed, UsageError
from evalseed.kinds import image as im
from evalseed.kinds.base import CallResult, Outcome
from evalseed.suites.loader import load_suite_file
from evalseed.testing.stub_server import Reply, make_image

from conftest import ROOT
from helpers import write_suite

KIND = im.KIND
SEEDREAM = BUILTIN_MODELS["seedream-4-5-251128"]
AISA = Provider("aisa", None, None)
ARK = Provider("ark", None, None, images_take_n=False)

SUITE = """
name: pics
kind: image
models: [seedream-4-5-251128]
params: {size: 2K, n: 1, watermark: false, response_format: b64_json}
expect: {min_width: 2048, min_height: 2048}
cases:
  - id: bottle
    prompt: "A glass perfume bottle on {{ stone }}."
    vars: {stone: travertine}
  - id: poster
    prompt: Poster that reads exactly "MIDNIGHT JAZZ".
    params: {size: 1440x2560, n: 3, response_format: url}
    expect: {min_width: 1440, min_height: 2560}
"""


def load(tmp_path: Path, text: str = SUITE):
    return load_suite_file(write_suite(tmp_path, "img.yaml", text))


# ---- sizes ----------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=20_000), st.integers(min_value=1, max_value=20_000))
def test_seedream_4_5_size_rule(w, h):
    px, aspect = w * h, max(w, h) / min(w, h)
    ok = 3_686_400 <= px <= 16_777_216 and aspect <= 16
    assert (im.size_problem(f"{w}x{h}", SEEDREAM.name) is None) is ok


@pytest.mark.parametrize("size, model, fine", [
    ("2K", "seedream-4-5-251128", True),
    ("4k", "seedream-4-5-251128", True),
    ("1K", "seedream-4-5-251128", False),  # 4.0 had 1K; 4.5 does not
    ("2560x1440", "seedream-4-5-251128", True),
    ("2559x1440", "seedream-4-5-251128", False),
    ("4096x4096", "seedream-4-5-251128", True),
    ("4097x4096", "seedream-4-5-251128", False),
    ("1024x1024", "seedream-4-5-251128", False),
    ("1024x1024", "seedream-4-5-260301", False),  # a version bump keeps the family's rule
    ("1K", "seedream-4-0-250828", True),
    ("1280x720", "seedream-4-0-250828", True),
    ("1024x1024", "some-local-image-model", True),  # unknown family: syntax only
    ("big", "some-local-image-model", False),
])
def test_sizes_per_model(size, model, fine):
    assert (im.size_problem(size, model) is None) is fine


def test_validation_refuses_only_what_no_provider_takes(tmp_path):
    # The Seed page's own examples are below ModelArk's 4.5 minimum but fine on AIsa (issue 18):
    # a suite does not know its provider, so validation checks the syntax only.
    for size in ("1024x1024", "1792x1024", "12800x300"):
        load(tmp_path, SUITE.replace("size: 1440x2560", f"size: {size}"))
    with pytest.raises(UsageError) as e:
        load(tmp_path, SUITE.replace("size: 1440x2560", "size: huge"))
    assert str(e.value).startswith(str(tmp_path / "img.yaml") + ":12 cases[1].params")
    assert "'huge' is not a size; give 2K, 4K or WIDTHxHEIGHT" in str(e.value)


def test_sizes_are_checked_per_provider_when_the_request_is_made(tmp_path):
    from evalseed.config import load_config

    cfg = load_config(None)
    suite = load(tmp_path, SUITE.replace("size: 1440x2560", "size: 1024x1024"))
    poster = list(KIND.cases(suite))[1]
    on_ark = cfg.effective_model(SEEDREAM, cfg.provider("ark"))
    p = KIND.prepare(suite, poster, on_ark)
    assert p.skip_reason.startswith("not sent: size '1024x1024' has 1,048,576 pixels")
    assert "3,686,400 (2560x1440) to 16,777,216 (4096x4096)" in p.skip_reason
    assert p.skip_reason.endswith("(the provider's documented limits)")
    on_aisa = cfg.effective_model(SEEDREAM, cfg.provider("aisa"))
    p = KIND.prepare(suite, poster, on_aisa)
    assert p.skip_reason is None and p.request["size"] == "1024x1024"
    assert p.state["size_note"].startswith("sent as given: this provider documents no size limits")


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("watermark: false", "watermark: 'no'"), "params.watermark: give true or false"),
    (lambda t: t.replace("n: 3", "n: 16"), "params.n: 16; give a whole number of images from 1 to 15"),
    (lambda t: t.replace("n: 1,", "seed: 7,"), "unknown image parameter(s) ['seed']"),
    (lambda t: t.replace("min_width: 2048", "min_widht: 2048"), "expect.min_widht: unknown key"),
    (lambda t: t.replace("response_format: url", "response_format: png"), "give url or b64_json"),
    (lambda t: t.replace("{{ stone }}", "{{ stoen }}"), "'stoen' is undefined"),
    (lambda t: t + "messages: [{role: user, content: hi}]\n", "image suites take a prompt"),
])
def test_bad_image_suites(tmp_path, edit, words):
    with pytest.raises(UsageError) as e:
        load(tmp_path, edit(SUITE))
    assert words in str(e.value)


def test_bundled_suite_has_15_prompts_in_every_category():
    suite = load_suite_file(ROOT / "suites" / "images-seedream.yaml")
    cases = list(KIND.cases(suite))
    assert len(cases) >= 15
    tags = {t for c in cases for t in c.tags}
    assert {"product", "poster", "typography", "ui", "infographic"} <= tags


def test_cases_carry_the_merged_expectation(tmp_path):
    suite = load(tmp_path)
    bottle, poster = KIND.cases(suite)
    assert bottle.expect.model_dump() == {"count": 1, "min_width": 2048, "min_height": 2048, "min_variance": 4.0}
    assert poster.expect.count == 3 and poster.params["size"] == "1440x2560"
    p = KIND.prepare(suite, bottle, SEEDREAM)
    assert p.request == {"model": SEEDREAM.name, "prompt": "A glass perfume bottle on travertine.", "size": "2K",
                         "n": 1, "watermark": False, "response_format": "b64_json"}
    assert p.skip_reason is None


def test_a_model_with_a_stricter_rule_is_skipped_not_sent_where_sizes_are_documented(tmp_path):
    from evalseed.config import load_config

    cfg = load_config(None)
    suite = load(tmp_path, SUITE.replace("models: [seedream-4-5-251128]", "models: [seedream-4-0-250828]")
                 .replace("size: 1440x2560", "size: 1K"))
    poster = list(KIND.cases(suite))[1]
    p = KIND.prepare(suite, poster, cfg.effective_model(SEEDREAM, cfg.provider("ark")))
    assert p.skip_reason.startswith("not sent: size '1K' is neither a preset (2K, 4K)")


def test_n_is_mapped_for_providers_without_it():
    body = {"model": "m", "prompt": "p", "n": 4}
    assert im.map_n(body, True) is body
    assert im.map_n(body, False) == {"model": "m", "prompt": "p", "sequential_image_generation": "auto",
                                     "sequential_image_generation_options": {"max_images": 4}}
    assert im.map_n({"prompt": "p", "n": 1}, False) == {"prompt": "p", "sequential_image_generation": "disabled"}


# ---- execute and score against the stub server, through the real engine ----------------------------


@contextlib.asynccontextmanager
async def _api(srv, provider=AISA, case_id="c", opts=None, secrets=()):
    """A JobApi on the real engine against `srv`; its clients are closed on the way out."""
    import openai

    client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
    lane = ModelLane(SEEDREAM, provider, client, opts or EngineOptions(max_attempts=2), Budget(None),
                     Redactor(secrets))
    try:
        yield JobApi(lane, "pics", case_id)
    finally:
        await client.close()
        await lane.downloads.aclose()


def _run(suite, case_id, srv, tmp_path, provider=AISA, repeat=0):
    case = next(c for c in KIND.cases(suite) if c.id == case_id)
    p = KIND.prepare(suite, case, SEEDREAM)
    p.state["out_dir"] = str(tmp_path / "runs" / "r1")
    p.state["file_stem"] = f"{suite.name}/{case.id}-{SEEDREAM.name}-{repeat}"

    async def go():
        async with _api(srv, provider, case_id) as api:
            return await KIND.execute(p, api)

    outcome = asyncio.run(go())
    return case, p, outcome, KIND.score(suite, case, p, outcome)


def test_b64_images_are_decoded_saved_and_checked(stub, tmp_path):
    srv = stub(min_image_pixels=3_686_400)
    suite = load(tmp_path)
    case, p, outcome, score = _run(suite, "bottle", srv, tmp_path)
    assert score.passed and score.score == 1.0
    img = score.details["images"][0]
    path = tmp_path / "runs/r1/images/pics/bottle-seedream-4-5-251128-0-0.jpg"
    assert img["path"] == str(path) and path.is_file()
    assert img["format"] == "JPEG" and (img["width"], img["height"]) == (2048, 2048)
    assert img["bytes"] == path.stat().st_size and img["source"] == "b64_json" and img["ok"]
    assert score.details["expected"] == {"count": 1, "min_width": 2048, "min_height": 2048, "min_variance": 4.0}
    # The stored response keeps the path, not megabytes of base64.
    assert len(json.dumps(outcome.response)) < 2_000
    assert outcome.response["data"][0]["b64_json"].endswith("base64 characters, saved to file>")
    call = outcome.calls[0]
    assert call.images == 1 and call.cost_usd == pytest.approx(0.04) and call.latency_ms > 0


def test_partial_failure_is_recorded_per_image_and_urls_are_downloaded(stub, tmp_path):
    def responder(body):
        return Reply(image_errors={1: ("OutputImageSensitiveContentDetected", "The generated image may contain sensitive content.")})

    srv = stub(responder=responder, min_image_pixels=3_686_400)
    suite = load(tmp_path)
    case, p, outcome, score = _run(suite, "poster", srv, tmp_path)
    assert srv.bodies("/images/generations")[0]["n"] == 3
    imgs = score.details["images"]
    assert [i["ok"] for i in imgs] == [True, False, True]
    assert imgs[1]["error"]["code"] == "OutputImageSensitiveContentDetected" and "path" not in imgs[1]
    assert imgs[0]["source"] == "url" and imgs[0]["download_ms"] >= 0
    assert (imgs[0]["width"], imgs[0]["height"]) == (1440, 2560)
    assert score.details["count"] == 2 and score.details["failed_images"] == 1
    assert not score.passed and score.score == pytest.approx(2 / 3)
    assert "2 image(s) returned, 3 expected" in score.details["problems"]
    saved = sorted(x.name for x in (tmp_path / "runs/r1/images/pics").iterdir())
    assert saved == ["poster-seedream-4-5-251128-0-0.jpg", "poster-seedream-4-5-251128-0-2.jpg"]
    # Billed per generated image only.
    assert outcome.calls[0].images == 2 and outcome.calls[0].cost_usd == pytest.approx(0.08)
    # Rescoring from the stored response alone (no calls, no HTTP) gives the same verdict.
    again = KIND.score(suite, case, p, Outcome(calls=[], response=json.loads(json.dumps(outcome.response)),
                                               output_text=outcome.output_text))
    assert (again.score, again.passed) == (score.score, score.passed)


def test_modelark_gets_sequential_generation_instead_of_n(stub, tmp_path):
    srv = stub(min_image_pixels=3_686_400)
    suite = load(tmp_path)
    _, _, outcome, score = _run(suite, "poster", srv, tmp_path, provider=ARK)
    sent = srv.bodies("/images/generations")[0]
    assert "n" not in sent
    assert sent["sequential_image_generation"] == "auto"
    assert sent["sequential_image_generation_options"] == {"max_images": 3}
    assert score.passed and score.details["count"] == 3 and score.details["n_mapped_to"] == "sequential_image_generation"


def test_too_small_images_fail_the_size_check(stub, tmp_path):
    srv = stub(responder=lambda body: Reply(image_size="2560x1440"))
    suite = load(tmp_path)
    _, _, _, score = _run(suite, "bottle", srv, tmp_path)
    assert not score.passed and score.score == 0.0
    assert score.details["images"][0]["problems"] == ["height 1440 < 2048"]


class FakeApi:
    """Answers `images` with a given body, as the engine would after a successful call; links are
    downloaded from `srv` through the real engine."""

    def __init__(self, response, srv=None):
        self.response = response
        self.srv = srv

    async def images(self, body):
        return CallResult(request=body, response=self.response, latency_ms=5.0, images=len(self.response["data"]))

    async def download(self, url, max_bytes):
        async with _api(self.srv) as api:
            return await api.download(url, max_bytes)


def _png(colour=(120, 120, 120), size=(2048, 2048)):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def test_blank_undecodable_and_missing_images_are_caught(stub, tmp_path):
    srv = stub()
    good = make_image(2048, 2048, "png")
    truncated = make_image(2048, 2048, "jpeg")[:5_000]
    response = {"data": [
        {"b64_json": base64.b64encode(good).decode()},
        {"b64_json": base64.b64encode(_png()).decode()},  # one flat grey: blank
        {"b64_json": base64.b64encode(truncated).decode()},
        {"b64_json": "not base64!!"},
        {"url": srv.root_url + "/files/missing.jpg"},  # the link is dead
        {"size": "2048x2048"},  # neither
    ]}
    suite = load(tmp_path, SUITE.replace("n: 1,", "n: 6,").replace("min_height: 2048}", "min_height: 2048, count: 6}"))
    case = list(KIND.cases(suite))[0]
    p = KIND.prepare(suite, case, SEEDREAM)
    p.state.update(out_dir=str(tmp_path / "out"), file_stem="pics/bottle-m-0")
    outcome = asyncio.run(KIND.execute(p, FakeApi(response, srv)))
    score = KIND.score(suite, case, p, outcome)
    imgs = score.details["images"]
    assert imgs[0]["ok"] and imgs[0]["format"] == "PNG" and imgs[0]["path"].endswith("bottle-m-0-0.png")
    assert imgs[1]["problems"][0].startswith("blank: grey-level variance 0.00 < 4")
    assert imgs[2]["problems"][0].startswith("does not decode (OSError")
    assert imgs[3]["error"]["code"] == "BadBase64"
    assert imgs[4]["error"]["code"] == "DownloadFailed" and "HTTP 404" in imgs[4]["error"]["message"]
    assert imgs[5]["error"]["code"] == "NoImage"
    assert score.details["count_ok"] == 1 and not score.passed and score.score == pytest.approx(1 / 6)
    # Files that arrived are kept, even the broken ones, for a person to look at.
    assert sorted(x.name for x in (tmp_path / "out/images/pics").iterdir()) == [
        "bottle-m-0-0.png", "bottle-m-0-1.png", "bottle-m-0-2.jpg"]


# ---- downloads go through the engine ----------------------------------------------------------------


def _file(srv, data, name="pic.jpg"):
    srv.files[name] = (data, "image/jpeg")
    return f"{srv.root_url}/files/{name}"


def _download(srv, url, opts, secrets=()):
    async def go():
        async with _api(srv, opts=opts, secrets=secrets) as api:
            return await api.download(url, im.MAX_IMAGE_BYTES)

    return asyncio.run(go())


def test_a_download_that_fails_transiently_is_retried_through_the_engine(stub):
    srv = stub()
    data = make_image(2048, 2048, "jpeg")
    url = _file(srv, data)
    srv.fail_file("pic.jpg", "503", "disconnect")
    assert _download(srv, url, EngineOptions(max_attempts=3, backoff_base=0.01)) == data
    gets = [r for r in srv.requests if r.path == "/files/pic.jpg"]
    assert [r.fault for r in gets] == ["503", "disconnect", None]
    # Filed with its suite in a cassette like the call it came from; the API key stays home.
    assert gets[-1].headers["x-evalseed-suite"] == "pics" and gets[-1].headers["x-evalseed-provider"] == "aisa"
    assert "authorization" not in gets[-1].headers


def test_a_download_that_cannot_succeed_fails_with_a_redacted_reason(stub):
    srv = stub()
    url = _file(srv, make_image(64, 64, "jpeg"))
    srv.fail_file("pic.jpg", "503", "503", "503")
    opts = EngineOptions(max_attempts=2, backoff_base=0.01)
    with pytest.raises(CallFailed) as e:
        _download(srv, url, opts)
    assert e.value.error_class == "HTTP503" and e.value.attempts == 2 and "gave up after 2 attempts" in e.value.message
    with pytest.raises(CallFailed) as e:  # a dead link is not retried
        _download(srv, srv.root_url + "/files/gone.jpg", opts)
    assert e.value.error_class == "HTTP404" and e.value.attempts == 1
    with pytest.raises(CallFailed) as e:
        _download(srv, "file:///srv/sk-test-secret-0123/x.jpg", opts, secrets=["sk-test-secret-0123"])
    assert e.value.error_class == "InvalidURL" and "sk-test" not in e.value.message and "***" in e.value.message


def test_a_slow_download_is_bounded_by_the_timeout(stub):
    srv = stub()
    url = _file(srv, bytes(200_000))  # dripped a kilobyte per 0.2 s: 40 s for the whole body
    srv.fail_file("pic.jpg", "drip", "drip")
    t0 = time.monotonic()
    with pytest.raises(CallFailed) as e:
        _download(srv, url, EngineOptions(timeout=0.5, max_attempts=2, backoff_base=0.01))
    assert e.value.error_class == "Timeout" and e.value.attempts == 2
    assert time.monotonic() - t0 < 20


def test_run_bounds_a_download_by_the_timeout_option(cli, stub, tmp_path):
    srv = stub()
    srv.fail_file("*", "drip", "drip")  # the generated image (84 KB) would take 16 s
    p = write_suite(tmp_path / "suites", "img.yaml", """
name: pics
kind: image
models: [seedream-4-5-251128]
params: {size: 1440x2560, response_format: url}
cases:
  - {id: poster, prompt: A poster.}
""")
    db = tmp_path / "img.duckdb"
    code, _, err = cli("run", p, "--base-url", srv.base_url, "--db", db, "--no-progress", "--out-dir", tmp_path / "runs",
                       "--timeout", "1", "--max-attempts", "2")
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        status, details = con.execute("SELECT status, details FROM results").fetchone()
    finally:
        con.close()
    img = json.loads(details)["images"][0]
    assert status == "ok" and img["error"]["code"] == "DownloadFailed"
    assert img["error"]["message"].startswith("Timeout: ") and "gave up after 2 attempts" in img["error"]["message"]
    assert img["download_ms"] < 8000


def test_suite_metrics_cost_per_image():
    rows = [
        {"status": "ok", "passed": True, "score": 1.0, "images": 2, "cost_usd": 0.08, "latency_ms": 900.0,
         "details": {"failed_images": 0}},
        {"status": "ok", "passed": False, "score": 0.5, "images": 1, "cost_usd": 0.04, "latency_ms": 1100.0,
         "details": {"failed_images": 1}},
        {"status": "skipped", "details": {}},
        {"status": "error", "cost_usd": 0.04, "details": {}},
    ]
    m = KIND.suite_metrics(rows)
    # The error row is a failed case and scores 0; the skipped one is left out.
    assert m["accuracy"] == 1 / 3 and m["mean_score"] == 1.5 / 3 and m["images"] == 3 and m["failed_images"] == 1
    assert (m["skipped"], m["errors"]) == (1, 1)
    # Cost per image and latency are measured on the images that came back (ok rows).
    assert m["cost_per_image_usd"] == pytest.approx(0.04) and m["median_latency_ms"] == 1000.0


# ---- end to end -------------------------------------------------------------------------------------


def test_run_end_to_end_saves_images_under_the_run(cli, stub, tmp_path):
    srv = stub(min_image_pixels=3_686_400)
    p = write_suite(tmp_path / "suites", "img.yaml", SUITE)
    db = tmp_path / "img.duckdb"
    code, out, err = cli("run", p, "--base-url", srv.base_url, "--models", "seedream-4-5-251128",
                         "--db", db, "--no-progress", "--out-dir", tmp_path / "runs")
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT case_id, status, passed, images, cost_usd, details, output_text, latency_ms FROM results").fetchall()}
    finally:
        con.close()
    status, passed, images, cost, details, output_text, latency = rows["poster"]
    assert status == "ok" and passed and images == 3 and cost == pytest.approx(0.12) and latency > 0
    d = json.loads(details)
    assert d["expected"] == {"count": 3, "min_width": 1440, "min_height": 2560, "min_variance": 4.0}
    folder = tmp_path / "runs" / run_id / "images" / "pics"
    for i, img in enumerate(d["images"]):
        path = Path(img["path"])
        assert path == folder / f"poster-seedream-4-5-251128-0-{i}.jpg"
        assert path.stat().st_size == img["bytes"] and (img["width"], img["height"]) == (1440, 2560)
    assert output_text.splitlines() == [img["path"] for img in d["images"]]
    assert rows["bottle"][:4] == ("ok", True, 1, pytest.approx(0.04))


def test_an_image_that_cannot_be_saved_is_recorded_not_raised(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the images folder should be", encoding="utf-8")
    response = {"data": [{"b64_json": base64.b64encode(make_image(2048, 2048, "jpeg")).decode()}]}
    suite = load(tmp_path)
    case = list(KIND.cases(suite))[0]
    p = KIND.prepare(suite, case, SEEDREAM)
    p.state.update(out_dir=str(blocker), file_stem="pics/bottle-m-0")
    outcome = asyncio.run(KIND.execute(p, FakeApi(response)))
    score = KIND.score(suite, case, p, outcome)
    img = score.details["images"][0]
    assert "path" not in img and img["width"] == 2048 and img["save_error"].startswith("cannot write")
    assert not score.passed and img["problems"][0].startswith("not saved: cannot write")


def test_record_then_replay_without_the_server(cli, stub, tmp_path):
    """Downloads are recorded with their suite, so a replay needs no server for links either."""
    srv = stub(min_image_pixels=3_686_400)
    p = write_suite(tmp_path / "suites", "img.yaml", SUITE)
    db, cas = tmp_path / "c.duckdb", tmp_path / "cas"
    common = ("--db", db, "--no-progress", "--cassette-dir", cas, "--out-dir", tmp_path / "runs")
    code, _, err = cli("run", p, "--base-url", srv.base_url, "--cassettes", "record", *common)
    assert code == 0, err
    srv.stop()
    files = [x.relative_to(cas).as_posix() for x in cas.rglob("*.json")]
    assert len(files) >= 2 and all(f.startswith("custom/pics/") for f in files), files  # downloads too
    code, _, err = cli("run", p, "--base-url", "http://127.0.0.1:9/v1", "--cassettes", "replay", *common)
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        got = con.execute("""SELECT case_id, list(passed ORDER BY replayed), list(images ORDER BY replayed),
                                    bool_or(replayed) FROM results GROUP BY case_id ORDER BY case_id""").fetchall()
    finally:
        con.close()
    assert got == [("bottle", [True, True], [1, 1], True), ("poster", [True, True], [3, 3], True)]
