"""Token estimation: the CJK-aware default, and the per-model ratio learned from `prompt_tokens`
stored in a real DuckDB file by earlier runs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalseed import store, tokens
from evalseed.tokens import DEFAULT_RATIO, TokenRatio, count_cjk, fit_scale, learn_ratio


def test_cjk_is_counted_per_character_and_weighs_more_than_latin():
    assert count_cjk("plain ascii text") == 0
    assert count_cjk("生产数据库的备份") == 8
    assert count_cjk("カタカナ と 한국어 and Latin") == 4 + 1 + 3
    zh = "备份文件保留三十天" * 40  # 360 characters
    en = "backups are kept for thirty days " * 11  # 363 characters
    # The same number of characters is far more tokens in Chinese than in English.
    assert DEFAULT_RATIO.estimate(zh) > 2.5 * DEFAULT_RATIO.estimate(en)
    assert DEFAULT_RATIO.estimate("a" * 4000) == 1000


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(min_size=1, max_size=300))
def test_estimate_grows_with_text(a, b):
    assert DEFAULT_RATIO.estimate(a + b) >= DEFAULT_RATIO.estimate(a)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=100, max_value=500_000), st.floats(min_value=0.0, max_value=1.0),
       st.floats(min_value=0.3, max_value=3.5))
def test_chars_for_inverts_tokens(target, cjk_share, scale):
    r = TokenRatio(scale=scale, rows=5, source="learned")
    chars = r.chars_for(target, cjk_share)
    got = r.tokens(chars, int(chars * cjk_share))
    assert abs(got - target) <= max(3, target * 0.002)


def test_messages_include_template_overhead():
    msgs = [{"role": "system", "content": ""}, {"role": "user", "content": "x" * 400}]
    assert DEFAULT_RATIO.estimate_messages(msgs) == 3 + 4 + 4 + 100
    parts = [{"role": "user", "content": [{"type": "text", "text": "y" * 40}]}]
    assert DEFAULT_RATIO.estimate_messages(parts) == 3 + 4 + 10


def test_fit_scale_needs_evidence_and_refuses_wild_figures():
    assert fit_scale([]) is DEFAULT_RATIO
    assert fit_scale([(1000, 1300), (1000, 1300)]) is DEFAULT_RATIO  # too few rows
    assert fit_scale([(10, 13)] * 5) is DEFAULT_RATIO  # too few tokens in all
    assert fit_scale([(1000, 10_000)] * 5) is DEFAULT_RATIO  # 10x: not a tokenizer, a broken usage block
    r = fit_scale([(1000, 1300)] * 3)
    assert r.source == "learned" and r.rows == 3 and r.scale == pytest.approx(1.3)
    # Long prompts win over short ones when there are enough (less template noise in them).
    mixed = [(20, 60)] * 50 + [(1000, 1100)] * 3
    assert fit_scale(mixed).scale == pytest.approx(1.1)


def _row(run_id, model, content, prompt_tokens, *, provider="aisa", status="ok", tools=False, minutes=0):
    request = {"model": model, "messages": [{"role": "system", "content": "Answer briefly."},
                                            {"role": "user", "content": content}]}
    if tools:
        request["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    return {"run_id": run_id, "suite": "s", "case_id": f"c{minutes}-{len(content)}", "kind": "long_context",
            "model": model, "provider": provider, "repeat": 0, "status": status, "request": request,
            "prompt_tokens": prompt_tokens, "started_at": datetime(2026, 11, 1) + timedelta(minutes=minutes)}


def _db_with(tmp_path, rows):
    db = tmp_path / "ratios.duckdb"
    con = store.open_db(db)
    w = store.ResultWriter(con, "r1")
    for r in rows:
        w.add(r)
    w.flush()
    return con


def test_ratio_is_learned_from_stored_prompt_tokens(tmp_path):
    # A model whose tokenizer is denser than the default: 3 characters a token for English.
    rows = []
    for i, n in enumerate([2_000, 8_000, 40_000, 120_000]):
        text = "the ferry leaves at dawn " * (n // 25)
        rows.append(_row("r1", "seed-x-250101", text, round(len(text) / 3) + 15, minutes=i))
    # Another model, another ratio; error rows and tool-calling rows must not count.
    for i in range(4):
        text = "abcd" * 5_000
        rows.append(_row("r1", "other-250101", text, 5_000, minutes=10 + i))
    rows.append(_row("r1", "seed-x-250101", "z" * 50_000, 99_999, status="error", minutes=20))
    rows.append(_row("r1", "seed-x-250101", "z" * 50_000, 99_999, tools=True, minutes=21))
    con = _db_with(tmp_path, rows)
    try:
        r = learn_ratio(con, "seed-x-250101")
        assert r.source == "learned" and r.rows == 4
        assert r.chars_per_token == pytest.approx(3.0, rel=0.02)
        assert learn_ratio(con, "other-250101").chars_per_token == pytest.approx(4.0, rel=0.02)
        assert learn_ratio(con, "never-seen-250101") is DEFAULT_RATIO
        # Filtered by provider: rows from a stub server do not teach the real provider's ratio.
        assert learn_ratio(con, "seed-x-250101", provider="custom") is DEFAULT_RATIO
        learned = tokens.learn_ratios(con, {"seed-x-250101": None, "never-seen-250101": None})
        assert learned["seed-x-250101"] == r and learned["never-seen-250101"] is DEFAULT_RATIO
        assert "learned from 4 earlier results" in learned["seed-x-250101"].describe()
        # What a run records reads back as the same ratios; anything else is left to the default.
        record = {m: ratio.to_record() for m, ratio in learned.items()}
        assert tokens.ratios_from_record(record) == learned
        assert tokens.ratios_from_record(record)["never-seen-250101"] is DEFAULT_RATIO
        assert tokens.ratios_from_record({"a": {"scale": "x"}, "b": None, "c": {"scale": 0}}) == {}
        assert tokens.ratios_from_record(None) == {}
    finally:
        con.close()


def test_cjk_rows_teach_the_cjk_weight(tmp_path):
    # A tokenizer spending 1.4 tokens per Han character (twice the default 0.7).
    rows = []
    for i, n in enumerate([1_000, 3_000, 9_000]):
        text = "星海数据平台运维手册" * (n // 10)
        rows.append(_row("r1", "zh-250101", text, round(n * 1.4 + 2 * 4 + 3 + 3 * 2), minutes=i))
    con = _db_with(tmp_path, rows)
    try:
        r = learn_ratio(con, "zh-250101")
        assert r.scale == pytest.approx(2.0, rel=0.02)
        assert r.estimate("数据" * 500) == pytest.approx(1_400, rel=0.02)
    finally:
        con.close()


def test_learning_from_a_database_without_results_falls_back(tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    try:
        assert learn_ratio(con, "seed-1-8-251228") is DEFAULT_RATIO
    finally:
        con.close()


def test_a_second_run_sizes_prompts_with_the_ratio_the_first_one_measured(cli, stub, tmp_path):
    """A server whose tokenizer makes 3 characters a token: the first run is sized with the default
    (4) and overshoots its targets by a third; the second learns 3.0 from the first and hits them."""
    import json

    import duckdb

    from evalseed.testing.stub_server import Reply

    from helpers import write_suite

    def responder(body):
        chars = sum(len(m.get("content") or "") for m in body.get("messages") or [])
        return Reply(content="QX-7731", usage={"prompt_tokens": round(chars / 3) + 11})

    srv = stub(responder=responder)
    suite = write_suite(tmp_path / "suites", "needles.yaml", """
        name: needles
        kind: long_context
        params: {max_tokens: 16}
        needle: "The ferry pass for the harbour at Quillon Reach is numbered QX-7731."
        question: What is the number of the ferry pass?
        expected: QX-7731
        grid: {tokens: [2000, 8000], depths: [0.25, 0.75]}
    """)
    db = tmp_path / "t.duckdb"
    for _ in range(2):
        code, out, err = cli("run", suite, "--base-url", srv.base_url, "--models", "seed-1-8-251228", "--db", db,
                             "--no-progress", "--out-dir", tmp_path / "runs")
        assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started_at").fetchall()]
        by_run = {run: con.execute("SELECT prompt_tokens, details FROM results WHERE run_id = ?", [run]).fetchall()
                  for run in runs}
    finally:
        con.close()
    first, second = ([(pt, json.loads(d)) for pt, d in by_run[r]] for r in runs)
    assert all(d["token_ratio"] == "default 4.00 chars/token" for _, d in first)
    assert all(pt / d["target_tokens"] == pytest.approx(4 / 3, rel=0.02) for pt, d in first)
    assert all(d["token_ratio"] == "3.00 chars/token learned from 4 earlier results" for _, d in second)
    assert all(pt / d["target_tokens"] == pytest.approx(1.0, rel=0.01) for pt, d in second)
    # The second run recorded the ratio it sized with; rescore prepares its cases with that ratio
    # again (not the default, nor one learned anew from both runs' rows).
    con = duckdb.connect(str(db), read_only=True)
    try:
        config = json.loads(con.execute("SELECT config FROM runs WHERE run_id = ?", [runs[1]]).fetchone()[0])
    finally:
        con.close()
    assert config["token_ratios"]["seed-1-8-251228"]["source"] == "learned"
    assert config["token_ratios"]["seed-1-8-251228"]["rows"] == 4
    code, out, err = cli("rescore", runs[1], "--db", db)
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        rescored = [json.loads(d) for (d,) in con.execute("SELECT details FROM results WHERE run_id = ?",
                                                         [runs[1]]).fetchall()]
    finally:
        con.close()
    assert [d["token_ratio"] for d in rescored] == [d["token_ratio"] for _, d in second]
    assert sorted(d["document_chars"] for d in rescored) == sorted(d["document_chars"] for _, d in second)
