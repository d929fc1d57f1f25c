"""The report's figures for Seed's answers (issue 18: finish reasons, content-filter refusals,
answers cut at max_tokens, time to the first answer token, model variants side by side) and
issue 20's report items (embedded thumbnails, one-point charts hidden, a comparison's verdict on
top, the saving threshold of "Which model should I use?"). Figures are read from the page's
embedded JSON (`metrics-data`, `cases-data`) and the report's data, not from its HTML."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from test_report import make_synth_db, parse, render_one

from evalseed import store
from evalseed.report import data
from evalseed.report.synthetic import build_run


@pytest.fixture
def synth_db(tmp_path):
    return make_synth_db(tmp_path)


# ---- issue 18: finish reasons, filtered rows, answer TTFT, variants side by side -----------------


def metrics_records(html: str) -> list[dict]:
    return json.loads(next(b for a, b in parse(html).scripts if a.get("id") == "metrics-data"))


VARIANTS = {"think": {"thinking": {"type": "enabled"}}, "fast": {"thinking": {"type": "disabled"}}}


def variant_db(tmp_path, n: int = 30) -> Path:
    """Two variants of one base model: `think` reasons (answer TTFT after the chain of thought),
    has content-filter refusals and answers cut at max_tokens; `fast` answers straight away."""
    db = tmp_path / "v.duckdb"
    con = store.open_db(db)
    table = {m: {"base_model": "seed-1-8-251228", "request_params": p, "family": "seed-1-8"} for m, p in VARIANTS.items()}
    store.insert_run(con, "v", label=None, git_sha=None, version="0", config={"model_table": table})
    w = store.ResultWriter(con, "v")
    for i in range(n):
        for m in VARIANTS:
            think = m == "think"
            status = "filtered" if think and i % 10 == 3 else "ok"
            w.add({"run_id": "v", "suite": "s", "case_id": f"c{i:02d}", "kind": "classification", "model": m,
                   "provider": "ark", "repeat": 0, "status": status, "passed": status == "ok" and i % 4 != 0,
                   "score": None, "details": {"expected": "a"}, "output_text": "a",
                   "error": "InputTextSensitiveContentDetected: refused" if status == "filtered" else None,
                   "finish_reason": "content_filter" if status == "filtered" else ("length" if think and i % 10 == 5 else "stop"),
                   "latency_ms": 100.0 + i * (30 if think else 3), "ttft_ms": 10.0 + i,
                   "ttft_answer_ms": (10.0 + i) + (50.0 + 5 * i if think else 0.0),
                   "reasoning_tokens": 40 + i if think else 0, "completion_tokens": 5, "prompt_tokens": 50,
                   "cost_usd": 0.002 if think else 0.0005})
    w.flush()
    store.finish_run(con, "v", "finished")
    con.close()
    return db


def test_filtered_and_cut_answers_are_counted_once_for_every_view(cli, tmp_path):
    import numpy as np

    db = variant_db(tmp_path)
    _, html = render_one(db, ["v"], tmp_path / "out")
    con = store.open_db(db, read_only=True)
    rows = store.fetch_rows(con, "run_id = 'v'")
    con.close()
    recs = {(r["suite"], r["model"]): r for r in metrics_records(html)}
    code, out, err = cli("runs", "v", "--db", db, "--json")
    assert code == 0, err
    summary = {(r["suite"], r["model"]): r for r in json.loads(out)["results"]}
    for m in VARIANTS:
        mine = [r for r in rows if r["model"] == m]
        want = {"filtered": sum(r["status"] == "filtered" for r in mine),
                "cut_at_max_tokens": sum(r["finish_reason"] == "length" for r in mine)}
        for rec in (recs[("s", m)], recs[(None, m)], summary[("s", m)]):
            assert {k: rec[k] for k in want} == want
        # A filtered row was asked and failed: in accuracy's denominator, never a pass, not an error.
        asked = [r for r in mine if r["status"] != "skipped"]
        assert recs[("s", m)]["accuracy"] == pytest.approx(sum(r["status"] == "ok" and r["passed"] for r in asked) / len(asked))
        assert recs[("s", m)]["errors"] == 0
        ok = [r for r in mine if r["status"] == "ok"]
        for q, key in ((0.5, "ttft_answer_p50_ms"), (0.95, "ttft_answer_p95_ms")):
            assert recs[("s", m)][key] == pytest.approx(float(np.quantile([r["ttft_answer_ms"] for r in ok], q)))
        assert recs[("s", m)]["thinking"] is (m == "think")
    assert recs[("s", "think")]["filtered"] == 3 and recs[("s", "think")]["cut_at_max_tokens"] == 3
    # The leaderboard shows the counts and, for the thinking model, the answer's TTFT beside TTFT.
    assert "answer TTFT p50" in html and ">filtered</th>" in html and ">cut at max tokens</th>" in html
    # The finish reason is in the case browser's data and in the errors table.
    cases = json.loads(next(b for a, b in parse(html).scripts if a.get("id") == "cases-data"))
    frs = {a["fr"] for c in cases for reps in c["m"].values() for a in reps}
    assert {"content_filter", "length", "stop"} <= frs
    con = store.open_db(db, read_only=True)
    data.prepare_view(con, ["v"])
    table = data.error_table(con)["rows"]
    con.close()
    got = {(e["entrant"], e["status"], e["finish_reason"]): e["rows"] for e in table}
    assert got == {("think", "filtered", "content_filter"): 3, ("think", "ok", "length"): 3}
    assert 'id="errors"' in html and "InputTextSensitiveContentDetected" in html


def test_variants_of_one_base_model_are_set_side_by_side(tmp_path):
    db = variant_db(tmp_path)
    con = store.open_db(db, read_only=True)
    d = data.build(con, ["v"])
    con.close()
    (group,) = d["variants"]
    assert group["base"] == "seed-1-8-251228"
    assert [(x["entrant"], x["params"]) for x in group["entrants"]] == [("fast", "thinking=disabled"),
                                                                       ("think", "thinking=enabled")]
    boards = {b["suite"]: b for b in d["boards"]}
    for vb in group["boards"]:  # the leaderboard's own figures, not computed again
        for row in vb["rows"]:
            lb = next(e for e in boards[vb["suite"]]["rows"] if e["entrant"] == row["entrant"])
            assert all(row[k] == lb[k] for k in ("acc", "acc_low", "acc_high", "cost_1k", "lat_p50", "lat_p95",
                                                 "ttfa_p50", "reasoning"))
    think = next(r for r in group["boards"][0]["rows"] if r["entrant"] == "think")
    assert think["cost_1k"] == pytest.approx(2.0) and think["reasoning"] > 0
    _, html = render_one(db, ["v"], tmp_path / "out")
    assert 'id="variants"' in html and 'href="#variants"' in html


def test_thinking_on_off_from_the_bundled_example_config(cli, tmp_path):
    from test_example_thinking_variants import CONFIG, SUITE, answer

    from evalseed.testing.stub_server import StubServer

    db = tmp_path / "ex.duckdb"
    with StubServer(responder=answer, chunk_chars=8) as srv:
        code, _, err = cli("run", SUITE, "--config", CONFIG, "--models", "thinking-on-off", "--provider", "ark",
                           "--base-url", srv.base_url, "--db", db, "--no-progress")
    assert code == 0, err
    code, out, err = cli("report", "--db", db, "-o", tmp_path / "reports")
    assert code == 0, err
    html = Path(out.strip()).read_text(encoding="utf-8")
    assert 'id="variants"' in html and "thinking=enabled" in html and "thinking=disabled" in html
    recs = {r["model"]: r for r in metrics_records(html) if r["suite"] is None}
    on, off = recs["seed-1-8-thinking"], recs["seed-1-8-no-thinking"]
    assert on["thinking"] and not off["thinking"]
    assert on["ttft_answer_p50_ms"] > on["ttft_p50_ms"] and on["reasoning_tokens_mean"] > 0
    assert off["reasoning_tokens_mean"] == 0 and off["ttft_answer_p50_ms"] == pytest.approx(off["ttft_p50_ms"])
    assert on["cost_per_1k_cases_usd"] > off["cost_per_1k_cases_usd"]


# ---- issue 20 item 9: thumbnails, one-point charts, the verdict on top, the saving threshold -------


def test_thumbnails_are_embedded_small_and_bounded(synth_db, tmp_path):
    from PIL import Image

    from evalseed.report.thumbnails import MAX_SIDE, Thumbnails

    big = tmp_path / "big.png"
    Image.new("RGB", (2000, 1000), (10, 200, 30)).save(big)
    t = Thumbnails()
    uri = t.make(str(big))
    raw = base64.b64decode(uri.split(",", 1)[1])
    import io

    with Image.open(io.BytesIO(raw)) as im:
        assert max(im.size) == MAX_SIDE and im.format == "JPEG"
    assert t.make(str(tmp_path / "missing.png")) is None
    (tmp_path / "not-an-image.png").write_text("hello")
    assert t.make(str(tmp_path / "not-an-image.png")) is None
    small = Thumbnails(budget=len(uri) + 10)
    assert small.make(str(big)) and small.make(str(big)) is None and small.over_budget == 1
    # The report, moved away from its run folder, still shows every thumbnail; the CSP allows
    # images from data: URIs only.
    path, _ = render_one(synth_db, ["run-a"], tmp_path / "out")
    moved = tmp_path / "elsewhere" / path.name
    moved.parent.mkdir()
    path.rename(moved)
    page = parse(moved.read_text(encoding="utf-8"))
    imgs = [a["src"] for t_, a in page.tags if t_ == "img"]
    assert imgs and all(s.startswith("data:image/") for s in imgs)
    csp = next(a["content"] for t_, a in page.tags if t_ == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "img-src data:;" in csp and "file:" not in csp and "'self'" not in csp
    assert sum(len(s) for s in imgs) <= 3_000_000


def test_a_comparison_puts_its_verdict_at_the_top(tmp_path):
    db = tmp_path / "two.duckdb"
    con = store.open_db(db)
    build_run(con, "base-1", cases_per_suite=20, models=["seed-1-6-250915"])
    build_run(con, "cand-1", cases_per_suite=20, models=["seed-1-6-250915"], skill_shift=-0.4, seed=3)
    con.close()
    _, html = render_one(db, ["base-1", "cand-1"], tmp_path / "out")
    top = html.index('id="verdict"')
    assert top < html.index('id="summary"') < html.index('id="comparison"')
    assert "Verdict: regression" in html[top:html.index('id="summary"')]
    _, html = render_one(db, ["base-1"], tmp_path / "out")
    assert 'id="verdict"' not in html


def test_recommendation_needs_a_saving_above_the_threshold():
    from evalseed.report import choice

    def e(name, acc, low, cost):
        return {"entrant": name, "acc": acc, "acc_low": low, "acc_high": min(1, acc + 0.05), "n": 100,
                "cost_case": cost, "unranked": False}

    # Inside the best's interval but only 0.5% cheaper: not worth a lower accuracy.
    rec = choice.recommendations([{"suite": "s", "rows": [e("big", 0.90, 0.85, 1.0), e("near", 0.88, 0.8, 0.995)]}])[0]
    assert rec["pick"]["entrant"] == "big" and rec["same"] and rec["saving"] is None
    assert rec["held_back"]["entrant"] == "near" and rec["held_back"]["saving"] == pytest.approx(0.005)
    # 10% cheaper clears the 5% threshold; the threshold is a parameter.
    rows = [e("big", 0.90, 0.85, 1.0), e("near", 0.88, 0.8, 0.9)]
    assert choice.recommendations([{"suite": "s", "rows": rows}])[0]["pick"]["entrant"] == "near"
    assert choice.recommendations([{"suite": "s", "rows": rows}], min_saving=0.2)[0]["pick"]["entrant"] == "big"
    # An equally accurate cheaper model needs no threshold; an unknown saving keeps the best.
    rows = [e("big", 0.90, 0.85, None), e("near", 0.88, 0.8, 0.9)]
    assert choice.recommendations([{"suite": "s", "rows": rows}])[0]["pick"]["entrant"] == "big"


def test_the_saving_threshold_is_stated_on_the_page(synth_db, tmp_path):
    from evalseed.report.choice import MIN_SAVING

    _, html = render_one(synth_db, ["run-a"], tmp_path / "out")
    rule = html[html.index('id="saving-rule"'):]
    rule = rule[:rule.index("</p>")]
    assert f"at least {MIN_SAVING * 100:.0f}% less per case" in " ".join(rule.split())
