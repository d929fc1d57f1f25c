"""`evalseed report`: aggregation against independent computations, escaping, caps, the folder
index, the CLI's exit codes, and a report rendered from a real run against the stub server."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalseed import stats, store
from evalseed.kinds import KINDS, get_kind
from evalseed.report import charts, data, render
from evalseed.report.synthetic import HOSTILE, SCRIPT_ANSWER, build_run

from conftest import ROOT


class Page(HTMLParser):
    """Collects what the escaping tests need: every start tag with its attributes, script bodies."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._in_script: dict | None = None
        self._buf: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "script":
            self._in_script, self._buf = a, []

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append((self._in_script, "".join(self._buf)))
            self._in_script = None

    def handle_data(self, d):
        if self._in_script is not None:
            self._buf.append(d)
        else:
            self.text.append(d)


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


def make_synth_db(tmp_path) -> Path:
    """A synthetic run of every kind, its images under tmp_path/out/runs/images."""
    db = tmp_path / "r.duckdb"
    con = store.open_db(db)
    build_run(con, "run-a", cases_per_suite=24, image_dir=str(tmp_path / "out" / "runs" / "images"))
    con.close()
    return db


@pytest.fixture
def synth_db(tmp_path):
    return make_synth_db(tmp_path)


def render_one(db, run_ids, out, **kw) -> tuple[Path, str]:
    con = store.open_db(db, read_only=True)
    try:
        path = render.render_report(con, run_ids, out, **kw)
    finally:
        con.close()
    return path, path.read_text(encoding="utf-8")


# ---- aggregation against an independent computation ---------------------------------------------


def test_leaderboard_matches_a_direct_computation(synth_db):
    con = store.open_db(synth_db, read_only=True)
    data.prepare_view(con, ["run-a"])
    boards = {b["suite"]: b for b in data.leaderboards(con)}
    rows = store.fetch_rows(con, "run_id = 'run-a'")
    import numpy as np

    for suite in {r["suite"] for r in rows}:
        for model in {r["model"] for r in rows if r["suite"] == suite}:
            mine = [r for r in rows if r["suite"] == suite and r["model"] == model]
            scored = [r for r in mine if r["status"] != "skipped"]
            k = sum(1 for r in scored if r["status"] == "ok" and r["passed"])
            got = next(e for e in boards[suite]["rows"] if e["entrant"] == model)
            w = stats.wilson_interval(k, len(scored))
            assert got["n"] == len(scored) and got["ok"] == sum(1 for r in mine if r["status"] == "ok")
            assert got["acc"] == pytest.approx(w.estimate) and got["acc_low"] == pytest.approx(w.low)
            assert got["errors"] == sum(1 for r in mine if r["status"] == "error")
            assert got["skipped"] == sum(1 for r in mine if r["status"] == "skipped")
            lat = [r["latency_ms"] for r in mine if r["status"] == "ok"]
            assert got["lat_p50"] == pytest.approx(float(np.quantile(lat, 0.5)))
            assert got["lat_p95"] == pytest.approx(float(np.quantile(lat, 0.95)))
            costs = [r["cost_usd"] for r in scored if r["cost_usd"] is not None]
            assert got["cost_case"] == pytest.approx(sum(costs) / len(scored))
            mean = sum((r["score"] or 0.0) for r in scored) / len(scored)
            assert got["score"] == pytest.approx(mean)
            assert got["score_low"] <= mean <= got["score_high"]
    con.close()


def test_per_kind_sections_use_the_kinds_detail_keys(synth_db):
    con = store.open_db(synth_db, read_only=True)
    data.prepare_view(con, ["run-a"])
    kinds = data.kind_sections(con, None)
    rows = store.fetch_rows(con, "run_id = 'run-a' AND status <> 'skipped'")
    # Confusion matrix cells sum to the asked classification rows of each model: an error row is
    # an answer in the (error) column, as macro-F1 counts it.
    for m in kinds["classification"][0]["matrices"]:
        want = [r for r in rows if r["kind"] == "classification" and r["model"] == m["entrant"]]
        assert sum(map(sum, m["matrix"])) == len(want)
        assert m["unparsed"] == sum(1 for r in want if r["status"] == "ok" and r["details"]["unparsed"])
        errors = sum(1 for r in want if r["status"] == "error")
        if errors:
            assert sum(row[m["cols"].index("(error)")] for row in m["matrix"]) == errors
    assert any(m["errors"] for m in kinds["classification"][0]["matrices"])  # the check above ran
    # Field table: a field is right unless listed in mismatches/missing; an error row gets it wrong.
    js = kinds["json_extraction"][0]
    vendor = next(f for f in js["fields"] if f["field"] == "vendor")
    for model, cell in vendor["by"].items():
        want = [r for r in rows if r["kind"] == "json_extraction" and r["model"] == model]
        wrong = sum(1 for r in want if r["status"] == "error" or not r["details"]["parsed"]
                    or "vendor" in r["details"]["missing"]
                    or any(m["path"] == "vendor" for m in r["details"]["mismatches"]))
        assert cell["n"] == len(want)
        assert cell["acc"] == pytest.approx(1 - wrong / len(want))
    assert any(f["field"] == "lines[].sku" for f in js["fields"])
    # Failure reasons come from details.reason; request errors are their own line.
    tc = kinds["tool_calling"][0]
    reasons = {r["reason"] for r in tc["reasons"]}
    errors = {}
    for r in store.fetch_rows(con, "run_id = 'run-a' AND status = 'error' AND kind = 'tool_calling'",
                              columns=["model"]):
        errors[r["model"]] = errors.get(r["model"], 0) + 1
    assert errors  # the synthetic run has request errors, so the check below is not vacuous
    assert next(r["counts"] for r in tc["reasons"] if r["reason"] == "request error") == errors
    assert reasons & {"no_call", "wrong_function", "wrong_arguments", "extra_call", "invalid_json_arguments"}
    # Heat map: every cell's counts add up to the grid rows.
    lc = kinds["long_context"][0]
    total = sum(c["n"] + c["skipped"] for m in lc["maps"] for row in m["grid"] for c in row if c)
    assert total == con.execute("SELECT count(*) FROM results WHERE kind = 'long_context'").fetchone()[0]
    # Gallery: a downscaled thumbnail in the page, the full file referenced.
    img = kinds["image"][0]["items"][0]["images_list"][0]
    assert img["exists"] and not img["href"].startswith("data:") and img["thumb"].startswith("data:image/jpeg;base64,")
    con.close()


def test_recommendation_is_the_cheapest_inside_the_best_interval():
    def e(name, acc, low, cost):
        return {"entrant": name, "acc": acc, "acc_low": low, "acc_high": min(1, acc + 0.05), "n": 100,
                "cost_case": cost, "unranked": False}

    boards = [{"suite": "s", "rows": [e("big", 0.90, 0.85, 1.0), e("mid", 0.86, 0.80, 0.1), e("tiny", 0.70, 0.6, 0.01)]}]
    rec = data.recommendations(boards)[0]
    assert rec["pick"]["entrant"] == "mid" and rec["best"]["entrant"] == "big"
    assert rec["saving"] == pytest.approx(0.9)
    boards[0]["rows"][1]["acc"] = 0.84  # now outside [0.85, ...]: the best is the pick
    assert data.recommendations(boards)[0]["pick"]["entrant"] == "big"


# ---- charts -------------------------------------------------------------------------------------


points = st.lists(
    st.fixed_dictionaries({"entrant": st.text(min_size=1, max_size=8),
                           "acc": st.floats(0, 1), "cost": st.floats(1e-6, 1e3)}),
    min_size=1, max_size=12)


@given(points)
@settings(max_examples=200, deadline=None)
def test_pareto_frontier_is_exactly_the_non_dominated_points(pts):
    front = charts.pareto_frontier(pts)
    ids = {id(p) for p in front}
    for p in front:  # nothing strictly better on both axes (or equal cost and more accurate)
        assert not any(q["cost"] <= p["cost"] and q["acc"] > p["acc"] for q in pts)
    for p in pts:
        if id(p) not in ids:  # everything off the frontier is weakly dominated by a frontier point
            assert any(q["cost"] <= p["cost"] and q["acc"] >= p["acc"] for q in front)
    assert [p["cost"] for p in front] == sorted(p["cost"] for p in front)


def test_charts_escape_names_and_handle_free_models():
    pal = charts.colors(["<b>x</b>", "free"])
    svg = charts.quality_cost([{"entrant": "<b>x</b>", "acc": 0.8, "low": 0.7, "high": 0.9, "cost": 0.5},
                               {"entrant": "free", "acc": 0.6, "low": 0.5, "high": 0.7, "cost": 0.0}], pal)
    assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert "$0 / n.a." in svg and svg.count("<circle") == 2
    assert "polyline" in svg  # free-but-worse and paid-but-better are both on the frontier
    lat = charts.latency({"lo": 10, "hi": 2000, "bins": 4, "entrants": [
        {"entrant": "<i>m</i>", "n": 3, "qs": [20, 50, 100, 500, 1500], "hist": [1, 0, 1, 1]}]}, pal)
    assert "<i>" not in lat and lat.count('class="bar"') == 3


# ---- escaping and the page as a whole ------------------------------------------------------------


def test_hostile_text_is_escaped_everywhere_and_scripts_are_only_ours(synth_db, tmp_path):
    path, html = render_one(synth_db, ["run-a"], tmp_path / "out")
    page = parse(html)
    # Exactly our four script elements: the error recorder, the two JSON data blocks, the app.
    assert [a.get("type") for a, _ in page.scripts] == [None, "application/json", "application/json", None]
    assert not [a for t, a in page.tags if t == "img" and a.get("src") == "x"]
    assert not any(any(k.startswith("on") for k in a) for _, a in page.tags)
    # The hostile strings are in the page as text (so a reader sees them) ...
    text = "".join(page.text)
    assert HOSTILE in text
    # ... and in the drill-down data, which parses back to the exact strings.
    blob = next(body for a, body in page.scripts if a.get("id") == "cases-data")
    figures = next(body for a, body in page.scripts if a.get("id") == "metrics-data")
    assert "<" not in blob + figures and "&" not in blob + figures
    assert {m["model"] for m in json.loads(figures)} >= {"seed-1-8-251228", "seedream-4-5-251128"}
    cases = json.loads(blob)
    answers = [a["a"] for c in cases for runs in c["m"].values() for a in runs]
    assert SCRIPT_ANSWER in answers
    assert any(HOSTILE in c["p"] for c in cases)
    # The CSP names our two executable scripts by hash and nothing else.
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    for a, body in page.scripts:
        if a.get("type") is None:
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    # Self-contained: nothing fetched from a network.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


@given(st.recursive(st.text() | st.integers() | st.booleans() | st.none(),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                    max_leaves=20))
@settings(max_examples=300, deadline=None)
def test_safe_json_round_trips_and_cannot_close_the_script(value):
    s = render.safe_json(value)
    assert json.loads(s) == value
    assert "<" not in s and ">" not in s and "&" not in s
    assert "\u2028" not in s and "\u2029" not in s


def test_page_has_every_section_and_filled_tables(synth_db, tmp_path):
    path, html = render_one(synth_db, ["run-a"], tmp_path / "out")
    kinds = [k for k in KINDS if get_kind(k).synthetic_suite(24)]  # every kind makes synthetic rows
    for anchor in ("summary", "leaderboard", "charts", *(f"kind-{k}" for k in kinds), "cases", "run"):
        assert f'id="{anchor}"' in html, anchor
    assert 'id="comparison"' not in html and 'id="router"' not in html and 'id="variants"' not in html
    # Overall + one suite per kind, but not the image suite: one model is one point, no trade-off.
    assert html.count('<svg class="chart qc"') == len(kinds)
    assert html.count('<svg class="chart heat"') == 3
    assert html.count('class="sortable board"') == 1 + len(kinds)
    assert "seed-1-6-flash-250715" in html and "a1b2c3d4e5f6" in html  # models and suite hashes
    # Images are embedded thumbnails (the page can move), linked to the full file beside it.
    assert 'href="runs/images/post-00000-0-0.jpg"' in html and 'src="runs/images' not in html
    assert 'src="data:image/jpeg;base64,' in html
    meta = render.read_meta(path)
    assert meta["runs"] == ["run-a"] and meta["cases"] > 0


def test_kinds_without_rows_leave_no_section_and_missing_details_do_not_break(tmp_path):
    db = tmp_path / "c.duckdb"
    con = store.open_db(db)
    store.insert_run(con, "only-cls", label=None, git_sha=None, version="0", config={})
    w = store.ResultWriter(con, "only-cls")
    for i in range(5):
        w.add({"run_id": "only-cls", "suite": "s", "case_id": f"c{i}", "kind": "classification", "model": "m",
               "provider": "p", "repeat": 0, "status": "ok", "passed": i % 2 == 0, "score": float(i % 2 == 0),
               "details": {"expected": "x"}, "output_text": "x", "latency_ms": None, "cost_usd": None})
    w.flush()
    con.close()
    _, html = render_one(db, ["only-cls"], tmp_path / "out")
    assert 'id="kind-classification"' in html
    for k in KINDS:
        if k != "classification":
            assert f'id="kind-{k}"' not in html
    assert "No price table was stored" in html and "No successful requests with a latency" in html


def test_big_runs_are_capped_with_a_note_and_failures_first(tmp_path):
    db = tmp_path / "big.duckdb"
    con = store.open_db(db)
    build_run(con, "big", cases_per_suite=60)
    con.close()
    con = store.open_db(db, read_only=True)
    data.prepare_view(con, ["big"])
    d = data.drilldown(con, data.ReportOptions(case_cap=30))
    assert d["shown"] == 30 and d["total"] > 30 and "Showing 30 of" in d["note"]
    failing = con.execute("""SELECT count(*) FROM (SELECT suite, case_id FROM r GROUP BY ALL
                             HAVING bool_or(status <> 'ok' OR NOT passed))""").fetchone()[0]
    assert failing >= 30 and all(c["f"] for c in d["cases"])
    d = data.drilldown(con, data.ReportOptions(case_bytes_budget=2_000))
    assert d["shown"] < d["total"] and "byte budget" in d["note"]
    con.close()


def test_same_model_in_two_runs_is_two_entrants_and_a_comparison(tmp_path):
    db = tmp_path / "two.duckdb"
    con = store.open_db(db)
    build_run(con, "base-1", cases_per_suite=20, models=["seed-1-6-250915"])
    build_run(con, "cand-1", cases_per_suite=20, models=["seed-1-6-260301"], skill_shift=-0.2, seed=3)
    build_run(con, "again-1", cases_per_suite=20, models=["seed-1-6-250915"], seed=5)
    con.close()
    path, html = render_one(db, ["base-1", "cand-1"], tmp_path / "out")
    assert path.name == "base-1-vs-cand-1.html"
    assert 'id="comparison"' in html and "Verdict:" in html and "seed-1-6-260301" in html
    _, html = render_one(db, ["base-1", "again-1"], tmp_path / "out")
    assert "seed-1-6-250915 @base-1" in html and "seed-1-6-250915 @again-1" in html


def test_money_formatting_never_uses_exponents_for_real_prices():
    assert render._money(0.0000416) == "$0.000042"
    assert render._money(0.04) == "$0.040" and render._money(12.5) == "$12.50" and render._money(None) == "–"


# ---- the command --------------------------------------------------------------------------------


def test_cli_latest_run_index_and_exit_codes(cli, synth_db, tmp_path):
    out = tmp_path / "reports"
    code, stdout, stderr = cli("report", "--db", synth_db, "-o", out)
    assert code == 0, stderr
    assert stdout.strip() == str(out / "run-a.html") and (out / "run-a.html").exists()
    index = (out / "index.html").read_text()
    assert 'href="run-a.html"' in index and "synthetic report data" in index
    assert "<img src=x" not in index  # the run label carries the hostile string too
    code, _, stderr = cli("report", "nope", "--db", synth_db, "-o", out)
    assert code == 2 and "no run 'nope'" in stderr and "Traceback" not in stderr
    code, _, stderr = cli("report", "--db", tmp_path / "missing.duckdb", "-o", out)
    assert code == 2 and "no such database" in stderr
    code, _, stderr = cli("report", "--db", synth_db, "-o", out, "--router", tmp_path / "none.json")
    assert code == 2 and "no such router file" in stderr
    code, _, stderr = cli("report", "run-a", "run-a", "--db", synth_db, "-o", out)
    assert code == 2 and "twice" in stderr
    (tmp_path / "a-file").write_text("x")
    code, _, stderr = cli("report", "--db", synth_db, "-o", tmp_path / "a-file" / "sub")
    assert code == 2 and "cannot write the report" in stderr and "Traceback" not in stderr
    # A second report shows up in the same index; foreign HTML files are ignored.
    (out / "notes.html").write_text("<p>not a report</p>")
    con = store.open_db(synth_db)
    build_run(con, "run-b", cases_per_suite=5, seed=11, started_at=datetime(2026, 11, 27, 8, 0))
    con.close()
    code, stdout, _ = cli("report", "--db", synth_db, "-o", out)
    assert code == 0 and stdout.strip().endswith("run-b.html")
    index = (out / "index.html").read_text()
    assert 'href="run-a.html"' in index and 'href="run-b.html"' in index and "notes.html" not in index


def test_a_foreign_index_or_report_name_in_the_folder_is_never_replaced(cli, synth_db, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><title>my project's site</title></html>")
    code, _, stderr = cli("report", "--db", synth_db, "-o", site)
    assert code == 2 and "index.html exists and was not written by evalseed" in stderr
    assert (site / "index.html").read_text() == "<html><title>my project's site</title></html>"
    assert not (site / "run-a.html").exists()  # refused before anything is written
    (site / "index.html").unlink()
    (site / "run-a.html").write_text("<p>someone's page that happens to share the name</p>")
    code, _, stderr = cli("report", "--db", synth_db, "-o", site)
    assert code == 2 and "run-a.html exists and was not written by evalseed" in stderr
    # evalseed's own files are replaced as before (a report rendered again, the index refreshed).
    (site / "run-a.html").unlink()
    for _ in range(2):
        code, _, stderr = cli("report", "--db", synth_db, "-o", site)
        assert code == 0, stderr


def test_empty_database_or_run_is_a_usage_error(cli, tmp_path):
    db = tmp_path / "empty.duckdb"
    store.open_db(db).close()
    code, _, stderr = cli("report", "--db", db, "-o", tmp_path / "o")
    assert code == 2 and "no runs" in stderr
    con = store.open_db(db)
    store.insert_run(con, "just-started", label=None, git_sha=None, version="0", config={})
    con.close()
    code, _, stderr = cli("report", "--db", db, "-o", tmp_path / "o")
    assert code == 2 and "just-started has no results yet" in stderr
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_report_from_a_real_run_against_the_stub_server(cli, stub, tmp_path):
    """The whole chain: suite -> engine -> DuckDB -> report, with a hostile answer from the model."""
    from evalseed.testing.stub_server import answers_responder

    srv = stub(responder=answers_responder({"battery": SCRIPT_ANSWER}, default="positive", reasoning="Hmm <b>x</b>"))
    db = tmp_path / "real.duckdb"
    code, _, err = cli("run", ROOT / "suites" / "review-sentiment.yaml", "--base-url", srv.base_url,
                       "--models", "seed-1-6-flash-250715,seed-1-8-251228", "--db", db, "--no-progress")
    assert code == 0, err
    out = tmp_path / "reports"
    code, stdout, stderr = cli("report", "--db", db, "-o", out)
    assert code == 0, stderr
    html = Path(stdout.strip()).read_text()
    page = parse(html)
    assert len(page.scripts) == 4
    blob = json.loads(next(b for a, b in page.scripts if a.get("id") == "cases-data"))
    battery = next(c for c in blob if c["c"] == "battery-died")
    assert {a["a"] for runs in battery["m"].values() for a in runs} == {SCRIPT_ANSWER}
    assert all(a["rs"] == "Hmm <b>x</b>" for runs in battery["m"].values() for a in runs)
    assert battery["e"] == "negative"
    con = store.open_db(db, read_only=True)
    n_cases = con.execute("SELECT count(DISTINCT case_id) FROM results").fetchone()[0]
    con.close()
    assert len(blob) == n_cases
    assert 'id="kind-classification"' in html and "review-sentiment" in html
    assert html.count('class="sortable board"') == 2  # overall + the suite
    assert render.read_meta(Path(stdout.strip()))["cases"] == n_cases


def fake_router_data(models: list[str]) -> dict:
    """The shape evalseed.router.report_data documents, with made-up numbers."""
    a, b = models[:2]
    return {
        "models": models, "policy": "knn", "source": "router.json", "test_cases": 120, "cost_known": True,
        "singles": [{"model": a, "cost": 0.0005, "quality": 0.86}, {"model": b, "cost": 0.00004, "quality": 0.76}],
        "oracle": {"cost": 0.0001, "quality": 0.93},
        "zero_router": [{"cost": 0.00004, "quality": 0.76}, {"cost": 0.0005, "quality": 0.86}],
        "router_curve": [{"lambda": x, "cost": 0.00004 + 0.00046 * x, "quality": 0.76 + 0.12 * x ** 0.5,
                          "shares": {a: x, b: 1 - x}} for x in (0.0, 0.25, 0.5, 1.0)],
        "router_hull": [],
        "operating_point": {"lambda": 10.0, "mu": 0.0, "cost": 0.0002, "quality": 0.85, "shares": {a: 0.4, b: 0.6}},
        "aiq": {"router": 0.84, "zero_router": 0.81, "oracle": 0.92, "cost_range": [0.00004, 0.0005]},
        "pair": {"weak": b, "strong": a, "router": {"apgr": 0.6, "cpt50": 0.3, "cpt80": 0.55},
                 "random": {"apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8}, "oracle": {"apgr": 0.95, "cpt50": 0.1, "cpt80": 0.2}},
        "routes": [{"suite": "sentiment", "kind": "classification", "cases": 24, "model": b,
                    "quality": {a: 0.9, b: 0.88}},
                   {"suite": "<script>alert(1)</script>", "kind": None, "cases": 1, "model": a, "quality": {}}],
        "objective": {"kind": "lambda", "lambda": 10.0},
    }


def test_router_section_with_a_router_and_absent_without(synth_db, tmp_path, monkeypatch):
    import evalseed.router as router_pkg

    models = ["seed-1-6-250915", "seed-1-6-flash-250715"]
    seen = {}

    def report_data(con, run_ids, router_path=None):
        seen["args"] = (list(run_ids), router_path)
        return fake_router_data(models)

    monkeypatch.setattr(router_pkg, "report_data", report_data)
    rf = tmp_path / "router.json"
    rf.write_text("{}")
    _, html = render_one(synth_db, ["run-a"], tmp_path / "out", router_path=str(rf))
    assert seen["args"] == (["run-a"], str(rf))
    assert 'id="router"' in html and '<svg class="chart router"' in html
    assert "Router: <b>seed-1-6-flash-250715</b>" in html  # inline in the which-model summary
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "APGR" in html and "Operating point" in html
    monkeypatch.setattr(router_pkg, "report_data", lambda con, run_ids, router_path=None: None)
    _, html = render_one(synth_db, ["run-a"], tmp_path / "out2", router_path=str(rf))
    assert "cannot be routed" in html
    _, html = render_one(synth_db, ["run-a"], tmp_path / "out3")
    assert 'id="router"' not in html and "Router:" not in html


HOSTILE_TEXT = st.lists(st.sampled_from(list("<>&\"'/=` \n\u2028ab") + ["</script>", "<!--", "<script>", "]]>",
                                                                        "{{", "{%", "javascript:", "<img src=x>"]),
                        min_size=1, max_size=12).map("".join)


_PLAIN: dict = {}


@given(suite=HOSTILE_TEXT, model=HOSTILE_TEXT, case=HOSTILE_TEXT, text=HOSTILE_TEXT, label=HOSTILE_TEXT)
@settings(max_examples=12, deadline=None)
def test_any_text_anywhere_only_ever_becomes_text(tmp_path_factory, suite, model, case, text, label):
    """Whatever the suite, model, case id, answer, error, tag and label strings are, the page has
    the same elements as a page of plain strings: nothing the data says turns into markup."""
    tmp = tmp_path_factory.mktemp("esc")

    def page(s, m, c, t, lab):
        db = tmp / f"{len(list(tmp.iterdir()))}.duckdb"
        con = store.open_db(db)
        store.insert_run(con, "r", label=lab, git_sha=None, version="0", config={"suites": [{"name": s, "hash": t}]})
        w = store.ResultWriter(con, "r")
        for i, kind in enumerate(("classification", "tool_calling", "json_extraction")):
            for model in (m, "other"):
                w.add({"run_id": "r", "suite": s + kind, "case_id": c, "kind": kind, "model": model, "provider": t,
                       "repeat": 0, "status": "ok" if i < 2 else "error", "error": t, "input_text": t,
                       "output_text": t, "score": 0.5, "passed": False, "latency_ms": 10.0, "cost_usd": 0.001,
                       "details": {"expected": t, "predicted": t, "reason": t, "tags": [t], "missing": [t],
                                   "mismatches": [{"path": t}]},
                       "response": {"reasoning_content": t}})
        w.flush()
        con.close()
        _, html = render_one(db, ["r"], tmp / "out")
        return parse(html)

    if "plain" not in _PLAIN:
        _PLAIN["plain"] = page("suite", "model", "case", "text", "label")
    plain = _PLAIN["plain"]
    hostile = page(suite, model, case, text, label)
    shape = lambda p: sorted((t, tuple(sorted(a))) for t, a in p.tags)  # noqa: E731
    assert shape(hostile) == shape(plain)
    assert [a for a, _ in hostile.scripts] == [a for a, _ in plain.scripts]
    assert json.loads(hostile.scripts[1][1])[0]["p"] == text


def test_runs_with_nothing_in_common_get_a_comparison_note(tmp_path):
    db = tmp_path / "d.duckdb"
    con = store.open_db(db)
    build_run(con, "x1", cases_per_suite=5, models=["seed-1-6-250915"])
    store.insert_run(con, "x2", label=None, git_sha=None, version="0", config={})
    w = store.ResultWriter(con, "x2")
    w.add({"run_id": "x2", "suite": "elsewhere", "case_id": "c", "kind": "classification", "model": "m",
           "provider": "p", "repeat": 0, "status": "ok", "passed": True, "score": 1.0, "details": {"expected": "a"}})
    w.flush()
    con.close()
    _, html = render_one(db, ["x1", "x2"], tmp_path / "out")
    assert 'id="comparison"' in html and "Comparison not shown:" in html


def test_repeats_resample_cases_not_rows(tmp_path):
    import numpy as np

    db = tmp_path / "rep.duckdb"
    con = store.open_db(db)
    build_run(con, "rep", cases_per_suite=20, repeats=3)
    con.close()
    con = store.open_db(db, read_only=True)
    data.prepare_view(con, ["rep"])
    board = next(b for b in data.leaderboards(con) if b["suite"] == "sentiment")
    rows = store.fetch_rows(con, "suite = 'sentiment' AND model = 'seed-1-8-251228' AND status <> 'skipped'")
    by_case: dict[str, list[float]] = {}
    for r in rows:
        by_case.setdefault(r["case_id"], []).append(1.0 if (r["status"] == "ok" and r["passed"]) else 0.0)
    means = [sum(v) / len(v) for v in by_case.values()]
    ref = stats.bootstrap_mean(means, n_resamples=data.BOOTSTRAP_RESAMPLES)
    got = next(e for e in board["rows"] if e["entrant"] == "seed-1-8-251228")
    assert got["acc_method"] == "bootstrap over cases"
    assert got["acc"] == pytest.approx(float(np.mean(means)))
    assert (got["acc_low"], got["acc_high"]) == pytest.approx((ref.low, ref.high))
    d = data.drilldown(con, data.ReportOptions())
    case = next(c for c in d["cases"] if c["s"] == "sentiment")
    assert all(len(reps) == 3 for reps in case["m"].values())
    con.close()

