"""`evalseed run` on the bundled JSON extraction suites against the stub server: structured output
sent or degraded per model, fenced answers, field scores and suite metrics from stored rows."""

from __future__ import annotations

import json


from evalseed.kinds import get_kind
from evalseed.suites.loader import load_suites, validate_paths
from evalseed.testing.stub_server import Reply

from conftest import ROOT

from helpers import result_rows


def rows(db):
    return result_rows(db, parse_json=True)


SUITES = sorted((ROOT / "suites").glob("*-extraction.yaml"))
FLASH, S18 = "seed-1-6-flash-250715", "seed-1-8-251228"




def test_bundled_suites_are_valid_and_large_enough():
    good, problems = validate_paths([str(p) for p in SUITES])
    assert not problems
    assert sum(len(s.cases) for s in good) >= 30
    assert {s.response_format for s in good} >= {"json_schema", "json_object"}
    # Mixed English/Chinese cases are there in every suite.
    for s in good:
        assert any("mixed-language" in c.tags for c in s.cases), s.name


def test_run_scores_fields_and_records_degradation(cli, stub, tmp_path):
    suites = load_suites([str(p) for p in SUITES])
    answers = {}
    for s in suites:
        for i, c in enumerate(s.cases):
            answers[c.vars["text"]] = (s.name, i, c.expected)
    wrong_total = ("invoices-extraction", "saas-monthly")

    def respond(body: dict) -> Reply:
        user = body["messages"][-1]["content"]
        name, i, expected = answers[user]
        value = dict(expected)
        if i == 0 and name == wrong_total[0]:
            value["total"] = "2,158.92"  # a string where the schema wants a number
        text = json.dumps(value, ensure_ascii=False)
        if i % 3 == 1:
            text = f"Here is the extraction:\n```json\n{text}\n```"
        return Reply(content=text)

    srv = stub(responder=respond)
    db = tmp_path / "j.duckdb"
    code, out, err = cli("run", *SUITES, "--base-url", srv.base_url, "--models", f"{FLASH},{S18}", "--db", db,
                         "--no-progress")
    assert code == 0, err
    got = rows(db)
    n_cases = sum(len(s.cases) for s in suites)
    assert len(got) == 2 * n_cases and all(r["status"] == "ok" for r in got)
    for r in got:
        d = r["details"]
        assert d["expected"] and d["parsed"] is True
        rf = r["request"].get("response_format")
        if r["model"] == FLASH:  # no json_schema on flash: json_object instead, recorded as degraded
            assert rf == {"type": "json_object"} and d["response_format_used"] == "json_object"
            assert d["degraded"] is (d["response_format"] == "json_schema")
        else:
            assert d["degraded"] is False
            assert rf is not None and rf["type"] in ("json_schema", "json_object")
    fenced = [r for r in got if r["details"]["fenced"]]
    assert fenced and all(r["passed"] for r in fenced)
    bad = [r for r in got if (r["suite"], r["case_id"]) == wrong_total]
    for r in bad:
        d = r["details"]
        assert r["passed"] is False and d["schema_valid"] is False
        assert d["mismatches"] == [{"path": "total", "expected": 2158.92, "got": "2,158.92"}]
        assert 0.8 < d["f1"] < 1.0 and r["score"] == d["f1"]
    assert sum(1 for r in got if r["passed"]) == len(got) - 2
    for s in suites:
        assert s.name in out  # every suite in the run summary

    # Suite metrics from the stored rows.
    kind = get_kind("json_extraction")
    inv = [r for r in got if r["suite"] == "invoices-extraction" and r["model"] == S18]
    m = kind.suite_metrics(inv)
    assert m["valid_json_rate"] == 1.0 and m["schema_valid_rate"] == 0.9
    assert 0.98 < m["mean_field_f1"] < 1.0 and m["fenced"] == 3 and m["degraded"] == 0

    # Rescoring from stored answers keeps the verdicts, the fence included.
    code, out, err = cli("rescore", "latest", "--db", db)
    assert code == 0, err
    again = rows(db)
    assert [(r["passed"], r["details"]["fenced"]) for r in again] == [(r["passed"], r["details"]["fenced"]) for r in got]


def test_unparseable_answer_is_a_scored_failure(cli, stub, tmp_path):
    srv = stub(responder=lambda body: Reply(content="Sorry, I can't read that invoice."))
    db = tmp_path / "j.duckdb"
    code, out, err = cli("run", ROOT / "suites" / "invoices-extraction.yaml", "--base-url", srv.base_url,
                         "--models", S18, "--db", db, "--no-progress")
    assert code == 0, err
    for r in rows(db):
        assert r["status"] == "ok" and r["passed"] is False and r["score"] == 0.0
        assert r["details"]["parsed"] is False and r["details"]["parse_error"]
