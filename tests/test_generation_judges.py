"""Generation `judge` and `python` checks: verdict parsing, scripted judges on the stub server
(a good verdict, a lying one, prose around JSON, a judge that errors), judge cost kept apart from
the graded answer's and counted by the budget, calibration against human labels, `rescore
--judge`, and custom scorers from a file beside the suite or an entry point, a raising one losing
no row."""

from __future__ import annotations

import json

import pytest

from evalseed.kinds import get_kind
from evalseed.kinds.generation.judge import SYSTEM, parse_verdict, response_format
from evalseed.suites.loader import load_suites

from helpers import report_page, result_rows, write_suite

KIND = get_kind("generation")


# ---- the verdict parser ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,score", [
    ('{"score": 0.8, "reason": "good"}', 0.8),
    ('```json\n{"score": 1, "reason": "ok"}\n```', 1.0),
    ('Sure! Here is my verdict: {"score": 0.25, "reason": "thin"} Hope it helps.', 0.25),
    ('{"score": "0.5", "reason": "as text"}', 0.5),
    ('{"score": 7, "reason": "great"}', None),          # a lying verdict: outside 0..1
    ('{"score": true, "reason": "yes"}', None),
    ('{"verdict": "pass"}', None),
    ("I think it is fine.", None),
    ("", None),
    ('{"score": NaN, "reason": "x"}', None),
    ('[0.5]', None),
])
def test_parse_verdict(text, score):
    got, reason = parse_verdict(text)
    assert got == score and reason and "\n" not in reason


def test_response_format_follows_the_judge_model():
    from evalseed.config import load_config

    cfg = load_config(None)
    assert response_format(cfg.resolve_model("seed-1-8-251228"))[1] == "json_schema"
    assert response_format(cfg.resolve_model("seed-1-6-flash-250715"))[1] == "json_object"
    fmt, used = response_format(cfg.resolve_model("gemma-3-270m"))
    assert used == "json_object+schema" and fmt["schema"]["required"] == ["score", "reason"]


# ---- suites ---------------------------------------------------------------------------------------

JUDGED = """
name: judged
kind: generation
params: {max_tokens: 50}
messages:
  - {role: user, content: "{{ q }}"}
checks:
  - {type: judge, name: helpful, rubric: "Answers the question politely.", threshold: 0.6}
cases:
  - {id: good, vars: {q: "question good"}, human: pass, reference: "The reference answer."}
  - {id: lying, vars: {q: "question lying"}, human: fail}
  - {id: prose, vars: {q: "question prose"}, human: 0.9}
  - {id: bad, vars: {q: "question bad"}, human: fail}
  - {id: broken, vars: {q: "question broken"}}
  - {id: unlabelled, vars: {q: "question unlabelled"}, checks: [{type: contains, value: answer}]}
"""

VERDICTS = {
    "good": '{"score": 0.9, "reason": "polite and on point"}',
    "lying": '{"score": 9, "reason": "perfect!!!"}',
    "prose": 'My verdict: {"score": 0.7, "reason": "fine"}',
    "bad": '{"score": 0.1, "reason": "rude"}',
    "unlabelled": '{"score": 0.8, "reason": "ok"}',
}


def judge_responder(verdicts, seen=None):
    from evalseed.testing.stub_server import Reply

    def respond(body):
        msgs = body["messages"]
        if msgs[0]["content"] == SYSTEM:
            if seen is not None:
                seen.append(body)
            q = msgs[1]["content"].split("question ", 1)[1].split("\n", 1)[0]
            if q == "broken":
                return Reply(fault="400")
            return Reply(content=verdicts[q])
        return Reply(content=f"the answer to {msgs[-1]['content']}")

    return respond


def run_judged(cli, stub, tmp_path, *extra, verdicts=VERDICTS):
    seen: list = []
    srv = stub(responder=judge_responder(verdicts, seen))
    path = write_suite(tmp_path / "s", "judged.yaml", JUDGED)
    db = tmp_path / "j.duckdb"
    code, out, err = cli("run", path, "--base-url", srv.base_url, "--models", "seed-1-6-flash-250715", "--db", db,
                         "--no-progress", "--max-attempts", "1", *extra)
    return code, err, db, seen, path


def test_judged_run_scores_records_and_reports(cli, stub, tmp_path):
    code, err, db, seen, _ = run_judged(cli, stub, tmp_path)
    assert code == 0, err
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    assert len(rows) == 6  # every case has its row, the broken judge's too
    # The judge asked is the check's (default seed-1-8), with json_schema, thinking off, and the
    # reference when the case has one.
    assert {b["model"] for b in seen} == {"seed-1-8-251228"}
    assert all(b["response_format"]["type"] == "json_schema" for b in seen)
    good_body = next(b for b in seen if "question good" in b["messages"][1]["content"])
    assert "The reference answer." in good_body["messages"][1]["content"]

    good = rows["good"]
    (v,) = good["details"]["checks"]
    assert good["status"] == "ok" and good["passed"] is True and good["score"] == pytest.approx(0.9)
    assert v["judge"]["model"] == "seed-1-8-251228" and v["judge"]["score"] == 0.9 and v["human_passed"] is True
    assert "polite and on point" in v["reason"]
    # Judge cost apart: details.judge, priced as seed-1-8; the row's cost_usd is the graded call's.
    j = good["details"]["judge"]
    assert j["calls"] == 1 and j["models"] == ["seed-1-8-251228"] and j["cost_usd"] > 0
    from evalseed.config import load_config
    from evalseed.costs import chat_cost

    cfg = load_config(None)
    assert good["cost_usd"] == pytest.approx(chat_cost(cfg.resolve_model("seed-1-6-flash-250715"),
                                                       good["prompt_tokens"], good["completion_tokens"],
                                                       good["cached_tokens"]))
    u = v["judge"]["usage"]
    assert j["cost_usd"] == pytest.approx(chat_cost(cfg.resolve_model("seed-1-8-251228"), u["prompt_tokens"],
                                                    u["completion_tokens"], 0))

    lying = rows["lying"]
    assert lying["status"] == "ok" and lying["passed"] is False and lying["score"] == 0.0
    assert "outside 0..1" in lying["details"]["checks"][0]["reason"]
    assert lying["details"]["checks"][0]["judge"]["score"] is None
    assert rows["prose"]["passed"] is True and rows["prose"]["score"] == pytest.approx(0.7)
    assert rows["bad"]["passed"] is False
    broken = rows["broken"]
    assert broken["status"] == "error" and broken["error"].startswith("ScorerError: JudgeError: the judge seed-1-8")
    assert broken["output_text"] == "the answer to question broken"  # the graded answer is kept

    code, out, err = cli("runs", "latest", "--db", db, "--json")
    assert code == 0, err
    (rec,) = json.loads(out)["results"]
    # Agreement over the labelled rows with a usable verdict: good (pass/pass), lying (fail/fail:
    # an unusable verdict fails), prose (0.9 >= 0.6 pass / 0.7 pass), bad (fail/fail): 4 of 4.
    agree = rec["judge_agreement"]["helpful"]
    assert agree["n"] == 4 and agree["accuracy"] == 1.0 and agree["kappa"] == pytest.approx(1.0)
    assert agree["kappa_low"] <= agree["kappa"] <= agree["kappa_high"]
    assert rec["judge_calls"] == 5 and rec["judge_cost_usd"] > 0
    assert rec["judge_models"] == ["seed-1-8-251228"]

    html = report_page(cli, db, tmp_path / "reports")
    assert 'sortable judge-agreement"' in html and 'sortable judge-cost"' in html
    table = html.split('sortable judge-agreement"', 1)[1].split('</table>', 1)[0]
    assert 'helpful' in table and '1.00' in table


def test_the_budget_counts_judge_calls(cli, stub, tmp_path, monkeypatch):
    from evalseed.engine import budget as budget_mod

    charged: list[float] = []
    settle = budget_mod.Budget.settle

    def spy(self, reservation, actual):
        charged.append(reservation if actual is None else actual)
        return settle(self, reservation, actual)

    monkeypatch.setattr(budget_mod.Budget, "settle", spy)
    code, err, db, seen, _ = run_judged(cli, stub, tmp_path, "--budget-usd", "5")
    assert code == 0, err
    rows = result_rows(db, parse_json=True)
    graded = sum(r["cost_usd"] for r in rows)
    judged = sum(r["details"].get("judge", {}).get("cost_usd") or 0 for r in rows if r["status"] == "ok")
    assert len(charged) == 6 + 6  # six graded calls, six judge calls (the broken one was charged too)
    assert sum(charged) >= graded + judged - 1e-12 and judged > 0


def test_rescore_with_another_judge_asks_no_graded_model(cli, stub, tmp_path):
    code, err, db, seen, _ = run_judged(cli, stub, tmp_path)
    assert code == 0, err
    # Rescore with no judge reuses the stored verdicts: nothing is asked.
    n_before = len(seen)
    code, out, err = cli("rescore", "latest", "--db", db)
    assert code == 0, err
    assert len(seen) == n_before
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    assert rows["good"]["passed"] is True and rows["good"]["details"]["checks"][0]["judge"]["reused"] is True
    assert rows["good"]["details"]["judge"]["calls"] == 0
    assert rows["broken"]["status"] == "error"

    # --judge: every judge check asked again, of the named model, through the run's server.
    code, out, err = cli("rescore", "latest", "--db", db, "--judge", "seed-1-6-flash-250715")
    assert code == 0, err
    new = seen[n_before:]
    assert len(new) == 6 and {b["model"] for b in new} == {"seed-1-6-flash-250715"}
    assert all(b["messages"][0]["content"] == SYSTEM for b in new)  # no graded model was asked
    assert all(b["response_format"]["type"] == "json_object" for b in new)
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    g = rows["good"]["details"]
    assert g["checks"][0]["judge"]["model"] == "seed-1-6-flash-250715" and g["judge"]["calls"] == 1
    assert g["judge"]["models"] == ["seed-1-6-flash-250715"]
    assert rows["broken"]["status"] == "error"  # the scripted judge still fails on it


def test_human_label_needs_a_judge_check(tmp_path):
    from evalseed.errors import UsageError

    p = write_suite(tmp_path, "h.yaml", """
        name: h
        kind: generation
        messages: [{role: user, content: hi}]
        cases:
          - {id: a, human: pass, checks: [{type: contains, value: x}]}
    """)
    with pytest.raises(UsageError, match=r"h.yaml:\d+ cases\[0\]\.human"):
        load_suites([str(p)])


# ---- calibration statistics -----------------------------------------------------------------------

def test_agreement_by_hand():
    from evalseed.scoring.agreement import agreement

    # 10 pairs: 8 agree; human 5 pass, judge 5 pass; po 0.8, pe 0.5, kappa 0.6.
    human = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    judge = [1, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    a = agreement(human, judge)
    assert a["n"] == 10 and a["accuracy"] == pytest.approx(0.8) and a["kappa"] == pytest.approx(0.6)
    assert -1 <= a["kappa_low"] <= 0.6 <= a["kappa_high"] <= 1
    # Everyone says pass: agreement 1, kappa undefined (no chance correction possible).
    b = agreement([1, 1, 1], [1, 1, 1])
    assert b["accuracy"] == 1.0 and b["kappa"] is None
    assert agreement([], [])["n"] == 0


# ---- custom scorers -------------------------------------------------------------------------------

CHECKS_PY = '''
def score_answer(case, answer, response):
    if "boom" in answer:
        raise RuntimeError("scorer bug")
    words = len(answer.split())
    want = case["vars"]["want"]
    return {"score": min(1.0, words / want), "passed": words >= want, "reason": f"{words} words",
            "details": {"words": words, "case": case["id"], "has_choices": "choices" in response}}


def as_tuple(case, answer, response):
    return (1.0, True)


def bad_score(case, answer, response):
    return {"score": 3, "passed": True}
'''

CUSTOM = """
name: custom
kind: generation
messages:
  - {role: user, content: "{{ q }}"}
checks:
  - {type: python, name: wordy, value: "my_checks.py:score_answer"}
cases:
  - {id: long, vars: {q: "long", want: 3}}
  - {id: short, vars: {q: "short", want: 3}}
  - {id: raises, vars: {q: "boom", want: 1}}
  - {id: tuple, vars: {q: "short", want: 1}, checks: [{type: python, value: "my_checks.py:as_tuple"}]}
  - {id: out-of-range, vars: {q: "short", want: 1}, checks: [{type: python, value: "my_checks.py:bad_score"}]}
"""


def test_custom_scorer_from_a_file_beside_the_suite(cli, stub, tmp_path):
    from evalseed.testing.stub_server import Reply

    folder = tmp_path / "s"
    path = write_suite(folder, "custom.yaml", CUSTOM)
    (folder / "my_checks.py").write_text(CHECKS_PY, encoding="utf-8")
    answers = {"long": "one two three four", "short": "one", "boom": "boom boom"}
    srv = stub(responder=lambda body: Reply(content=answers[body["messages"][-1]["content"]]))
    db = tmp_path / "c.duckdb"
    code, _, err = cli("run", path, "--base-url", srv.base_url, "--models", "seed-1-8-251228", "--db", db,
                       "--no-progress", "--max-attempts", "1")
    assert code == 0, err
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    assert len(rows) == 5  # no row lost
    v = rows["long"]["details"]["checks"][0]
    assert rows["long"]["passed"] is True and v["name"] == "wordy" and v["reason"] == "4 words"
    assert v["details"] == {"words": 4, "case": "long", "has_choices": True}
    assert rows["short"]["passed"] is False and rows["short"]["score"] == pytest.approx(1 / 3)
    assert rows["tuple"]["details"]["checks"][1]["passed"] is True
    raised = rows["raises"]
    assert raised["status"] == "error" and "ScorerError" in raised["error"] and "scorer bug" in raised["error"]
    assert raised["output_text"] == "boom boom"
    assert rows["out-of-range"]["status"] == "error" and "between 0 and 1" in rows["out-of-range"]["error"]

    # Fix the scorer, rescore: the scorer-error row is scored now.
    (folder / "my_checks.py").write_text(CHECKS_PY.replace('raise RuntimeError("scorer bug")', "pass"),
                                         encoding="utf-8")
    code, _, err = cli("rescore", "latest", "--db", db)
    assert code == 0, err
    rows = {r["case_id"]: r for r in result_rows(db, parse_json=True)}
    assert rows["raises"]["status"] == "ok" and rows["raises"]["passed"] is True


@pytest.mark.parametrize("value,says", [
    ("../outside.py:f", "outside the suite's folder"),
    ("/etc/x.py:f", "absolute path"),
    ("missing.py:f", "no such file"),
    ("my_checks.py:", "neither FILE.py:FUNCTION"),
    ("no-such-entry-point", "no installed entry point"),
])
def test_bad_scorer_references_are_refused(tmp_path, value, says):
    from evalseed.errors import UsageError

    folder = tmp_path / "s"
    p = write_suite(folder, "c.yaml", f"""
        name: c
        kind: generation
        messages: [{{role: user, content: hi}}]
        checks: [{{type: python, value: "{value}"}}]
        cases: [{{id: a}}]
    """)
    (folder / "my_checks.py").write_text(CHECKS_PY, encoding="utf-8")
    with pytest.raises(UsageError, match=r"c.yaml:\d+ checks\[0\]"):
        try:
            load_suites([str(p)])
        except UsageError as e:
            assert says in str(e)
            raise


def test_custom_scorer_from_an_entry_point(tmp_path, monkeypatch):
    from evalseed.kinds.base import Outcome, Prepared

    site = tmp_path / "site"
    dist = site / "acme_scorers-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-scorers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[evalseed.scorers]\nacme_polite = acme_scorers:polite\n")
    (site / "acme_scorers.py").write_text(
        "def polite(case, answer, response):\n    return {'score': 1.0 if 'please' in answer else 0.0}\n")
    monkeypatch.syspath_prepend(str(site))
    suite = KIND.suite_model.model_validate(
        {"name": "e", "kind": "generation", "messages": [{"role": "user", "content": "x"}],
         "checks": [{"type": "python", "value": "acme_polite"}], "cases": [{"id": "a"}]})
    out = KIND.score(suite, suite.cases[0], Prepared(input_text="x"),
                     Outcome(calls=[], response={}, output_text="yes please"))
    assert out.passed is True and out.details["checks"][0]["score"] == 1.0


def test_judge_calls_are_recorded_and_replayed(cli, stub, tmp_path):
    # A judged suite replays offline: the judge's answers are in the cassette with the graded ones.
    srv = stub(responder=judge_responder(VERDICTS))
    path = write_suite(tmp_path / "s", "judged.yaml", JUDGED)
    common = ("--models", "seed-1-6-flash-250715", "--no-progress", "--max-attempts", "1",
              "--cassette-dir", tmp_path / "cas")
    code, _, err = cli("run", path, "--base-url", srv.base_url, "--db", tmp_path / "rec.duckdb",
                       "--cassettes", "record", *common)
    assert code == 0, err
    url = srv.base_url
    srv.stop()
    code, _, err = cli("run", path, "--base-url", url, "--db", tmp_path / "rep.duckdb", "--cassettes", "replay", *common)
    assert code == 0, err
    rec = {r["case_id"]: r for r in result_rows(tmp_path / "rec.duckdb", parse_json=True)}
    rep = {r["case_id"]: r for r in result_rows(tmp_path / "rep.duckdb", parse_json=True)}
    for case_id, r in rec.items():
        if r["status"] == "ok":
            assert rep[case_id]["replayed"] is True
            assert rep[case_id]["score"] == r["score"] and rep[case_id]["passed"] == r["passed"]
            assert rep[case_id]["details"]["checks"][0]["judge"]["score"] == r["details"]["checks"][0]["judge"]["score"]


# ---- pairwise -------------------------------------------------------------------------------------

class ScriptedApi:
    """An Api whose judge answers come from `pick(a, b) -> text`."""

    def __init__(self, pick):
        self.pick = pick
        self.bodies = []

    async def chat(self, body, model=None):
        from evalseed.core import CallResult

        self.bodies.append(body)
        text = body["messages"][1]["content"]
        a = text.split("<answer_A>\n", 1)[1].split("\n</answer_A>", 1)[0]
        b = text.split("<answer_B>\n", 1)[1].split("\n</answer_B>", 1)[0]
        return CallResult(request=body, response={"choices": [{"message": {"content": self.pick(a, b)}}]},
                          cost_usd=0.001, prompt_tokens=10, completion_tokens=5)


@pytest.mark.parametrize("pick,winner,consistent,first_score", [
    # A judge that knows: the better answer wins in both orders.
    (lambda a, b: '{"winner": "%s", "reason": "r"}' % ("A" if "good" in a else "B"), "first", True, 1.0),
    # A judge that always says "A": position bias, cancelled into a tie.
    (lambda a, b: '{"winner": "A", "reason": "first is best"}', "tie", False, 0.5),
    (lambda a, b: '{"winner": "tie", "reason": "same"}', "tie", True, 0.5),
    # One order unusable: no winner, the other order's points only.
    (lambda a, b: '{"winner": "A", "reason": "r"}' if "good" in a else "no idea", None, False, 1.0),
    (lambda a, b: '{"winner": "C"}', None, False, None),
])
def test_pairwise_asks_both_orders(pick, winner, consistent, first_score):
    import asyncio

    from evalseed.config import load_config
    from evalseed.kinds.generation.pairwise import judge_pair

    api = ScriptedApi(pick)
    model = load_config(None).resolve_model("seed-1-8-251228")
    out = asyncio.run(judge_pair(api, model, "q?", "a good answer", "a poor answer", "Be helpful."))
    assert (out["winner"], out["consistent"], out["first_score"]) == (winner, consistent, first_score)
    assert [o["shown_first"] for o in out["orders"]] == ["first", "second"] and len(api.bodies) == 2
    assert all(b["response_format"]["json_schema"]["name"] == "pair_verdict" for b in api.bodies)


def test_a_judge_the_server_cannot_answer_as_is_a_scorer_error_not_a_wrong_verdict():
    import asyncio

    from evalseed.config import Provider, load_config

    suite = KIND.suite_model.model_validate(
        {"name": "o", "kind": "generation", "messages": [{"role": "user", "content": "x"}],
         "checks": [{"type": "judge", "rubric": "r"}], "cases": [{"id": "a"}]})
    api = ScriptedApi(lambda a, b: "")
    api.provider = Provider("local", None, None)  # the embedded model's server answers only as gemma
    prepared = KIND.prepare(suite, suite.cases[0], load_config(None).resolve_model("gemma-3-270m"))
    results = asyncio.run(KIND.judge(prepared, "an answer", api))
    assert "cannot be asked on the embedded model's server" in results[0]["error"] and not api.bodies
    api.provider = Provider("ark", "https://ark.example/api/v3", "ARK_API_KEY")  # a base URL serves every model
    from evalseed.core import CallResult

    async def chat(body, model=None):
        return CallResult(request=body, response={"choices": [{"message": {"content": '{"score": 1, "reason": "ok"}'}}]})

    api.chat = chat
    assert asyncio.run(KIND.judge(prepared, "an answer", api))[0]["score"] == 1.0


def test_a_judge_call_the_budget_cannot_cover_stops_the_run(cli, stub, tmp_path):
    # The graded call (thinking off, 50 tokens) fits in $0.0003; the judge's worst case (seed-1-8,
    # 300 tokens, about $0.0006) does not: the run stops with status budget before judging.
    srv = stub(responder=judge_responder(VERDICTS))
    path = write_suite(tmp_path / "s", "judged.yaml",
                       JUDGED.replace("params: {max_tokens: 50}", "params: {max_tokens: 50, thinking: {type: disabled}}"))
    db = tmp_path / "b.duckdb"
    code, out, err = cli("run", path, "--base-url", srv.base_url, "--models", "seed-1-6-flash-250715", "--db", db,
                         "--no-progress", "--max-attempts", "1", "--concurrency", "1", "--budget-usd", "0.0003")
    assert code == 3 and "budget" in err, err
    assert not any(b["messages"][0]["content"] == SYSTEM for b in srv.bodies())  # no judge call was sent
