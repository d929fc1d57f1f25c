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
