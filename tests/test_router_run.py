"""End to end: a real `evalseed run` of two models against the stub server, where each model is
right on a different suite, then `route train`, `route eval` and `route pick` on that run."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from evalseed.cli import app
from evalseed.testing.stub_server import Reply, StubServer, last_message_text

FLASH, PRO = "seed-1-6-flash-250715", "seed-1-8-251228"
N = 30

SENTIMENT = {f"Review {i}: the kettle {'works wonderfully' if i % 2 else 'arrived broken'}.":
             ("positive" if i % 2 else "negative") for i in range(N)}
INTENT = {f"Message {i}: {'please refund my order' if i % 3 == 0 else 'where is my parcel' if i % 3 == 1 else 'cancel my plan'}.":
          ("refund" if i % 3 == 0 else "tracking" if i % 3 == 1 else "cancel") for i in range(N)}


def responder(body: dict) -> Reply:
    """flash is right on sentiment and wrong on intent; pro is right on intent and right on only
    a third of sentiment. Both answer with a label, so nothing is unparsed."""
    text = last_message_text(body)
    model = body.get("model")
    if text in SENTIMENT:
        right = SENTIMENT[text]
        i = int(text.split()[1].rstrip(":"))
        ok = model == FLASH or i % 3 == 0
        return Reply(content=right if ok else ("negative" if right == "positive" else "positive"))
    if text in INTENT:
        right = INTENT[text]
        return Reply(content=right if model == PRO else ("cancel" if right != "cancel" else "refund"))
    return Reply(content="?")


def _suite(name: str, labels: list[str], cases: dict, system: str) -> str:
    lines = [f"name: {name}", "kind: classification", f"labels: [{', '.join(labels)}]",
             "params: {temperature: 0, max_tokens: 4}", "messages:",
             f"  - {{role: system, content: \"{system}\"}}", "  - {role: user, content: \"{{ text }}\"}", "cases:"]
    for i, (text, expected) in enumerate(cases.items()):
        lines += [f"  - id: c{i}", f"    vars: {{text: \"{text}\"}}", f"    expected: {expected}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def run_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("routerrun")
    suites = d / "suites"
    suites.mkdir()
    (suites / "sentiment.yaml").write_text(_suite("sentiment", ["positive", "negative"], SENTIMENT,
                                                  "Classify the sentiment. One word."))
    (suites / "intent.yaml").write_text(_suite("intent", ["refund", "tracking", "cancel"], INTENT,
                                               "Classify the customer's intent. One word."))
    db = str(d / "e.duckdb")
    with StubServer(responder) as srv:
        res = CliRunner().invoke(app, ["run", str(suites), "--models", f"{FLASH},{PRO}", "--base-url", srv.base_url,
                                       "--db", db, "--no-progress"])
    assert res.exit_code == 0, res.output
    return d, db


def test_router_learns_the_per_suite_split_from_a_real_run(run_db):
    d, db = run_db
    out = str(d / "router.json")
    runner = CliRunner()
    res = runner.invoke(app, ["route", "train", "--db", db, "--out", out])
    assert res.exit_code == 0, res.output
    spec = json.loads(open(out).read())
    assert {r["suite"]: r["model"] for r in spec["routes"]} == {"sentiment": FLASH, "intent": PRO}
    res = runner.invoke(app, ["route", "pick", "--router", out, "--suite", "intent", "--kind", "classification",
                              "--json", "Message 99: please refund my order."])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["model"] == PRO
    js = str(d / "eval.json")
    res = runner.invoke(app, ["route", "eval", "--db", db, "--router", out, "--json", js])
    assert res.exit_code == 0, res.output
    ev = json.loads(open(js).read())["router"]
    singles = {s["model"]: s["quality"] for s in ev["singles"]}
    # the router is right everywhere on held-out cases; each model alone is not
    assert ev["operating_point"]["quality"] == pytest.approx(1.0)
    assert max(singles.values()) < 1.0
    assert ev["aiq"]["router"] >= ev["aiq"]["zero_router"]
    print(textwrap.indent(res.output, "  "))
