"""The bundled example config examples/thinking-variants.yaml: seed-1-8 with thinking on and off,
run side by side on a bundled suite against the stub server; the results hold both variants with
their params, and the chain of thought shows where it should (tokens, time to the first answer
token)."""

from __future__ import annotations

import json

import duckdb

from conftest import ROOT
from helpers import result_rows
from evalseed.testing.stub_server import Reply, StubServer

CONFIG = ROOT / "examples" / "thinking-variants.yaml"
SUITE = ROOT / "suites" / "review-sentiment.yaml"


def answer(body: dict) -> Reply:
    # Like Seed: a chain of thought streams first unless thinking is off.
    text = body["messages"][-1]["content"].lower()
    label = "negative" if "battery" in text else "positive"
    if (body.get("thinking") or {}).get("type") == "disabled":
        return Reply(content=label)
    return Reply(content=label, reasoning_content="Let me weigh the review. " * 4, chunk_delay=0.002)


def test_thinking_on_and_off_from_the_example_config(cli, tmp_path):
    with StubServer(responder=answer, chunk_chars=8) as srv:
        db = tmp_path / "v.duckdb"
        code, _, err = cli("run", SUITE, "--config", CONFIG, "--models", "thinking-on-off", "--provider", "ark",
                           "--base-url", srv.base_url, "--db", db, "--no-progress")
        assert code == 0, err
        sent = {(b["model"], json.dumps(b.get("thinking"))) for b in srv.bodies()}
    assert sent == {("seed-1-8-251228", '{"type": "enabled"}'), ("seed-1-8-251228", '{"type": "disabled"}')}
    rows = result_rows(db, parse_json=True)
    by_model: dict[str, list[dict]] = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r)
    assert sorted(by_model) == ["seed-1-8-no-thinking", "seed-1-8-thinking"]
    on, off = by_model["seed-1-8-thinking"], by_model["seed-1-8-no-thinking"]
    assert len(on) == len(off) == 44 and all(r["status"] == "ok" and r["provider"] == "ark" for r in rows)
    assert all(r["request"]["thinking"] == {"type": "enabled"} and r["reasoning_tokens"] > 0 for r in on)
    assert all(r["request"]["thinking"] == {"type": "disabled"} and r["reasoning_tokens"] == 0 for r in off)
    # The chain of thought comes before the answer: its first answer token comes later.
    assert all(r["ttft_answer_ms"] > r["ttft_ms"] for r in on)
    assert all(r["ttft_answer_ms"] == r["ttft_ms"] for r in off)
    assert {r["finish_reason"] for r in rows} == {"stop"}
    con = duckdb.connect(str(db), read_only=True)
    config = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])
    con.close()
    table = config["model_table"]
    assert table["seed-1-8-thinking"]["base_model"] == table["seed-1-8-no-thinking"]["base_model"] == "seed-1-8-251228"
    assert table["seed-1-8-thinking"]["request_params"] == {"thinking": {"type": "enabled"}}
    assert table["seed-1-8-no-thinking"]["request_params"] == {"thinking": {"type": "disabled"}}
    # The report compares the two as models of their own.
    out = tmp_path / "reports"
    code, _, err = cli("report", "--db", db, "-o", out)
    assert code == 0, err
    html = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    assert "seed-1-8-thinking" in html and "seed-1-8-no-thinking" in html
