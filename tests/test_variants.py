"""Model variants (issue 18): one model id with different request params, side by side as models
of their own in results, priced as the base model, with the base id and params in the stored
request and in runs.config."""

from __future__ import annotations

import json

import duckdb
import pytest

from helpers import write_suite
from evalseed.config import load_config, parse_variant, split_models
from evalseed.errors import UsageError
from evalseed.testing.stub_server import StubServer

SUITE = """
name: sentiment
kind: classification
labels: [positive, negative]
params: {thinking: {type: enabled}, max_tokens: 16}
messages:
  - {role: user, content: "{{ text }}"}
cases:
  - {id: a, vars: {text: "great"}, expected: positive}
  - {id: b, vars: {text: "awful"}, expected: negative}
"""


def test_variant_specs_parse_with_commas_inside_brackets():
    assert split_models("text,seed-1-8-251228[thinking=disabled,reasoning_effort=minimal],x") == [
        "text", "seed-1-8-251228[thinking=disabled,reasoning_effort=minimal]", "x"]
    assert parse_variant("seed-1-8-251228[thinking=disabled, temperature=0.2]") == (
        "seed-1-8-251228", {"thinking": {"type": "disabled"}, "temperature": 0.2})
    assert parse_variant("seed-1-8-251228") is None
    for bad in ("seed-1-8-251228[]", "seed-1-8-251228[thinking]"):
        with pytest.raises(UsageError, match="model variant"):
            parse_variant(bad)


def test_a_variant_is_priced_and_limited_as_its_base():
    cfg = load_config(None)
    v = cfg.resolve_model("seed-1-8-251228[thinking=disabled]")
    base = cfg.resolve_model("seed-1-8-251228")
    assert (v.api_name, v.prices, v.context_window, v.family) == ("seed-1-8-251228", base.prices, base.context_window, "seed-1-8")
    on_ark = cfg.effective_model(v, cfg.provider("ark"))
    assert (on_ark.context_window, on_ark.max_input_tokens) == (262_144, 229_376)


def test_thinking_on_and_off_side_by_side(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MINE_KEY", "sk-mine-0123456789")
    suite = write_suite(tmp_path / "suites", "s.yaml", SUITE)
    with StubServer(answers={"great": "positive", "awful": "negative"}, record=True) as srv:
        cfg = tmp_path / "evalseed.yaml"
        cfg.write_text(f"providers:\n  mine: {{base_url: '{srv.base_url}', api_key_env: MINE_KEY}}\n"
                       "variants:\n  seed-1-8-fast: {model: seed-1-8-251228, params: {reasoning_effort: minimal}}\n")
        db = tmp_path / "r.duckdb"
        models = "seed-1-8-251228,seed-1-8-251228[thinking=disabled],seed-1-8-fast"
        code, _, err = cli("run", suite, "--models", models, "--provider", "mine", "--config", cfg, "--db", db,
                           "--no-progress")
        assert code == 0, err
        sent = {json.dumps([b["model"], b.get("thinking"), b.get("reasoning_effort")]) for b in srv.bodies()}
    assert sent == {json.dumps(x) for x in (["seed-1-8-251228", {"type": "enabled"}, None],
                                             ["seed-1-8-251228", {"type": "disabled"}, None],
                                             ["seed-1-8-251228", {"type": "enabled"}, "minimal"])}
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT model, count(*), sum(CASE WHEN passed THEN 1 ELSE 0 END), "
                       "min(prompt_tokens * 0.25e-6 + completion_tokens * 2e-6 - cost_usd) "
                       "FROM results GROUP BY model ORDER BY model").fetchall()
    config = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])
    request = json.loads(con.execute("SELECT request FROM results WHERE model = 'seed-1-8-fast' LIMIT 1").fetchone()[0])
    con.close()
    assert [(m, n, p) for m, n, p, _ in rows] == [("seed-1-8-251228", 2, 2), ("seed-1-8-251228[thinking=disabled]", 2, 2),
                                                 ("seed-1-8-fast", 2, 2)]
    assert all(abs(d) < 1e-12 for *_, d in rows)  # every variant at seed-1-8's prices (short prompts)
    table = config["model_table"]
    assert table["seed-1-8-251228[thinking=disabled]"]["base_model"] == "seed-1-8-251228"
    assert table["seed-1-8-251228[thinking=disabled]"]["request_params"] == {"thinking": {"type": "disabled"}}
    assert table["seed-1-8-fast"]["request_params"] == {"reasoning_effort": "minimal"}
    assert request["model"] == "seed-1-8-251228" and request["reasoning_effort"] == "minimal"


def test_base_url_moves_the_host_not_the_provider(cli, tmp_path):
    suite = write_suite(tmp_path / "suites", "s.yaml", SUITE)
    with StubServer(answers={"great": "positive", "awful": "negative"}) as srv:
        db = tmp_path / "r.duckdb"
        code, _, err = cli("run", suite, "--models", "seed-1-8-251228", "--provider", "ark", "--base-url",
                           srv.base_url, "--db", db, "--no-progress")
        assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    config = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])
    providers = {p for (p,) in con.execute("SELECT DISTINCT provider FROM results").fetchall()}
    con.close()
    assert providers == {"ark"} and config["providers"] == {"seed-1-8-251228": "ark"}
    assert config["model_table"]["seed-1-8-251228"]["context_window"] == 262_144  # ark's window, not 131,072


def test_published_rate_limits_apply_unless_the_flags_say_lower(cli, tmp_path):
    suite = write_suite(tmp_path / "suites", "s.yaml", SUITE)
    with StubServer(answers={"great": "positive", "awful": "negative"}) as srv:
        for extra, want in (([], {"rpm": 30_000, "tpm": 1_500_000}), (["--rpm", "600"], {"rpm": 600, "tpm": 1_500_000})):
            db = tmp_path / f"r{len(extra)}.duckdb"
            code, _, err = cli("run", suite, "--models", "seed-1-8-251228,seed-1-6-250915", "--base-url", srv.base_url,
                               "--db", db, "--no-progress", *extra)
            assert code == 0, err
            con = duckdb.connect(str(db), read_only=True)
            limits = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])["rate_limits"]
            con.close()
            assert limits["seed-1-8-251228"] == want
            assert limits["seed-1-6-250915"] == {"rpm": 600 if extra else None, "tpm": None}  # none published


def test_models_json_lists_variants_and_limits_per_provider(cli, tmp_path):
    cfg = tmp_path / "evalseed.yaml"
    cfg.write_text("variants:\n  seed-1-8-fast: {model: seed-1-8-251228, params: {reasoning_effort: minimal}}\n")
    code, out, err = cli("models", "--json", "--config", cfg)
    assert code == 0, err
    data = json.loads(out)
    fast = next(m for m in data["models"] if m["name"] == "seed-1-8-fast")
    assert fast["base_model"] == "seed-1-8-251228" and fast["request_params"] == {"reasoning_effort": "minimal"}
    assert data["per_provider"]["ark"]["seed-1-8-251228"]["max_input_tokens"] == 229_376
    assert data["per_provider"]["ark"]["seed-1-8-fast"]["context_window"] == 262_144
    assert data["per_provider"]["aisa"]["seed-1-8-251228"]["context_window"] == 131_072


def test_validate_json_lists_suites_and_problems(cli, tmp_path):
    good = write_suite(tmp_path / "s", "good.yaml", SUITE)
    write_suite(tmp_path / "s", "bad.yaml", SUITE.replace("name: sentiment", "name: bad").replace(
        "max_tokens: 16", "max_tokens: 16, reasoning_effort: extreme"))
    code, out, _ = cli("validate", tmp_path / "s", "--json")
    assert code == 2
    data = json.loads(out)
    assert [s["path"] for s in data["suites"]] == [str(good)] and data["suites"][0]["cases"] == 2
    (problem,) = data["problems"]
    assert problem["file"].endswith("bad.yaml") and problem["line"] == 4 and problem["key"] == "params.reasoning_effort"
    assert "one of minimal, low, medium, high" in problem["message"]
