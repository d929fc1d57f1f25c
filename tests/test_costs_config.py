"""Prices, tiers, model table overrides, version bumps."""

from __future__ import annotations

import pytest

from evalseed.config import load_config
from evalseed.costs import chat_cost, image_cost, worst_case_cost
from evalseed.errors import UsageError


def test_chat_cost_tiers_cache_and_reasoning():
    cfg = load_config(None)
    m = cfg.resolve_model("seed-1-6-250915")
    # 1,000 prompt tokens (200 cached), 500 completion tokens (reasoning included, billed as output)
    assert chat_cost(m, 1000, 500, 200) == pytest.approx((800 * 0.25 + 200 * 0.05 + 500 * 2.0) / 1e6)
    # Above 128K the long tier applies to input and output.
    assert chat_cost(m, 200_000, 100, None) == pytest.approx((200_000 * 0.50 + 100 * 4.0) / 1e6)
    assert chat_cost(m, None, 5) is None
    assert worst_case_cost(m, 100, 1000) == pytest.approx((100 * 0.25 + 1000 * 2.0) / 1e6)
    assert image_cost(cfg.resolve_model("seedream-4-5-251128"), 3) == pytest.approx(0.12)


def test_evalseed_yaml_overrides(tmp_path):
    p = tmp_path / "evalseed.yaml"
    p.write_text(
        "provider: ark\n"
        "models:\n  seed-1-6-250915: {prices: {input: 0.3}}\n  my-model: {context_window: 8192, prices: {input: 1, output: 2}}\n"
        "model_sets:\n  cheap: [seed-1-6-flash-250715, my-model]\n"
        "providers:\n  vllm: {base_url: 'http://127.0.0.1:8000/v1', api_key_env: VLLM_KEY}\n"
    )
    cfg = load_config(p)
    assert cfg.default_provider == "ark"
    assert cfg.models["seed-1-6-250915"].prices.input == 0.3
    assert cfg.models["seed-1-6-250915"].prices.output == 2.0  # untouched
    assert cfg.expand_models("cheap,seed-1-8-251228") == ["seed-1-6-flash-250715", "my-model", "seed-1-8-251228"]
    assert cfg.provider("vllm").base_url.startswith("http://127.0.0.1")


def test_bad_config_is_one_clear_error(tmp_path):
    p = tmp_path / "evalseed.yaml"
    p.write_text("models:\n  seed-1-6-250915: {prices: {inptu: 0.3}}\n")
    with pytest.raises(UsageError, match="unknown price key"):
        load_config(p)


def test_version_bump_inherits_family_and_says_so():
    cfg = load_config(None)
    m = cfg.resolve_model("seed-1-6-260301")
    assert m.inherited_from == "seed-1-6-250915"
    assert m.prices == cfg.models["seed-1-6-250915"].prices and m.context_window == 131_072
    assert "seed-1-6-260301" in cfg.notices[0]
    flash = cfg.resolve_model("seed-1-6-flash-260301")
    assert flash.inherited_from == "seed-1-6-flash-250715" and not flash.structured_output
    with pytest.raises(UsageError):
        cfg.resolve_model("gpt-9-260301")


def test_ark_context_window_for_seed_1_8():
    cfg = load_config(None)
    m = cfg.effective_model(cfg.resolve_model("seed-1-8-251228"), cfg.provider("ark"))
    assert m.context_window == 262_144


def test_free_model_costs_zero_without_usage_and_output_cap_is_recorded():
    from evalseed.kinds.base import chat_body
    from evalseed.suites.spec import BaseSuite

    cfg = load_config(None)
    gemma = cfg.resolve_model("gemma-3-270m")
    assert chat_cost(gemma, None, None) == 0.0
    suite = BaseSuite(name="s", kind="classification", params={"max_tokens": 800, "thinking": {"type": "enabled"}})
    body, notes = chat_body(suite, gemma, [])
    assert body["max_tokens"] == gemma.output_token_cap and "thinking" not in body
    assert notes == ["thinking", f"max_tokens=800 (capped at {gemma.output_token_cap} for gemma-3-270m)"]
    seed = cfg.resolve_model("seed-1-8-251228")
    body, notes = chat_body(suite, seed, [])
    assert body["max_tokens"] == 800 and body["thinking"] == {"type": "enabled"} and notes == []


def test_a_provider_price_override_is_what_the_run_stores_as_its_prices(cli, tmp_path, monkeypatch):
    """The audit trail (run_prices, runs.config) shows the prices cost_usd was computed from."""
    import json

    import duckdb

    from helpers import SMALL_SUITE, write_suite
    from evalseed.testing.stub_server import StubServer

    monkeypatch.setenv("MINE_KEY", "sk-mine-0123456789")
    suite = write_suite(tmp_path / "suites", "s.yaml", SMALL_SUITE)
    with StubServer(answers={"": "positive"}) as srv:
        cfg = tmp_path / "evalseed.yaml"
        cfg.write_text(f"providers:\n  mine:\n    base_url: '{srv.base_url}'\n    api_key_env: MINE_KEY\n"
                       "    prices:\n      seed-1-6-flash-250715: {input: 10.0, output: 20.0}\n")
        db = tmp_path / "r.duckdb"
        code, _, err = cli("run", suite, "--models", "seed-1-6-flash-250715", "--provider", "mine",
                           "--config", cfg, "--db", db, "--no-progress")
        assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    price = con.execute("SELECT input, output FROM run_prices WHERE model = 'seed-1-6-flash-250715'").fetchone()
    config = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])
    rows = con.execute("SELECT prompt_tokens, completion_tokens, cost_usd FROM results").fetchall()
    con.close()
    assert price == (10.0, 20.0)
    assert config["prices"]["models"]["seed-1-6-flash-250715"]["input"] == 10.0
    for prompt, completion, cost in rows:
        assert cost == pytest.approx((prompt * 10.0 + completion * 20.0) / 1e6)


def test_modelark_limits_for_seed_1_8_are_modelled():
    from evalseed.config import load_config

    cfg = load_config(None)
    on_ark = cfg.effective_model(cfg.resolve_model("seed-1-8-251228"), cfg.provider("ark"))
    on_aisa = cfg.effective_model(cfg.resolve_model("seed-1-8-251228"), cfg.provider("aisa"))
    assert (on_ark.context_window, on_ark.max_input_tokens, on_ark.max_completion_tokens) == (262_144, 229_376, 65_536)
    assert (on_aisa.context_window, on_aisa.max_input_tokens) == (131_072, None)
    bumped = cfg.effective_model(cfg.resolve_model("seed-1-8-260401"), cfg.provider("ark"))
    assert bumped.max_input_tokens == 229_376  # a version bump keeps its family's provider limits


def test_cases_over_a_providers_limits_are_skipped_with_the_figures(cli, tmp_path, monkeypatch):
    import duckdb

    from helpers import write_suite
    from evalseed.testing.stub_server import StubServer

    monkeypatch.setenv("MINE_KEY", "sk-mine-0123456789")
    suite = write_suite(tmp_path / "suites", "s.yaml", f"""
        name: limits
        kind: classification
        labels: [positive, negative]
        messages:
          - {{role: user, content: "{{{{ text }}}}"}}
        cases:
          - {{id: short, vars: {{text: "fine"}}, expected: positive}}
          - {{id: long, vars: {{text: "{'word ' * 400}"}}, expected: positive}}
        """)
    write_suite(tmp_path / "suites", "t.yaml", """
        name: thinking
        kind: classification
        labels: [positive, negative]
        params: {max_completion_tokens: 2000}
        messages:
          - {role: user, content: "{{ text }}"}
        cases:
          - {id: too-much-thinking, vars: {text: "fine"}, expected: positive}
        """)
    with StubServer(answers={"": "positive"}) as srv:
        cfg = tmp_path / "evalseed.yaml"
        cfg.write_text(f"providers:\n  mine:\n    base_url: '{srv.base_url}'\n    api_key_env: MINE_KEY\n"
                       "    limits: {seed-1-6-250915: {max_input_tokens: 200, max_completion_tokens: 1000}}\n")
        db = tmp_path / "r.duckdb"
        code, _, err = cli("run", suite.parent, "--models", "seed-1-6-250915", "--provider", "mine", "--config", cfg,
                           "--db", db, "--no-progress")
        assert code == 0, err
        assert srv.count("/v1/chat/completions") == 1  # only the case within the limits was sent
    con = duckdb.connect(str(db), read_only=True)
    rows = dict(con.execute("SELECT case_id, status || ': ' || coalesce(error, '') FROM results").fetchall())
    con.close()
    assert rows["short"] == "ok: "
    assert rows["long"].startswith("skipped: prompt of about") and "200-token input limit of seed-1-6-250915 on mine" in rows["long"]
    assert rows["too-much-thinking"] == "skipped: max_completion_tokens 2,000 is over the 1,000 that seed-1-6-250915 on mine accepts"
