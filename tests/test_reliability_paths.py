"""Untrusted content: a suite is input we did not write. Its file references cannot leave its
folder, its names cannot make evalseed write outside the run's folder, its templates render in a
sandbox and its variables are never templates; model output cannot inject markup into reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evalseed.testing.stub_server import Reply, StubServer

from test_reliability_faults import FLASH, evalseed, result_rows

SECRET_LINE = "evalseed-outside-secret-7f3a"


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside the suite folder that a hostile suite would like to read."""
    p = tmp_path / "outside" / "private.txt"
    p.parent.mkdir()
    p.write_text(f"{SECRET_LINE}\n", encoding="utf-8")
    return p


def _lc_suite(folder: Path, document: str, where: str = "case") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "docs").mkdir(exist_ok=True)
    (folder / "docs" / "ok.md").write_text("The harbour pass is QX-7731.\n", encoding="utf-8")
    doc = json.dumps(document)
    suite_doc = f"document: {doc}\n" if where == "suite" else ""
    case_doc = f"    document: {doc}\n" if where == "case" else ""
    text = (
        "name: lc\nkind: long_context\nparams: {max_tokens: 16}\n" + suite_doc +
        "cases:\n  - id: q1\n    question: What is the pass number?\n    expected: QX-7731\n" + case_doc
    )
    p = folder / "lc.yaml"
    p.write_text(text, encoding="utf-8")
    return p


ESCAPES = [
    "../outside/private.txt",
    "../../etc/passwd",
    "docs/../../outside/private.txt",
    "..\\outside\\private.txt",
    "/etc/passwd",
    "{abs}",
    "docs/link-out.md",  # a symlink inside the folder pointing outside it
    "docs/../..",
    "docs/ok.md\x00.png",
]


@pytest.mark.parametrize("where", ["case", "suite"])
@pytest.mark.parametrize("ref", ESCAPES)
def test_document_paths_cannot_leave_the_suite_folder(ref, where, tmp_path, outside):
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "docs").mkdir()
    os.symlink(outside, folder / "docs" / "link-out.md")
    ref = ref.replace("{abs}", str(outside))
    suite = _lc_suite(folder, ref, where)
    proc = evalseed("validate", suite)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    msg = proc.stderr.strip()
    assert str(suite) in msg and "document" in msg and "Traceback" not in msg
    with StubServer(answers={"pass": "QX-7731"}) as srv:
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", tmp_path / "p.duckdb",
                        "--no-progress")
        assert proc.returncode == 2 and srv.count() == 0
    assert not (tmp_path / "p.duckdb").exists() or all(
        SECRET_LINE not in json.dumps(r, default=str) for r in result_rows(tmp_path / "p.duckdb"))


def test_a_document_inside_the_folder_is_read(tmp_path):
    suite = _lc_suite(tmp_path / "suites", "docs/ok.md")
    with StubServer(answers={"pass number": "QX-7731"}) as srv:
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", tmp_path / "p.duckdb",
                        "--no-progress")
        assert proc.returncode == 0, proc.stderr
        assert "The harbour pass is QX-7731." in json.dumps(srv.bodies()[0])
    assert result_rows(tmp_path / "p.duckdb")[0]["passed"] is True


@pytest.mark.parametrize("ref", ["../outside/private.txt", "/etc/passwd"])
def test_haystack_paths_cannot_leave_the_suite_folder(ref, tmp_path, outside):
    folder = tmp_path / "suites"
    folder.mkdir()
    text = (
        "name: grid\nkind: long_context\nparams: {max_tokens: 16}\n"
        'needle: "The pass is QX-7731."\nquestion: "What is the pass?"\nexpected: QX-7731\n'
        f"haystack: {json.dumps(ref)}\ngrid: {{tokens: [500], depths: [0.5]}}\n"
    )
    (folder / "grid.yaml").write_text(text, encoding="utf-8")
    proc = evalseed("validate", folder / "grid.yaml")
    assert proc.returncode == 2 and "haystack" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("case_id", ["../../../escaped", "..", "../../../../../../escaped2", "/tmp/abs-escape"])
def test_image_files_stay_inside_the_run_folder(case_id, tmp_path):
    # The case id and the model name end up in file names; neither may steer where files go.
    folder = tmp_path / "work" / "suites"
    folder.mkdir(parents=True)
    text = (
        "name: pics\nkind: image\nparams: {size: 2560x1440, n: 1, response_format: b64_json}\n"
        "expect: {count: 1}\n"
        f"cases:\n  - id: {json.dumps(case_id)}\n    prompt: a red fox\n"
    )
    (folder / "pics.yaml").write_text(text, encoding="utf-8")
    out = tmp_path / "work" / "runs"
    before = {p for p in tmp_path.rglob("*")}
    with StubServer() as srv:
        proc = evalseed("run", folder / "pics.yaml", "--base-url", srv.base_url, "--models", "seedream-4-5-251128",
                        "--db", tmp_path / "work" / "i.duckdb", "--out-dir", out, "--no-progress")
        assert proc.returncode == 0, proc.stderr
    new_files = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    images = [p for p in new_files if p.suffix in (".jpeg", ".jpg", ".png")]
    assert images, "the run saved no image"
    run_dirs = [d for d in out.iterdir() if d.is_dir()] if out.exists() else []
    assert len(run_dirs) == 1, run_dirs
    for p in images:
        # Images are saved under the run's output folder.
        assert run_dirs[0].resolve() in p.resolve().parents, f"{p} was written outside {run_dirs[0]}"
    assert not Path("/tmp/abs-escape-seedream-4-5-251128-0-0.jpeg").exists()
    row = result_rows(tmp_path / "work" / "i.duckdb")[0]
    assert row["status"] == "ok" and row["case_id"] == case_id


def test_case_variables_are_data_not_templates(tmp_path):
    folder = tmp_path / "suites"
    folder.mkdir()
    text = (
        "name: tpl\nkind: classification\nlabels: [positive, negative]\nparams: {max_tokens: 4}\n"
        'messages:\n  - {role: user, content: "{{ text }}"}\n'
        "cases:\n"
        '  - {id: a, vars: {text: "{{ 7 * 7 }} {{ cycler.__init__.__globals__ }}"}, expected: positive}\n'
    )
    (folder / "tpl.yaml").write_text(text, encoding="utf-8")
    with StubServer(answers={"": "positive"}) as srv:
        proc = evalseed("run", folder / "tpl.yaml", "--base-url", srv.base_url, "--models", FLASH,
                        "--db", tmp_path / "t.duckdb", "--no-progress")
        assert proc.returncode == 0, proc.stderr
        sent = srv.bodies()[0]["messages"][-1]["content"]
    assert sent == "{{ 7 * 7 }} {{ cycler.__init__.__globals__ }}"


def test_templates_cannot_reach_python_internals(tmp_path):
    folder = tmp_path / "suites"
    folder.mkdir()
    text = (
        "name: tpl\nkind: classification\nlabels: [positive, negative]\n"
        "messages:\n  - {role: user, content: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"}\n"
        "cases:\n  - {id: a, expected: positive}\n"
    )
    (folder / "tpl.yaml").write_text(text, encoding="utf-8")
    proc = evalseed("validate", folder / "tpl.yaml")
    assert proc.returncode == 2 and "unsafe" in proc.stderr and "Traceback" not in proc.stderr


XSS = '<script>alert("evalseed-xss")</script><img src=x onerror=alert(1)>'


def test_model_output_is_escaped_in_the_report(tmp_path):
    # The browser check lives with the reports; this one reads the HTML as text.
    folder = tmp_path / "suites"
    folder.mkdir()
    text = (
        "name: xss\nkind: classification\nlabels: [positive, negative]\nparams: {max_tokens: 4}\n"
        'messages:\n  - {role: user, content: "{{ text }}"}\n'
        f"cases:\n  - {{id: {json.dumps(XSS)}, vars: {{text: {json.dumps(XSS)}}}, expected: positive}}\n"
    )
    (folder / "xss.yaml").write_text(text, encoding="utf-8")
    db = tmp_path / "x.duckdb"
    with StubServer(responder=lambda body: Reply(content=XSS, reasoning_content=XSS)) as srv:
        proc = evalseed("run", folder / "xss.yaml", "--base-url", srv.base_url, "--models", FLASH, "--db", db,
                        "--no-progress")
        assert proc.returncode == 0, proc.stderr
    proc = evalseed("report", "--db", db, "-o", tmp_path / "reports")
    assert proc.returncode == 0, proc.stderr
    pages = list((tmp_path / "reports").rglob("*.html"))
    assert pages
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert '<script>alert("evalseed-xss")' not in html, page
        assert "<img src=x onerror" not in html, page
