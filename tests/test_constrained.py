"""Constrained answers (issue 20, item 7): a classification suite's `response_format: labels` sends
the labels as a JSON-schema enum to models that take a schema, and the model variant parameter
`constrained` runs a model constrained or free side by side (`local,local[constrained=true]`).
The scorer reads the label inside the JSON."""

from __future__ import annotations

import json

import duckdb
import pytest

from conftest import write_suite
from evalseed.config import load_config
from evalseed.core import Outcome
from evalseed.errors import UsageError
from evalseed.kinds.classification import KIND as CLASSIFICATION
from evalseed.kinds.classification.kind import CONSTRAINED_MIN_TOKENS, label_schema
from evalseed.kinds.json_extraction import KIND as EXTRACTION
from evalseed.suites.loader import load_suites
from evalseed.testing.stub_server import StubServer

SUITE = """
name: sentiment
kind: classification
labels: [positive, negative, mixed]
params: {temperature: 0, max_tokens: 8}
messages:
  - {role: user, content: "{{ text }}"}
cases:
  - {id: a, vars: {text: "great"}, expected: positive}
  - {id: b, vars: {text: "awful"}, expected: negative}
"""

EXTRACTION_SUITE = """
name: people
kind: json_extraction
response_format: json_object
schema:
  type: object
  required: [name]
  properties: {name: {type: string}}
messages:
  - {role: user, content: "{{ text }} {{ schema_json }}"}
cases:
  - {id: a, vars: {text: "Ann"}, expected: {name: Ann}}
"""


def _suite(tmp_path, text=SUITE, name="s.yaml"):
    return load_suites([write_suite(tmp_path / "suites", name, text)])[0]


def _model(name):
    cfg = load_config(None)
    return cfg.resolve_model(cfg.expand_models(name)[0])


def test_the_variant_parameter_is_evalseeds_own_not_a_request_parameter():
    v = _model("local[constrained=true]")
    assert (v.name, v.api_name, v.provider) == ("local[constrained=true]", "gemma-3-270m", "local")
    assert (v.constrained, v.structured_output, v.schema_wire, v.request_params) == (True, True, "json_object", {})
    off = _model("seed-1-8-251228[constrained=false]")
    assert (off.constrained, off.structured_output, off.request_params) == (False, True, {})
    assert _model("local").constrained is None and _model("local").structured_output is False
    with pytest.raises(UsageError, match="takes no JSON schema"):
        _model("seed-1-6-flash-250715[constrained=true]")
    with pytest.raises(UsageError, match="true or false"):
        _model("local[constrained=maybe]")


def test_a_plain_local_request_is_unchanged(tmp_path):
    """The committed cassettes of `local` match only if its requests stay exactly as recorded."""
    suite = _suite(tmp_path)
    p = CLASSIFICATION.prepare(suite, suite.cases[0], _model("local"))
    assert "response_format" not in p.request and p.request["max_tokens"] == 8
    assert p.state["response_format_used"] == "none" and "degraded" not in p.state


def test_local_constrained_sends_the_labels_as_a_json_object_schema(tmp_path):
    suite = _suite(tmp_path)
    p = CLASSIFICATION.prepare(suite, suite.cases[0], _model("local[constrained=true]"))
    # llama-cpp-python's server refuses `json_schema` (HTTP 500); json_object + schema is a grammar.
    assert p.request["response_format"] == {"type": "json_object", "schema": label_schema(suite)}
    assert label_schema(suite)["properties"]["label"]["enum"] == ["positive", "negative", "mixed"]
    assert p.request["model"] == "gemma-3-270m" and "constrained" not in p.request
    assert p.request["max_tokens"] == CONSTRAINED_MIN_TOKENS
    assert p.state["dropped_params"] == [f"max_tokens=8 (raised to {CONSTRAINED_MIN_TOKENS} for the JSON around the label)"]


def test_the_suite_option_follows_what_each_model_takes(tmp_path):
    suite = _suite(tmp_path, SUITE.replace("labels: [", "response_format: labels\nlabels: ["))
    seed = CLASSIFICATION.prepare(suite, suite.cases[0], _model("seed-1-8-251228"))
    assert seed.request["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "sentiment", "schema": label_schema(suite), "strict": True}}
    flash = CLASSIFICATION.prepare(suite, suite.cases[0], _model("seed-1-6-flash-250715"))
    assert "response_format" not in flash.request and flash.state["degraded"] is True
    local = CLASSIFICATION.prepare(suite, suite.cases[0], _model("local"))
    assert "response_format" not in local.request and local.state["degraded"] is True
    free = CLASSIFICATION.prepare(suite, suite.cases[0], _model("seed-1-8-251228[constrained=false]"))
    assert "response_format" not in free.request and "degraded" not in free.state  # the variant chose it


def test_the_suite_option_is_checked(tmp_path):
    with pytest.raises(UsageError, match=r"s.yaml:3 response_format: Input should be 'none' or 'labels'"):
        _suite(tmp_path, SUITE.replace("labels: [", "response_format: enum\nlabels: ["))
    with pytest.raises(UsageError, match="top-level response_format"):
        _suite(tmp_path, SUITE.replace("max_tokens: 8}", "max_tokens: 8, response_format: {type: json_object}}"), "p.yaml")


@pytest.mark.parametrize("answer, predicted", [
    ('{ "label": "negative"} ', "negative"),
    ('{"label": "Mixed"}', "mixed"),
    ('"negative"', "negative"),          # a bare JSON string: the label
    ('```json\n{"label": "negative"}\n```', "negative"),  # fenced
    ("[" * 100_000, None),               # never raises
    ("negative", "negative"),            # a server that ignored the schema: read as a free answer
    ('{"label": "nega', None),           # cut at max_tokens
    ('{"label": "great"}', None),        # no label (a schema the server did not enforce)
    ('{"sentiment": "negative"}', None),
])
def test_the_scorer_reads_the_label_inside_the_json(tmp_path, answer, predicted):
    suite = _suite(tmp_path)
    case = suite.cases[1]
    model = _model("local[constrained=true]")
    p = CLASSIFICATION.prepare(suite, case, model)
    s = CLASSIFICATION.score(suite, case, p, Outcome(calls=[], response={}, output_text=answer))
    assert s.details["predicted"] == predicted and s.passed is (predicted == "negative")
    assert s.details["response_format_used"] == "labels" and s.details["unparsed"] is (predicted is None)


def test_a_free_answer_in_json_is_not_a_label(tmp_path):
    """Free answers keep the rules they were recorded under: JSON there is no label."""
    suite = _suite(tmp_path)
    p = CLASSIFICATION.prepare(suite, suite.cases[1], _model("local"))
    s = CLASSIFICATION.score(suite, suite.cases[1], p, Outcome(calls=[], response={}, output_text='{"label": "negative"}'))
    assert s.details["predicted"] is None and s.details["response_format_used"] == "none"


def test_extraction_through_its_schema_on_each_wire(tmp_path):
    suite = _suite(tmp_path, EXTRACTION_SUITE, "e.yaml")
    case = suite.cases[0]
    local = EXTRACTION.prepare(suite, case, _model("local"))
    assert "response_format" not in local.request and local.state["degraded"] is True
    local_c = EXTRACTION.prepare(suite, case, _model("local[constrained=true]"))
    assert local_c.request["response_format"] == {"type": "json_object", "schema": suite.json_schema}
    assert local_c.state["response_format_used"] == "json_schema" and "degraded" not in local_c.state
    seed = EXTRACTION.prepare(suite, case, _model("seed-1-8-251228"))  # the suite asked json_object
    assert seed.request["response_format"] == {"type": "json_object"}
    seed_c = EXTRACTION.prepare(suite, case, _model("seed-1-8-251228[constrained=true]"))
    assert seed_c.request["response_format"]["type"] == "json_schema"
    assert seed_c.request["response_format"]["json_schema"]["schema"] == suite.json_schema
    schema_suite = _suite(tmp_path, EXTRACTION_SUITE.replace("json_object", "json_schema"), "f.yaml")
    free = EXTRACTION.prepare(schema_suite, case, _model("seed-1-8-251228[constrained=false]"))
    assert free.request["response_format"] == {"type": "json_object"} and "degraded" not in free.state


def test_free_and_constrained_side_by_side_against_a_server(cli, tmp_path):
    """One run, two models of one id: the constrained one sends the schema and is scored on the
    label inside the JSON; rows, requests and runs.config say which was which."""
    suite = write_suite(tmp_path / "suites", "s.yaml", SUITE)

    def answer(body):
        from evalseed.testing.stub_server import Reply

        text = body["messages"][-1]["content"]
        label = "positive" if "great" in text else "negative"
        # A model that rambles when free and gives the label when constrained.
        return Reply(content=json.dumps({"label": label}) if body.get("response_format") else f"I think {label}")

    with StubServer(responder=answer) as srv:
        db = tmp_path / "r.duckdb"
        code, _, err = cli("run", suite, "--models", "seed-1-8-251228,seed-1-8-251228[constrained=true]",
                           "--base-url", srv.base_url, "--db", db, "--no-progress")
        assert code == 0, err
        formats = sorted(json.dumps(b.get("response_format"), sort_keys=True) for b in srv.bodies())
    assert formats.count("null") == 2 and len(formats) == 4
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("SELECT model, sum(passed::INT), any_value(details->>'$.response_format_used') FROM results "
                      "GROUP BY model ORDER BY model").fetchall()
    table = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])["model_table"]
    con.close()
    assert got == [("seed-1-8-251228", 0, "none"), ("seed-1-8-251228[constrained=true]", 2, "labels")]
    assert table["seed-1-8-251228[constrained=true]"]["base_model"] == "seed-1-8-251228"


def test_patterns_llama_cpp_cannot_take_are_left_out_of_the_grammar_schema():
    """llama-cpp-python 0.3.36 turns `\\d` in a pattern into a grammar llama.cpp cannot parse, and
    its server then dies with SIGSEGV (measured on the invoices suite): such patterns are not sent
    on the json_object wire, the row says which, and the answer is still checked against them."""
    from conftest import ROOT

    suite = load_suites([ROOT / "suites" / "invoices-extraction.yaml"])[0]
    case = suite.cases[0]
    p = EXTRACTION.prepare(suite, case, _model("local[constrained=true]"))
    sent = p.request["response_format"]["schema"]
    assert "\\" not in json.dumps(sent)
    assert p.state["patterns_not_sent"] == ["properties.issue_date.pattern", "properties.due_date.pattern"]
    assert sent["properties"]["currency"]["pattern"] == "^[A-Z]{3}$"  # no escape: kept
    seed = EXTRACTION.prepare(suite, case, _model("seed-1-8-251228"))
    assert seed.request["response_format"]["json_schema"]["schema"] == suite.json_schema  # whole, on json_schema
    s = EXTRACTION.score(suite, case, p, Outcome(calls=[], response={}, output_text=json.dumps(
        {**case.expected, "issue_date": "3 March 2024"})))
    assert s.details["schema_valid"] is False and s.details["patterns_not_sent"] == p.state["patterns_not_sent"]
    gbnf = pytest.importorskip("llama_cpp.llama_grammar").json_schema_to_gbnf
    assert "\\d" in gbnf(json.dumps(suite.json_schema)) and "\\d" not in gbnf(json.dumps(sent))


def test_a_server_dead_on_a_grammar_is_not_blamed_on_the_cpu_build(tmp_path):
    import signal

    from evalseed.local_model import LocalServer

    class Dead:
        def poll(self):
            return -signal.SIGSEGV

    log = tmp_path / "llama.log"
    log.write_text("parse: error parsing grammar: unknown escape at \\d\\d\nfailed to parse grammar\n"
                   "Llama.generate: 4 prefix-match hit, remaining 130 prompt tokens to eval\n")
    why = LocalServer(Dead(), "http://127.0.0.1:1/v1", _model("local"), log).failure()
    assert "killed by signal SIGSEGV" in why and "could not parse the grammar" in why
    assert "tuned to another CPU" not in why
    log.write_text("llama_perf_context_print: eval time\n")
    assert "tuned to another CPU" in LocalServer(Dead(), "http://127.0.0.1:1/v1", _model("local"), log).failure()
