"""Issue 17 follow-ups: the judge's spend in a resumed run's budget, an unpriced judge refused
with --budget-usd, the judge priced from --config, a bundled judge's `offline_model`, and
`evalseed judge-pair` over two models' stored answers (scripted judges on the stub server: one
that knows, one that always prefers the first answer shown)."""

from __future__ import annotations

import json

import duckdb
import pytest

from evalseed.kinds import get_kind
from evalseed.kinds.generation.judge import SYSTEM, use_config
from evalseed.kinds.generation.pairwise import PAIR_SYSTEM

from conftest import result_rows, write_suite

KIND = get_kind("generation")

SUITE = """
name: judged
kind: generation
params: {max_tokens: 50}
messages:
  - {role: user, content: "{{ q }}"}
checks:
  - {type: judge, name: helpful, rubric: "Answers the question.", threshold: 0.5JUDGE_EXTRA}
cases:
  - {id: one, vars: {q: "question one"}}
  - {id: two, vars: {q: "question two"}}
  - {id: three, vars: {q: "question three"}}
  - {id: four, vars: {q: "question four"}}
  - {id: five, vars: {q: "question five"}}
  - {id: six, vars: {q: "question six"}}
"""

A, B = "seed-1-6-flash-250715", "seed-1-8-251228"


@pytest.fixture(autouse=True)
def _unbind_judge_config():
    yield
    use_config(None)  # a run binds its config for judges; leave the next test the working folder's


def suite_text(extra: str = "") -> str:
    return SUITE.replace("JUDGE_EXTRA", extra)


def responder(pair_pick=None, seen=None):
    """Graded calls: model A answers well, model B poorly. Single-verdict judge calls: 0.8.
    Pairwise judge calls: `pair_pick(answer_A, answer_B)`."""
    from evalseed.testing.stub_server import Reply

    def respond(body):
        msgs = body["messages"]
        if seen is not None:
            seen.append(body)
        if msgs[0]["content"] == SYSTEM:
            return Reply(content='{"score": 0.8, "reason": "fine"}')
        if msgs[0]["content"] == PAIR_SYSTEM:
            text = msgs[1]["content"]
            a = text.split("<answer_A>\n", 1)[1].split("\n</answer_A>", 1)[0]
            b = text.split("<answer_B>\n", 1)[1].split("\n</answer_B>", 1)[0]
            return Reply(content=pair_pick(a, b))
        quality = "good" if body["model"] == A else "poor"
        return Reply(content=f"a {quality} answer to {msgs[-1]['content']}")

    return respond


def run(cli, srv, tmp_path, text, *extra, models=A):
    path = write_suite(tmp_path / "s", "judged.yaml", text)
    db = tmp_path / "j.duckdb"
    code, out, err = cli("run", path, "--base-url", srv.base_url, "--models", models, "--db", db,
                         "--no-progress", "--max-attempts", "1", *extra)
    return code, out, err, db


# ---- 2a: a resumed run's budget counts the judge spend before the interruption -----------------------

def test_spent_on_run_counts_judge_calls(cli, stub, tmp_path):
    from evalseed.run.queries import spent_on_run

    code, _, err, db = run(cli, stub(responder=responder()), tmp_path, suite_text())
    assert code == 0, err
    rows = result_rows(db, parse_json=True)
    graded = sum(r["cost_usd"] for r in rows)
    judged = sum(r["details"]["judge"]["cost_usd"] for r in rows)
    assert graded > 0 and judged > 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
        assert spent_on_run(con, run_id) == pytest.approx(graded + judged, rel=1e-12)
    finally:
        con.close()


def test_a_resumed_run_starts_its_budget_from_graded_and_judge_spend(cli, stub, tmp_path, monkeypatch):
    from evalseed.engine import budget as budget_mod

    srv = stub(responder=responder())
    code, _, err, db = run(cli, srv, tmp_path, suite_text())
    assert code == 0, err
    rows = result_rows(db, parse_json=True)
    total = sum(r["cost_usd"] for r in rows) + sum(r["details"]["judge"]["cost_usd"] for r in rows)
    con = duckdb.connect(str(db))
    run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
    con.execute("DELETE FROM results WHERE case_id = 'six'")  # as if interrupted before the last case
    con.execute("UPDATE runs SET status = 'interrupted'")
    con.close()
    started: list[float] = []
    init = budget_mod.Budget.__init__

    def spy(self, limit, spent=0.0, *a, **k):
        started.append(spent)
        return init(self, limit, spent, *a, **k)

    monkeypatch.setattr(budget_mod.Budget, "__init__", spy)
    six = next(r for r in rows if r["case_id"] == "six")
    code, _, err = cli("run", "--resume", run_id, "--db", db, "--no-progress", "--budget-usd", "5")
    assert code == 0, err
    assert started[0] == pytest.approx(total - six["cost_usd"] - six["details"]["judge"]["cost_usd"], rel=1e-9)


# ---- 2b: a judge without a known price is refused with --budget-usd ---------------------------------

def test_an_unpriced_judge_refuses_the_budget(cli, stub, tmp_path):
    srv = stub(responder=responder())
    code, _, err, db = run(cli, srv, tmp_path, suite_text(", model: acme-judge-1"), "--budget-usd", "1")
    assert code == 2, err
    assert "--budget-usd cannot be enforced" in err and "acme-judge-1 (judge in suite judged)" in err
    assert srv.bodies() == []  # refused before anything was sent
    # Without a budget the same suite runs (the judge is asked, its cost unknown).
    code, _, err, db = run(cli, srv, tmp_path, suite_text(", model: acme-judge-1"))
    assert code == 0, err


# ---- 2c: the judge is priced from --config -------------------------------------------------------------

def test_the_judge_is_priced_from_the_run_config(cli, stub, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no evalseed.yaml here: only --config can price acme-judge-1
    cfg = tmp_path / "prices.yaml"
    cfg.write_text("models:\n  acme-judge-1: {context_window: 8192, prices: {input: 1000, output: 2000}}\n",
                   encoding="utf-8")
    srv = stub(responder=responder())
    code, _, err, db = run(cli, srv, tmp_path, suite_text(", model: acme-judge-1"), "--budget-usd", "100",
                           "--config", str(cfg))
    assert code == 0, err
    rows = result_rows(db, parse_json=True)
    for r in rows:
        u = r["details"]["checks"][0]["judge"]["usage"]
        assert u["model"] == "acme-judge-1"
        assert u["cost_usd"] == pytest.approx(u["prompt_tokens"] * 1000e-6 + u["completion_tokens"] * 2000e-6)


# ---- offline_model: the bundled suites' judge on the embedded model's server ---------------------------

def test_offline_model_is_the_judge_on_the_embedded_server_only():
    from evalseed.config import Provider

    suite = KIND.suite_model.model_validate(
        {"name": "o", "kind": "generation", "messages": [{"role": "user", "content": "x"}],
         "checks": [{"type": "judge", "rubric": "r", "offline_model": "gemma-3-270m"}], "cases": [{"id": "a"}]})
    check = suite.checks[0]
    assert check.judge_for(Provider("local", None, None)) == "gemma-3-270m"
    assert check.judge_for(Provider("ark", "https://ark.example/api/v3", "ARK_API_KEY")) == "seed-1-8-251228"
    assert check.judge_for(Provider("local", "http://127.0.0.1:9/v1", None)) == "seed-1-8-251228"
    assert check.judge_for(None) == "seed-1-8-251228"
    with pytest.raises(Exception, match="offline_model"):
        KIND.suite_model.model_validate(
            {"name": "o", "kind": "generation", "messages": [{"role": "user", "content": "x"}],
             "checks": [{"type": "contains", "value": "x", "offline_model": "gemma-3-270m"}], "cases": [{"id": "a"}]})


def test_the_bundled_judged_suite_judges_with_seed_and_offline_with_the_embedded_model():
    from conftest import ROOT
    from evalseed.suites.loader import load_suites

    (suite,) = load_suites([str(ROOT / "suites" / "generation-qa-judged.yaml")])
    judges = [c for c in suite.checks if c.type == "judge"]
    assert [(c.judge_model, c.offline_model) for c in judges] == [("seed-1-8-251228", "gemma-3-270m")]
    assert len(suite.cases) >= 30
    assert sum("zh" in c.tags for c in suite.cases) >= 10
    assert sum(c.human is not None for c in suite.cases) >= 8


def test_the_bundled_judged_suite_replays_with_judge_agreement(cli, tmp_path, monkeypatch):
    """The recording's judge calls (gemma-3-270m, offline_model) replay with the graded answers, and
    the labelled cases give the report its agreement figures: the figures of docs/design.md."""
    from conftest import ROOT

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "r.duckdb"
    code, _, err = cli("run", ROOT / "suites" / "generation-qa-judged.yaml", "--models", "local", "--db", db,
                       "--no-progress", "--cassettes", "replay", "--cassette-dir", ROOT / "cassettes")
    assert code == 0, err
    code, out, err = cli("runs", "latest", "--db", db, "--json")
    assert code == 0, err
    (r,) = json.loads(out)["results"]
    assert r["judge_calls"] == 32 and r["judge_models"] == ["gemma-3-270m"]
    agree = r["judge_agreement"]["correct"]
    assert (agree["n"], agree["accuracy"], agree["kappa"]) == (10, 1.0, None)  # both said fail on all ten
    assert (agree["human_pass_rate"], agree["judge_pass_rate"]) == (0.0, 0.0)
    assert r["accuracy"] == 0.0 and r["check_pass_rates"]["correct"] == 0.0


# ---- 3: judge-pair -------------------------------------------------------------------------------------

def knows(a, b):
    return '{"winner": "%s", "reason": "the good one"}' % ("A" if "good" in a else "B")


def first_shown(a, b):
    return '{"winner": "A", "reason": "the first one"}'


def pair_run(cli, stub, tmp_path, pick):
    seen: list = []
    srv = stub(responder=responder(pick, seen))
    code, _, err, db = run(cli, srv, tmp_path, suite_text(), models=f"{A},{B}")
    assert code == 0, err
    n = len(seen)
    code, out, err = cli("judge-pair", "latest", "--db", db, "--models", f"{A},{B}", "--judge", A, "--json")
    assert code == 0, err
    return json.loads(out), seen[n:]


def test_judge_pair_counts_wins_with_both_orders_asked(cli, stub, tmp_path):
    out, calls = pair_run(cli, stub, tmp_path, knows)
    assert len(calls) == 12 and all(b["messages"][0]["content"] == PAIR_SYSTEM for b in calls)
    assert {b["model"] for b in calls} == {A}  # the judge named, never a graded model's answer call
    o = out["overall"]
    assert (o["pairs"], o["wins"], o["ties"], o["losses"], o["unusable"]) == (6, 6, 0, 0, 0)
    assert o["sign_test_p"] == pytest.approx(2 / 2 ** 6)
    assert o["win_share"]["estimate"] == 1.0 and 0.5 < o["win_share"]["low"] < 1.0
    assert out["suites"]["judged"] == o and out["calls"] == 12 and out["judge_cost_usd"] > 0
    case = out["cases"][0]
    assert case["winner"] == "first" and case["consistent"] is True
    assert [x["shown_first"] for x in case["orders"]] == ["first", "second"]
    # Each order showed the two answers the other way round.
    first_a = calls[0]["messages"][1]["content"].split("<answer_A>\n", 1)[1]
    second_a = calls[1]["messages"][1]["content"].split("<answer_A>\n", 1)[1]
    assert first_a.startswith("a good answer") and second_a.startswith("a poor answer")


def test_a_position_biased_judge_gives_ties_not_wins(cli, stub, tmp_path):
    out, calls = pair_run(cli, stub, tmp_path, first_shown)
    o = out["overall"]
    assert (o["pairs"], o["wins"], o["ties"], o["losses"]) == (6, 0, 6, 0)
    assert o["sign_test_p"] == 1.0 and o["win_share"] is None
    assert all(c["consistent"] is False and c["first_score"] == 0.5 for c in out["cases"])


def test_judge_pair_prints_a_table_and_refuses_bad_models(cli, stub, tmp_path):
    srv = stub(responder=responder(knows))
    code, _, err, db = run(cli, srv, tmp_path, suite_text(), models=f"{A},{B}")
    assert code == 0, err
    code, out, err = cli("judge-pair", "--db", db, "--models", f"{A},{B}", "--judge", A)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("all"))
    assert line.split()[1:6] == ["6", "6", "0", "0", "0"]
    code, _, err = cli("judge-pair", "--db", db, "--models", f"{A},nobody-1", "--judge", A)
    assert code == 2 and "no rows of nobody-1" in err
    code, _, err = cli("judge-pair", "--db", db, "--models", A, "--judge", A)
    assert code == 2 and "two different models" in err


# ---- the bundled typography suite (expect_text) against the stub ----------------------------------------

def test_the_bundled_typography_suite_reads_the_text_back(cli, stub, tmp_path):
    import re
    import shutil

    from conftest import ROOT
    from evalseed.suites.loader import load_suites
    from evalseed.testing.stub_server import Reply
    from test_image_ocr import poster

    (suite,) = load_suites([str(ROOT / "suites" / "images-seedream-typography.yaml")])
    assert len(suite.cases) >= 10 and suite.expect_text is not None
    if shutil.which("tesseract") is None:
        pytest.skip("Tesseract is not installed (apt-get install tesseract-ocr)")

    def respond(body):
        # Draws the headline the prompt asks for, except for the bakery: the negative control.
        headline = re.search(r'reads exactly "([^"]+)"', body["prompt"]).group(1)
        w, h = map(int, body["size"].split("x"))
        return Reply(image_bytes=poster("Fresh Coffee Daily" if "Bakery" in headline else headline, size=(w, h)))

    srv = stub(responder=respond)
    db = tmp_path / "t.duckdb"
    code, out, err = cli("run", ROOT / "suites" / "images-seedream-typography.yaml", "--base-url", srv.base_url,
                         "--models", "seedream-4-5-251128", "--db", db, "--no-progress", "--out-dir", tmp_path / "runs",
                         "--case", "keynote-slide", "--case", "bakery-storefront")
    assert code == 0, out + err
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    assert rows["keynote-slide"]["passed"] and rows["keynote-slide"]["score"] >= 0.9
    assert not rows["bakery-storefront"]["passed"] and rows["bakery-storefront"]["score"] <= 0.1
