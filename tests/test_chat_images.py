"""Images in chat messages (issue 17 item 5): `image_url` parts, local files beside the suite sent as
data: URLs (confined like documents, size-capped, images only), sent to models whose `vision` is
true and skipped with the reason on the others."""

from __future__ import annotations

import base64
import io

import pytest

from evalseed.config import BUILTIN_MODELS, ModelInfo
from evalseed.kinds import get_kind
from evalseed.suites import images
from evalseed.suites.loader import check_suite_file, load_suite_file
from evalseed.testing.stub_server import Reply

from helpers import result_rows, write_suite

SUITE = """
name: colours
kind: classification
labels: [red, green]
params: {max_tokens: 4}
messages:
  - {role: system, content: "Answer with one colour."}
  - role: user
    content:
      - {type: text, text: "What colour is the square{{ suffix }}"}
      - {type: image_url, image_url: {url: "{{ photo }}", detail: low}}
cases:
  - {id: red-file, vars: {suffix: "?", photo: photos/red.png}, expected: red}
  - {id: green-link, vars: {suffix: "?", photo: "https://images.example/green.png"}, expected: green}
"""


def png(colour=(200, 10, 10)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "red.png").write_bytes(png())
    return tmp_path


def test_parts_render_with_local_files_as_data_urls(folder):
    suite = load_suite_file(write_suite(folder, "s.yaml", SUITE))
    kind = get_kind("classification")
    red, green = suite.cases
    p = kind.prepare(suite, red, BUILTIN_MODELS["seed-1-8-251228"])
    assert p.skip_reason is None
    user = p.request["messages"][1]
    want = "data:image/png;base64," + base64.b64encode(png()).decode()
    assert user == {"role": "user", "content": [
        {"type": "text", "text": "What colour is the square?"},
        {"type": "image_url", "image_url": {"url": want, "detail": "low"}}]}
    assert p.input_text == "What colour is the square? [image]"
    assert p.est_prompt_tokens >= images.IMAGE_TOKENS
    remote = kind.prepare(suite, green, BUILTIN_MODELS["seed-1-8-251228"]).request["messages"][1]["content"][1]
    assert remote["image_url"]["url"] == "https://images.example/green.png"


def test_a_model_without_vision_skips_with_the_reason(folder):
    suite = load_suite_file(write_suite(folder, "s.yaml", SUITE))
    p = get_kind("classification").prepare(suite, suite.cases[0], BUILTIN_MODELS["gemma-3-270m"])
    assert p.skip_reason.startswith("not sent: the messages hold 1 image(s) and gemma-3-270m takes no image input")
    assert "vision: true" in p.skip_reason


def test_text_only_suites_are_unchanged_on_text_only_models(folder):
    text = SUITE.split("  - role: user")[0] + '  - {role: user, content: "{{ photo }}"}\n' + SUITE.split("detail: low}}\n")[1]
    suite = load_suite_file(write_suite(folder, "t.yaml", text))
    p = get_kind("classification").prepare(suite, suite.cases[0], ModelInfo(name="plain"))
    assert p.skip_reason is None and p.request["messages"][1] == {"role": "user", "content": "photos/red.png"}


@pytest.mark.parametrize("photo, says", [
    ("../secret.png", "leads outside the suite's folder"),
    ("/etc/hostname", "absolute path"),
    ("photos/none.png", "no such file"),
    ("photos/notes.txt", "is not a PNG, JPEG, WebP or GIF image"),
    ("photos/huge.png", "an image in a message may be at most 10 MB"),
])
def test_bad_local_images_are_refused_at_load_time(folder, photo, says):
    (folder / "photos" / "notes.txt").write_text("not an image")
    (folder / "photos" / "huge.png").write_bytes(png()[:16] + b"\0" * (images.MAX_IMAGE_BYTES + 1))
    (folder / "secret.png").write_bytes(png())
    sub = folder / "sub"
    (sub / "photos").mkdir(parents=True)
    for f in ("red.png", "notes.txt", "huge.png"):
        (sub / "photos" / f).write_bytes((folder / "photos" / f).read_bytes())
    # From the case's vars (a template) ...
    (p,) = check_suite_file(write_suite(sub, "s.yaml", SUITE.replace("photos/red.png", photo)))
    assert p.path == "cases[0].vars" and "messages[1].content[1].image_url.url" in p.message and says in p.message
    # ... and written in the message itself.
    literal = SUITE.replace('"{{ photo }}"', f'"{photo}"')
    (p,) = check_suite_file(write_suite(sub, "l.yaml", literal))
    assert p.path == "messages[1].content[1].image_url.url" and says in p.message, str(p)


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "out.png").write_bytes(png())
    (tmp_path / "s" / "photos").mkdir(parents=True)
    (tmp_path / "s" / "photos" / "red.png").symlink_to(tmp_path / "out.png")
    (p,) = check_suite_file(write_suite(tmp_path / "s", "s.yaml", SUITE))
    assert "via a link" in p.message


def test_bad_parts_are_refused(folder):
    for bad, says in [("{type: video_url, video_url: x}", "does not match any of the expected tags"),
                      ("{type: image_url, image_url: {url: a.png, detail: max}}", "'auto', 'low' or 'high'"),
                      ("{type: text}", "field required")]:
        text = SUITE.replace('{type: image_url, image_url: {url: "{{ photo }}", detail: low}}', bad)
        problems = check_suite_file(write_suite(folder, "b.yaml", text))
        assert isinstance(problems, list) and any(says in p.message for p in problems), (bad, problems)


def test_run_against_the_stub(cli, stub, folder):
    """seed-1-8 (vision) gets the data URL in its request body; a model the table knows nothing
    about (no vision) stores skipped rows with the reason and is never sent them."""
    srv = stub(responder=lambda body: Reply(content="red"))
    path = write_suite(folder, "s.yaml", SUITE)
    db = folder / "r.duckdb"
    code, out, err = cli("run", path, "--base-url", srv.base_url, "--models", "seed-1-8-251228,text-only-model",
                         "--db", db, "--no-progress")
    assert code == 0, out + err
    bodies = srv.bodies()
    assert {b["model"] for b in bodies} == {"seed-1-8-251228"} and len(bodies) == 2
    sent = {b["messages"][1]["content"][1]["image_url"]["url"][:40] for b in bodies}
    assert sent == {"data:image/png;base64," + base64.b64encode(png()).decode()[:18], "https://images.example/green.png"}
    rows = {(r["case_id"], r["model"]): r for r in result_rows(db, parse_json=True)}
    ok = rows[("red-file", "seed-1-8-251228")]
    assert ok["status"] == "ok" and ok["passed"]
    assert ok["request"]["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    for case in ("red-file", "green-link"):
        skipped = rows[(case, "text-only-model")]
        assert skipped["status"] == "skipped" and "takes no image input" in skipped["error"]


def test_images_from_a_data_file(folder):
    """Items 4 and 5 together: a CSV names each case's photo; every one is checked at load time."""
    (folder / "rows.csv").write_text("id,photo,expected\na,photos/red.png,red\nb,../x.png,red\n")
    text = SUITE.split("cases:")[0].replace("{{ suffix }}", "?") + "cases_from: rows.csv\n"
    (p,) = check_suite_file(write_suite(folder, "d.yaml", text))
    assert str(p).startswith(f"{folder / 'rows.csv'} row 2 vars: messages[1].content[1].image_url.url: '../x.png'")
