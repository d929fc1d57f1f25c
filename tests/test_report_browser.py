"""The report in a real browser: Debian's chromium, headless, no network.

What is checked in the rendered DOM (chromium's --dump-dom after the page's scripts ran): the
page's own scripts finished (`data-ready`), nothing recorded an error (`data-js-errors`: script
errors, failed image loads, CSP violations, console.error), chromium logged no console message
at all, the tables and charts are there, the drill-down filled itself, and none of the hostile
strings in the data ran (they would set `data-pwned`). A probe script injected into a copy of the
page drives the filters and a sortable column. Screenshots (laptop width, full page) and the
printed PDF (plus PNGs of its first pages when poppler's pdftoppm is installed) are saved for a
person to look at: `$EVALSEED_ARTIFACTS/screenshots` or `reports/screenshots/`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evalseed import store
from evalseed.kinds import KINDS, get_kind
from evalseed.report import render
from evalseed.report.synthetic import SCRIPT_ANSWER, build_run

from conftest import ROOT
from test_report import fake_router_data

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--disable-default-apps", "--hide-scrollbars", "--mute-audio"]


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install -y chromium)")
    return CHROMIUM


def artifacts_dir() -> Path:
    base = os.environ.get("EVALSEED_ARTIFACTS")
    d = (Path(base) if base else ROOT / "reports") / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


def browse(chromium: str, tmp: Path, url: str, *extra: str, timeout: float = 120) -> tuple[str, list[str]]:
    """Run chromium once on `url`; returns (stdout, console lines chromium logged)."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    proc = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, url],
        capture_output=True, text=True, timeout=timeout,
    )
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    return proc.stdout, console


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.html_attrs: dict = {}
        self.title = ""
        self.count: dict[str, int] = {}
        self._stack: list[tuple[str, dict]] = []
        self.pre_out: list[str] = []
        self._in: str | None = None
        self.probe = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.html_attrs = a
        for cls in (a.get("class") or "").split():
            self.count[f"{tag}.{cls}"] = self.count.get(f"{tag}.{cls}", 0) + 1
        self.count[tag] = self.count.get(tag, 0) + 1
        if tag == "title":
            self._in = "title"
        elif tag == "pre" and "out" in (a.get("class") or "").split():
            self._in = "out"
            self.pre_out.append("")
        elif tag == "pre" and a.get("id") == "probe":
            self._in = "probe"

    def handle_endtag(self, tag):
        if tag in ("title", "pre"):
            self._in = None

    def handle_data(self, d):
        if self._in == "title":
            self.title += d
        elif self._in == "out":
            self.pre_out[-1] += d
        elif self._in == "probe":
            self.probe += d


def parse_dom(text: str) -> Dom:
    d = Dom()
    d.feed(text)
    return d


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report of every kind, hostile strings included, with real image files beside it."""
    tmp = tmp_path_factory.mktemp("browser")
    db = tmp / "b.duckdb"
    con = store.open_db(db)
    build_run(con, "browser-run", cases_per_suite=30, image_dir=str(tmp / "out" / "runs" / "images"))
    build_run(con, "browser-cand", cases_per_suite=30, models=["seed-1-6-flash-260101"], seed=3,
              skill_shift=-0.1, image_dir=str(tmp / "out" / "runs" / "images-b"))
    con.close()
    router_file = tmp / "router.json"
    router_file.write_text("{}")
    con = store.open_db(db, read_only=True)
    try:
        with pytest.MonkeyPatch.context() as mp:
            import evalseed.router as router_pkg

            mp.setattr(router_pkg, "report_data",
                       lambda con, run_ids, router_path=None: fake_router_data(["seed-1-6-250915", "seed-1-8-251228"]))
            single = render.render_report(con, ["browser-run"], tmp / "out", router_path=str(router_file))
        pair = render.render_report(con, ["browser-run", "browser-cand"], tmp / "out")
    finally:
        con.close()
    return {"tmp": tmp, "single": single, "pair": pair}


def assert_clean(dom: Dom, console: list[str]) -> None:
    assert dom.html_attrs.get("data-ready") == "1", "the report's script did not finish"
    assert "data-js-errors" not in dom.html_attrs, dom.html_attrs.get("data-js-errors")
    assert "data-pwned" not in dom.html_attrs, "a hostile string ran as code"
    assert not console, console


@pytest.mark.parametrize("which", ["single", "pair"])
def test_report_renders_cleanly_in_chromium(chromium, report, which):
    path = report[which]
    out, console = browse(chromium, report["tmp"], path.as_uri(), "--virtual-time-budget=3000", "--dump-dom")
    dom = parse_dom(out)
    assert_clean(dom, console)
    assert dom.title.startswith("evalseed · ") and "PWNED" not in dom.title
    suites = sum(1 for k in KINDS if get_kind(k).synthetic_suite(30))  # one synthetic suite per kind
    # A quality/cost chart per table with two or more models: the single run's image suite has one.
    assert dom.count.get("table.board", 0) == 1 + suites and dom.count.get("svg.qc", 0) == suites + (which == "pair")
    assert dom.count.get("svg.lat") == 1 and dom.count.get("svg.heat", 0) >= 1
    assert dom.count.get("table.confusion", 0) >= 1 and dom.count.get("table.failures", 0) == 1
    assert dom.count.get("div.case") == 25  # first page of the drill-down, built by our script
    assert dom.count.get("img", 0) >= 1  # gallery thumbnails loaded (a failed load is a recorded error)
    assert (dom.count.get("table.compare", 0) == 1) == (which == "pair")
    assert (dom.count.get("p.verdict", 0) == 1) == (which == "pair")  # the comparison's verdict on top
    assert (dom.count.get("svg.router", 0) == 1) == (which == "single")
    # Hostile text is shown as text: the serialised DOM escapes it back.
    assert "&lt;img src=x onerror=" in out


def test_a_moved_report_keeps_its_pictures_in_chromium(chromium, report):
    """The gallery's thumbnails live in the page: copied away from its run folder, every image
    still loads (a failed load or a CSP block would be a recorded error)."""
    moved = report["tmp"] / "moved"
    moved.mkdir(exist_ok=True)
    page = moved / report["single"].name
    page.write_bytes(report["single"].read_bytes())
    out, console = browse(chromium, report["tmp"], page.as_uri(), "--virtual-time-budget=3000", "--dump-dom")
    dom = parse_dom(out)
    assert_clean(dom, console)
    assert dom.count.get("img", 0) >= 1 and 'src="data:image/' in out


def test_filters_sorting_and_hostile_answers_in_chromium(chromium, report):
    """Drive the page with a probe script (added to a copy, and to its CSP by hash)."""
    html = report["single"].read_text(encoding="utf-8")
    probe = """
(function () {
  var res = {};
  function cases() { return document.querySelectorAll("#drill-list .case"); }
  function set(id, v, ev) { var e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event(ev)); }
  res.initial = cases().length;
  set("f-suite", "sentiment", "change");
  res.sentiment = Array.prototype.every.call(cases(), function (c) { return c.getAttribute("data-case").indexOf("sentiment/") === 0; });
  set("f-text", "sent-00000", "input");
  setTimeout(function () {
    var cs = cases();
    res.search = cs.length;
    res.answers = Array.prototype.map.call(cs[0].querySelectorAll("pre.out"), function (p) { return p.textContent; });
    res.injected_elements = cs[0].querySelectorAll("script, img").length;
    set("f-text", "", "input");
    set("f-suite", "", "change");
    set("f-outcome", "passed", "change");
    setTimeout(function () {
      res.passed_badges_only = Array.prototype.every.call(document.querySelectorAll("#drill-list .badge"), function (b) { return b.classList.contains("pass"); });
      res.passed_count = document.getElementById("drill-count").textContent;
      var table = document.querySelector("table.board");
      var th = Array.prototype.find.call(table.tHead.rows[0].cells, function (h) { return h.textContent.indexOf("latency p50") === 0; });
      th.click();  // latency sorts ascending first
      res.sorted = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return parseFloat(r.cells[th.cellIndex].getAttribute("data-v")); });
      res.aria = th.getAttribute("aria-sort");
      var pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(res);
      document.body.appendChild(pre);
    }, 400);
  }, 400);
})();
"""
    digest = base64.b64encode(hashlib.sha256(probe.encode()).digest()).decode()
    html = html.replace("script-src ", f"script-src 'sha256-{digest}' ", 1).replace(
        "</body>", f"<script>{probe}</script></body>")
    copy = report["single"].with_name("probe.html")
    copy.write_text(html, encoding="utf-8")
    out, console = browse(chromium, report["tmp"], copy.as_uri(), "--virtual-time-budget=5000", "--dump-dom")
    dom = parse_dom(out)
    assert_clean(dom, console)
    res = json.loads(dom.probe)
    assert res["initial"] == 25 and res["sentiment"] is True
    assert res["search"] == 1
    assert SCRIPT_ANSWER in res["answers"]  # shown as the literal text the model sent
    assert res["injected_elements"] == 0
    assert res["passed_badges_only"] is True and re.match(r"\d+ of \d+ cases", res["passed_count"])
    vals = [v for v in res["sorted"] if v == v]  # NaN (no value) sorts last
    assert vals == sorted(vals) and res["aria"] == "ascending"


def test_screenshots_at_laptop_width_and_in_print(chromium, report):
    shots = artifacts_dir()
    tmp = report["tmp"]
    laptop = shots / "report-1366x900.png"
    full = shots / "report-1366-full.png"
    for target, size in ((laptop, "1366,900"), (full, "1366,7000")):
        target.unlink(missing_ok=True)
        _, console = browse(chromium, tmp, report["single"].as_uri(), f"--window-size={size}",
                            "--virtual-time-budget=3000", f"--screenshot={target}")
        assert not console, console
        assert target.exists() and target.stat().st_size > 20_000
    # Print: the real print path (PDF), and a picture of the print styles at A4 width.
    pdf = shots / "report.pdf"
    pdf.unlink(missing_ok=True)
    browse(chromium, tmp, report["single"].as_uri(), "--virtual-time-budget=3000", "--no-pdf-header-footer",
           f"--print-to-pdf={pdf}")
    assert pdf.exists() and pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout if shutil.which("pdfinfo") else ""
    if pages:
        assert int(re.search(r"Pages:\s+(\d+)", pages).group(1)) >= 3
    if shutil.which("pdftoppm"):  # poppler-utils, optional: a picture of the first printed pages
        subprocess.run(["pdftoppm", "-r", "70", "-png", "-f", "1", "-l", "3", str(pdf), str(shots / "report-print")],
                       check=True, timeout=60)
    print(f"screenshots in {shots}")
