"""`kind: long_context`: validation (paths may not leave the suite's folder), lazy grids, needle
placement, scoring, skipping over the context window, heat-map metrics, and a run end to end
against the stub server."""

from __future__ import annotations

import json
import re
import tracemalloc
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalseed import tokens
from evalseed.config import BUILTIN_MODELS
from evalseed.errors import UsageError
from evalseed.kinds.long_context import kind as lc
from evalseed.kinds.base import CallResult, Outcome
from evalseed.suites.loader import load_suite_file
from evalseed.testing.stub_server import Reply

from conftest import ROOT
from helpers import write_suite

KIND = lc.KIND
SEED18 = BUILTIN_MODELS["seed-1-8-251228"]
FLASH = BUILTIN_MODELS["seed-1-6-flash-250715"]
GEMMA = BUILTIN_MODELS["gemma-3-270m"]  # 32,768-token window

NEEDLE = "The ferry pass for the harbour at Quillon Reach is numbered QX-7731."
GRID_SUITE = f"""
name: needles
kind: long_context
params: {{temperature: 0, max_tokens: 64}}
needle: "{NEEDLE}"
question: "What is the number of the ferry pass for the harbour at Quillon Reach?"
expected: QX-7731
grid: {{tokens: [1000, 40000], depths: [0, 0.5, 1]}}
cases:
  - id: spec
    document: docs/spec.md
    question: What is the p99 latency guarantee?
    expected: [120 ms, 120 milliseconds]
"""
SPEC = "# Spec\n\nThe p99 latency guarantee for reads is 120 ms within one region.\n"


def load(tmp_path: Path, text: str = GRID_SUITE, name: str = "lc.yaml"):
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "spec.md").write_text(SPEC, encoding="utf-8")
    return load_suite_file(write_suite(tmp_path, name, text))


# ---- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("path, words", [
    ("../../etc/passwd", "leads outside the suite's folder"),
    ("docs/../../secret.txt", "leads outside the suite's folder"),
    ("/etc/passwd", "absolute path"),
    ("docs/missing.md", "no such file"),
])
def test_document_paths_may_not_escape_the_suite_folder(tmp_path, path, words):
    text = GRID_SUITE.replace("document: docs/spec.md", f"document: {path}")
    with pytest.raises(UsageError) as e:
        load(tmp_path, text)
    msg = str(e.value)
    assert "lc.yaml:10 cases[0].document.file" in msg and words in msg
    assert "\n" not in msg


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    suite_dir = tmp_path / "suites"
    (suite_dir / "docs").mkdir(parents=True)
    (suite_dir / "docs" / "spec.md").write_text(SPEC, encoding="utf-8")
    (suite_dir / "docs" / "link.md").symlink_to(outside)
    text = GRID_SUITE.replace("document: docs/spec.md", "document: docs/link.md")
    with pytest.raises(UsageError, match="via a link"):
        load_suite_file(write_suite(suite_dir, "lc.yaml", text))


def test_haystack_path_is_checked_too(tmp_path):
    with pytest.raises(UsageError, match="haystack: '../h.txt' leads outside"):
        load(tmp_path, GRID_SUITE + "haystack: ../h.txt\n")


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace('needle: "', 'needle_typo: "'), "needle_typo: unknown key"),
    (lambda t: re.sub(r"needle: .*\n", "", t), "needle: field required with grid"),
    (lambda t: t.replace("depths: [0, 0.5, 1]", "depths: [0, 1.5]"), "1.5 is not a depth"),
    (lambda t: t.replace("tokens: [1000, 40000]", "tokens: [50]"), "50 is not a usable length"),
    (lambda t: t.replace("expected: QX-7731", "expected: '!!'"), "empty once normalised"),
    (lambda t: t.replace("expected: QX-7731", "expected: Quillon"), None),
    (lambda t: t + "messages:\n  - {role: user, content: 'Q: {{ question }}'}\n", "no message uses {{ document }}"),
])
def test_bad_suites_are_refused_with_a_reason(tmp_path, edit, words):
    text = edit(GRID_SUITE)
    if words is None:
        load(tmp_path, text)  # a word the haystack lacks is a fine answer
        return
    with pytest.raises(UsageError) as e:
        load(tmp_path, text)
    assert words in str(e.value)


def test_an_answer_already_in_the_haystack_is_refused(tmp_path):
    with pytest.raises(UsageError, match="the haystack already contains 'the river'"):
        load(tmp_path, GRID_SUITE.replace("expected: QX-7731", "expected: the river"))


def test_bundled_suites_validate():
    for name in ("long-context-spec.yaml", "long-context-needle.yaml"):
        suite = load_suite_file(ROOT / "suites" / name)
        cases = list(KIND.cases(suite))
        assert len(cases) >= 15
    needle = load_suite_file(ROOT / "suites" / "long-context-needle.yaml")
    assert max(needle.grid.tokens) == 120_000 and len(needle.grid.depths) == 5


# ---- cases, documents, needles ----------------------------------------------------------------


def test_grid_cases_are_generated_lazily_with_stable_ids(tmp_path):
    suite = load(tmp_path)
    it = KIND.cases(suite)
    assert iter(it) is it  # a generator, not a list built up front
    ids = [c.id for c in it]
    assert ids == ["spec", "needle-1000-at-000", "needle-1000-at-050", "needle-1000-at-100",
                   "needle-40000-at-000", "needle-40000-at-050", "needle-40000-at-100"]
    # The metrics read a cell back from the id (error rows lack the grid details).
    from evalseed.kinds.long_context.metrics import GRID_ID_PATTERN

    cells = [re.match(GRID_ID_PATTERN, i) for i in ids[1:]]
    assert [(int(m.group(1)), int(m.group(2)) / 100) for m in cells] == [
        (t, d) for t in (1000, 40000) for d in (0.0, 0.5, 1.0)]
    assert re.match(GRID_ID_PATTERN, "spec") is None


@settings(max_examples=150, deadline=None)
@given(st.floats(min_value=0.0, max_value=1.0), st.integers(min_value=200, max_value=20_000))
def test_needle_is_inserted_once_near_its_depth(depth, chars):
    filler = lc._filler(str(lc._BUILTIN_PATH), chars)
    doc = lc.insert_needle(filler, NEEDLE, depth)
    assert doc.count(NEEDLE) == 1
    assert doc.replace(NEEDLE + " ", "", 1).replace(" " + NEEDLE, "", 1) == filler
    pos = doc.index(NEEDLE) / max(1, len(filler))
    # Sentences in the haystack are short: the needle lands within one sentence of its depth.
    assert abs(pos - depth) <= 400 / len(filler) + 1e-9


def test_filler_is_cut_to_length_at_a_sentence_end():
    src = lc._source_text(str(lc._BUILTIN_PATH))
    for chars in (5_000, len(src) + 7_000, 3 * len(src)):  # below, above and far above one copy
        f = lc._filler(str(lc._BUILTIN_PATH), chars)
        assert 0.9 * chars <= len(f) <= chars
        assert f.endswith(".")


def test_prepare_sizes_the_prompt_in_tokens_and_builds_the_document_only_to_send(tmp_path):
    suite = load(tmp_path)
    case = next(c for c in KIND.cases(suite) if c.id == "needle-40000-at-050")
    p = KIND.prepare(suite, case, SEED18)
    assert p.skip_reason is None
    assert p.est_prompt_tokens == pytest.approx(40_000, abs=5)
    assert p.max_output_tokens == 64
    assert p.state["detail_target_tokens"] == 40_000 and p.state["detail_depth"] == 0.5
    # Nothing of the document is held by the prepared case.
    assert len(json.dumps(p.request)) < 500 and len(p.input_text) < 300
    messages = KIND.build_messages(suite.messages, p)
    user = messages[-1]["content"]
    assert NEEDLE in user and user.rstrip().endswith("Quillon Reach?")
    assert tokens.DEFAULT_RATIO.estimate_messages(messages) == pytest.approx(40_000, rel=0.01)


def test_over_the_context_window_is_skipped_with_the_figures(tmp_path):
    suite = load(tmp_path)
    case = next(c for c in KIND.cases(suite) if c.id == "needle-40000-at-000")
    p = KIND.prepare(suite, case, GEMMA)
    assert p.skip_reason == ("prompt of about 40,000 tokens (default 4.00 chars/token) + max_tokens 64 + a margin "
                             "of 2,000 (5% for the estimate) exceeds the 32,768-token context window of gemma-3-270m")
    small = next(c for c in KIND.cases(suite) if c.id == "needle-1000-at-000")
    assert KIND.prepare(suite, small, GEMMA).skip_reason is None


def test_the_margin_keeps_room_for_the_estimates_error_and_the_chain_of_thought():
    from dataclasses import replace

    from evalseed.kinds.long_context import THINKING_RESERVE, window_margin

    thinker = replace(GEMMA, thinking=True)
    assert window_margin(100_000, {"max_tokens": 64}, GEMMA)[0] == 5_000
    assert window_margin(100_000, {"max_tokens": 64}, thinker)[0] == 5_000 + THINKING_RESERVE
    for off in ({"thinking": {"type": "disabled"}}, {"reasoning_effort": "minimal"}, {"max_completion_tokens": 900}):
        assert window_margin(100_000, off, thinker)[0] == 5_000


def test_a_learned_ratio_changes_sizes_and_skips(tmp_path):
    # A 120,000-character document: about 30,000 tokens at the default, which fits 32,768...
    text = GRID_SUITE.replace("docs/spec.md", "docs/big.md")
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "big.md").write_text("The river bends west. " * 5_455, encoding="utf-8")
    suite = load(tmp_path, text)
    spec = next(c for c in KIND.cases(suite) if c.id == "spec")
    assert KIND.prepare(suite, spec, GEMMA).skip_reason is None
    grid = next(c for c in KIND.cases(suite) if c.id == "needle-40000-at-050")
    default_chars = KIND.prepare(suite, grid, GEMMA).state["filler_chars"]
    # ...but this model's tokenizer turned out 25% denser: now it does not fit.
    denser = replace(GEMMA, token_ratio=tokens.TokenRatio(scale=1.25, rows=9, source="learned"))
    p = KIND.prepare(suite, spec, denser)
    assert p.skip_reason and "3.20 chars/token learned from 9 earlier results" in p.skip_reason
    # Grid documents shrink in characters so their length in tokens stays the target.
    assert KIND.prepare(suite, grid, denser).state["filler_chars"] == pytest.approx(default_chars / 1.25, rel=0.02)
    # The ratio travels with the model it was given to: the table's entry is untouched.
    assert KIND.prepare(suite, spec, GEMMA).skip_reason is None


def test_a_120k_grid_for_three_models_holds_one_haystack_per_length(tmp_path):
    suite = load_suite_file(ROOT / "suites" / "long-context-needle.yaml")
    models = [SEED18, FLASH, BUILTIN_MODELS["seed-1-6-250915"]]
    lc._filler.cache_clear()
    lc._source_text.cache_clear()
    lc._source_stats.cache_clear()
    one_copy = 120_000 * 4  # characters (bytes: the haystack is ASCII) of the longest document
    tracemalloc.start()
    try:
        prepared = [(c, m, KIND.prepare(suite, c, m)) for c in KIND.cases(suite) for m in models]
        _, peak_prepare = tracemalloc.get_traced_memory()
        assert len(prepared) == 6 * 5 * 3
        # Preparing all 90 cases holds no document: only the source text, loaded once.
        assert peak_prepare < 1.5 * len(lc._source_text(str(lc._BUILTIN_PATH))) + 2_000_000
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        # Sending them one after another (as one worker does) cuts each length once.
        for _case, _model, p in prepared:
            messages = KIND.build_messages(suite.messages, p)
            assert suite.needle in messages[-1]["content"]
            del messages
        _, peak_send = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    info = lc._filler.cache_info()
    assert info.misses <= 6 * len(models)  # at most one cut per length (and ratio), never per depth
    assert info.currsize <= 2
    # At the peak: the cached fillers of two lengths (120k and 64k: 1.53 copies), plus the one
    # request in flight (its document with the needle, and the rendered message: 2 copies). Holding
    # a document per depth or per model would be 15 copies of the 120k length alone.
    assert peak_send - before < 4 * one_copy


# ---- scoring ------------------------------------------------------------------------------------


@pytest.mark.parametrize("output, expected, contained", [
    ("The pass is numbered QX-7731.", "QX-7731", True),
    ("qx 7731", "QX-7731", True),
    ("QX-77310", "QX-7731", False),
    ("It is 42.", "4", False),
    ("The guarantee is 120 milliseconds at p99.", "120 milliseconds", True),
    ("备份文件保留三十天。", "三十天", True),
    ("备份文件保留三十一天。", "三十天", False),
    ("", "QX-7731", False),
])
def test_containment(output, expected, contained):
    assert lc.contains_answer(output, expected) is contained


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=80), st.text(max_size=80))
def test_an_answer_contains_itself_and_f1_is_symmetric(answer, other):
    if lc.answer_tokens(answer):
        assert lc.contains_answer(f"Answer: {answer}.", answer)
        assert lc.token_f1(answer, answer) == 1.0
    assert lc.token_f1(answer, other) == pytest.approx(lc.token_f1(other, answer))
    assert 0.0 <= lc.token_f1(answer, other) <= 1.0


def _scored(suite, case_id, model, answer, prompt_tokens=None):
    case = next(c for c in KIND.cases(suite) if c.id == case_id)
    p = KIND.prepare(suite, case, model)
    call = CallResult(request={}, response={}, prompt_tokens=prompt_tokens)
    return KIND.score(suite, case, p, Outcome(calls=[call], response={"content": answer}, output_text=answer))


def test_score_details_hold_expected_target_depth_and_real_tokens(tmp_path):
    suite = load(tmp_path)
    s = _scored(suite, "needle-1000-at-050", SEED18, "QX-7731", prompt_tokens=1_130)
    assert s.passed and s.score == 1.0
    d = s.details
    assert d["expected"] == "QX-7731" and d["target_tokens"] == 1000 and d["depth"] == 0.5
    assert d["prompt_tokens"] == 1_130 and d["tokens_vs_target"] == 1.13 and d["contains"] is True
    miss = _scored(suite, "spec", SEED18, "It is 120 seconds.")
    assert not miss.passed and 0 < miss.score < 1 and miss.details["f1"] == pytest.approx(miss.score, abs=1e-4)
    assert miss.details["expected"] == ["120 ms", "120 milliseconds"]


def test_heat_map_metrics_count_skips_per_cell():
    def row(case_id, status, passed=None, depth=None, t=None, f1=0.0):
        details = {"f1": f1}
        if t is not None:
            details.update(target_tokens=t, depth=depth)
        return {"case_id": case_id, "status": status, "passed": passed, "details": details, "prompt_tokens": t}

    rows = [
        row("needle-1000-at-000", "ok", True, 0.0, 1000, 1.0),
        row("needle-1000-at-000", "ok", False, 0.0, 1000, 0.5),
        row("needle-1000-at-100", "ok", True, 1.0, 1000, 1.0),
        row("needle-64000-at-000", "skipped", None, 0.0, 64000),
        {"case_id": "needle-64000-at-100", "status": "error", "details": {"expected": "x"}},  # id only
        row("spec", "ok", True, f1=1.0),
    ]
    m = KIND.suite_metrics(rows)
    # Cases asked: 1000-at-000 (1 of 2), 1000-at-100, 64000-at-100 (an error: failed), spec.
    assert (m["cases"], m["ok"], m["skipped"], m["errors"]) == (5, 4, 1, 1)
    assert m["accuracy"] == (0.5 + 1 + 0 + 1) / 4 and m["mean_f1"] == (0.75 + 1 + 0 + 1) / 4
    assert m["explicit"] == {"n": 1, "accuracy": 1.0}
    hm = m["heatmap"]
    assert hm["lengths"] == [1000, 64000] and hm["depths"] == [0.0, 1.0]
    cells = {(c["tokens"], c["depth"]): c for c in hm["cells"]}
    assert cells[(1000, 0.0)]["accuracy"] == 0.5 and cells[(1000, 0.0)]["mean_f1"] == 0.75
    assert cells[(64000, 0.0)] == {"tokens": 64000, "depth": 0.0, "n": 0, "passed": 0, "skipped": 1, "errors": 0,
                                   "accuracy": None, "mean_f1": None, "mean_prompt_tokens": None}
    assert cells[(64000, 1.0)]["errors"] == 1 and cells[(64000, 1.0)]["accuracy"] == 0.0


# ---- end to end -----------------------------------------------------------------------------------


def reading_responder(body: dict) -> Reply:
    """Answers from what the request really contains: the pass number only if the needle is there."""
    text = "\n".join(m.get("content") or "" for m in body.get("messages") or [])
    m = re.search(r"numbered (QX-\d+)", text)
    if m:
        return Reply(content=f"The pass is numbered {m.group(1)}.")
    if "120 ms" in text:
        return Reply(content="120 ms")
    return Reply(content="I cannot find it.")


def test_run_end_to_end_with_skips_visible(cli, stub, tmp_path):
    srv = stub(responder=reading_responder)
    suite_dir = tmp_path / "suites"
    (suite_dir / "docs").mkdir(parents=True)
    (suite_dir / "docs" / "spec.md").write_text(SPEC, encoding="utf-8")
    p = write_suite(suite_dir, "lc.yaml", GRID_SUITE)
    db = tmp_path / "lc.duckdb"
    code, out, err = cli("run", p, "--base-url", srv.base_url, "--models", "seed-1-8-251228,gemma-3-270m",
                         "--db", db, "--no-progress", "--out-dir", tmp_path / "runs")
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = {(r[0], r[1]): r[2:] for r in con.execute(
            "SELECT case_id, model, status, error, passed, prompt_tokens, details, request FROM results").fetchall()}
    finally:
        con.close()
    assert len(rows) == 7 * 2
    # gemma's window is 32,768: its 40,000-token cells are skipped, visibly and with the reason.
    for depth in ("000", "050", "100"):
        status, error, passed, pt, details, request = rows[(f"needle-40000-at-{depth}", "gemma-3-270m")]
        assert status == "skipped" and "exceeds the 32,768-token context window of gemma-3-270m" in error
        d = json.loads(details)
        assert d["target_tokens"] == 40_000 and d["skip_reason"] == error and d["expected"] == "QX-7731"
    assert srv.count("/chat/completions") == 14 - 3
    for (case_id, model), (status, error, passed, pt, details, request) in rows.items():
        if status == "skipped":
            continue
        assert status == "ok" and passed, (case_id, model, error)
        d = json.loads(details)
        if case_id.startswith("needle-"):
            # The real prompt_tokens (the stub counts 4 characters a token) beside the target.
            assert pt == d["prompt_tokens"] and abs(pt - d["target_tokens"]) / d["target_tokens"] < 0.02
            body = json.loads(request)
            user = body["messages"][-1]["content"]
            # Within a sentence (and the question after the document) of the asked depth.
            assert abs(user.index(NEEDLE) / len(user) - d["depth"]) < 400 / len(user)
    # The stored request is the one sent, document included.
    sent = {b["messages"][-1]["content"].count("Quillon Reach is numbered") for b in srv.bodies()}
    assert sent == {0, 1}


def test_bundled_needle_suite_dry_run(cli, tmp_path):
    code, out, err = cli("run", ROOT / "suites" / "long-context-needle.yaml", "--models",
                         "seed-1-8-251228,gemma-3-270m", "--base-url", "http://127.0.0.1:9/v1",
                         "--db", tmp_path / "d.duckdb", "--dry-run", "--json")
    assert code == 0, err
    by_model = {r["model"]: r for r in json.loads(out)["results"]}
    # The suite sends gemma only its 1,000-token cells (prompt_token_limits 2,048): 5 sent, 25 skipped.
    gemma = by_model["gemma-3-270m"]
    assert (gemma["requests"], gemma["skipped"], gemma["est_prompt_tokens"]) == (5, 25, 5_000), gemma
    seed = by_model["seed-1-8-251228"]
    assert (seed["requests"], seed["skipped"], seed["est_prompt_tokens"]) == (30, 0, 1_185_000), seed


def test_prompt_token_limits_skip_long_cases_for_a_slow_model(tmp_path):
    suite = load(tmp_path, GRID_SUITE + "prompt_token_limits: {gemma-3-270m: 2048, seed-1-6-flash: 30000}\n")
    long_case = next(c for c in KIND.cases(suite) if c.id == "needle-40000-at-050")
    short = next(c for c in KIND.cases(suite) if c.id == "needle-1000-at-050")
    assert KIND.prepare(suite, short, GEMMA).skip_reason is None
    # By family name too; the context window reason comes first when both apply.
    assert KIND.prepare(suite, long_case, FLASH).skip_reason == (
        "prompt of about 40,000 tokens (default 4.00 chars/token) is over the suite's prompt_token_limits "
        "of 30,000 for seed-1-6-flash-250715")
    assert "context window" in KIND.prepare(suite, long_case, GEMMA).skip_reason
    assert KIND.prepare(suite, long_case, SEED18).skip_reason is None
    with pytest.raises(UsageError, match="prompt_token_limits.gemma-3-270m: give the longest prompt"):
        load(tmp_path, GRID_SUITE + "prompt_token_limits: {gemma-3-270m: 0}\n")


def test_an_answer_reciting_the_document_does_not_pass(tmp_path):
    suite = load(tmp_path)
    case = next(c for c in KIND.cases(suite) if c.id == "needle-1000-at-000")
    p = KIND.prepare(suite, case, GEMMA)
    prompt = KIND.build_messages(suite.messages, p)[-1]["content"]
    # What the base model did on this machine: the prompt back, needle first, cut at 64 tokens.
    echo = prompt[:250]
    assert "QX-7731" in echo
    s = KIND.score(suite, case, p, Outcome(calls=[], response={}, output_text=echo))
    assert not s.passed and s.score == 0.0 and s.details["echoed_document"]
    assert s.details["copied_chars"] >= 80
    # Quoting the needle sentence and repeating the question is a fair answer.
    fair = f"{suite.question} {NEEDLE} So the answer is QX-7731."
    s = KIND.score(suite, case, p, Outcome(calls=[], response={}, output_text=fair))
    assert s.passed and s.details["copied_chars"] == 0 and "echoed_document" not in s.details
    # So is quoting the sentence of a document that answers; reciting the document is not.
    doc = "\n".join(f"Section {i}. The retention period for class {i} records is {i + 3} days." for i in range(40))
    text = GRID_SUITE.replace("document: docs/spec.md", "document: {text: " + json.dumps(doc) + "}")
    suite = load(tmp_path, text.replace("What is the p99 latency guarantee?", "How long are class 7 records kept?")
                 .replace("[120 ms, 120 milliseconds]", "10 days"))
    spec = next(c for c in KIND.cases(suite) if c.id == "spec")
    ps = KIND.prepare(suite, spec, SEED18)
    quote = "Section 7. The retention period for class 7 records is 10 days."
    assert KIND.score(suite, spec, ps, Outcome(calls=[], response={}, output_text=quote)).passed
    recited = doc[doc.index("Section 5."):][:600]
    assert "10 days" in recited
    s = KIND.score(suite, spec, ps, Outcome(calls=[], response={}, output_text=recited))
    assert not s.passed and s.details["echoed_document"] and s.details["copied_chars"] >= 400


def test_unreadable_documents_are_suite_errors(tmp_path):
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "latin1.md").write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(UsageError, match=r"lc.yaml:10 cases\[0\].document.file: cannot read 'docs/latin1.md' as "
                                         r"UTF-8 text \(not UTF-8 at byte 3\)"):
        load(tmp_path, GRID_SUITE.replace("docs/spec.md", "docs/latin1.md"))
    (tmp_path / "h.txt").write_text("   \n", encoding="utf-8")
    with pytest.raises(UsageError, match="haystack: cannot use 'h.txt' as a haystack"):
        load(tmp_path, GRID_SUITE + "haystack: h.txt\n")


def test_a_document_name_too_long_for_the_file_system_is_one_clear_line(tmp_path):
    from evalseed.kinds.long_context import check_relative_path

    with pytest.raises(ValueError, match="cannot be read"):
        check_relative_path("é" * 10_000, str(tmp_path))
