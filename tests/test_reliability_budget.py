"""--budget-usd is never exceeded, counting every request in flight at its worst case, against a
server whose answers all use their whole max_tokens (the most a request is allowed to cost)."""

from __future__ import annotations


import json

import duckdb
import pytest

from evalseed.testing.stub_server import Reply, StubServer

from helpers import result_rows, select
from test_reliability_faults import FLASH, big_suite, evalseed

# seed-1-6-flash-250715: $0.075 / M input, $0.30 / M output.
MAX_TOKENS = 100_000  # $0.03 of output per answer


def worst_case_responder(body: dict) -> Reply:
    """Every answer is as long as the request allows: completion_tokens = max_tokens."""
    return Reply(content="positive", usage={"completion_tokens": int(body.get("max_tokens") or 4096)})


def _suite(tmp_path, n: int, *, thinking: str | None = "disabled"):
    path = big_suite(tmp_path, n)
    text = path.read_text(encoding="utf-8").replace("max_tokens: 4", f"max_tokens: {MAX_TOKENS}")
    if thinking:
        text = text.replace("temperature: 0", f"temperature: 0\n  thinking: {{type: {thinking}}}")
    path.write_text(text, encoding="utf-8")
    return path


def spent(db) -> tuple[float, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        total, n = con.execute("SELECT coalesce(sum(cost_usd), 0), count(*) FROM results").fetchone()
        return float(total), int(n)
    finally:
        con.close()


@pytest.mark.parametrize("budget,concurrency", [(0.05, 1), (0.5, 16), (1.0, 32), (1.0, 4)])
def test_budget_is_never_exceeded(tmp_path, budget, concurrency):
    n = 120  # $3.60 if all ran: far above every budget here
    with StubServer(responder=worst_case_responder, delay_ms=20) as srv:
        suite = _suite(tmp_path, n)
        db = tmp_path / "b.duckdb"
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress",
                        "--concurrency", concurrency, "--budget-usd", budget)
        sent = srv.count("/chat/completions")
    assert proc.returncode == 3, proc.stderr
    assert "budget" in proc.stderr and "--resume" in proc.stderr and "Traceback" not in proc.stderr
    total, rows = spent(db)
    assert total <= budget + 1e-9, f"spent ${total:.4f} of a ${budget} budget"
    # Every request sent is stored (none lost), and the guard is not trivially strict: what is
    # left unspent is less than one worst-case request per worker in flight.
    assert rows == sent
    per_request = max(r["cost_usd"] for r in result_rows(db))
    assert budget - total < per_request * (concurrency + 1)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "budget"
    con.close()


def test_resume_counts_what_the_run_already_spent(tmp_path):
    with StubServer(responder=worst_case_responder) as srv:
        suite = _suite(tmp_path, 60)
        db = tmp_path / "r.duckdb"
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress",
                        "--concurrency", "8", "--budget-usd", "0.5")
        assert proc.returncode == 3
        first, _ = spent(db)
        con = duckdb.connect(str(db), read_only=True)
        run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
        con.close()
        sent_before = srv.count()
        # Same budget: the run has already used it, so the resume may send (almost) nothing.
        proc = evalseed("run", "--resume", run_id, "--db", db, "--no-progress", "--budget-usd", "0.5")
        assert proc.returncode == 3 and "budget" in proc.stderr
        again, _ = spent(db)
        assert again <= 0.5 + 1e-9 and srv.count() - sent_before <= 1
        # A larger budget lets it go on, still within the new limit for the whole run.
        proc = evalseed("run", "--resume", run_id, "--db", db, "--no-progress", "--budget-usd", "1.2",
                        "--concurrency", "8")
        total, rows = spent(db)
    assert total <= 1.2 + 1e-9 and total > again
    assert len({r["case_id"] for r in result_rows(db)}) == rows


def test_budget_holds_when_thinking_outruns_max_tokens(tmp_path):
    # SEED_API.md: max_tokens excludes the chain of thought, so with thinking on the engine
    # reserves up to the completion limit (65,536 tokens), not max_tokens.
    # Thinking left on (the default) and a small max_tokens: the answer is short, the chain of
    # thought is not, and it is billed as output.
    def responder(body):
        return Reply(content="positive", reasoning_content="hmm " * 10,
                     usage={"completion_tokens": 20_016, "reasoning_tokens": 20_000})

    with StubServer(responder=responder) as srv:
        path = big_suite(tmp_path, 80)  # max_tokens: 4
        db = tmp_path / "t.duckdb"
        proc = evalseed("run", path, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress",
                        "--concurrency", "4", "--budget-usd", "0.05")
    # 80 answers at ~$0.006 each would cost ~$0.48: the budget stops the run (exit 3).
    assert proc.returncode == 3, proc.stderr
    total, rows = spent(db)
    assert rows >= 1, "no request was made"
    assert total <= 0.05 + 1e-9, f"spent ${total:.4f} of a $0.05 budget"


# ---- everything billed is reserved; impossible usage is not believed (issue 16) ----------------


def _rows(db, *cols) -> list[tuple]:
    return select(db, f"SELECT {', '.join(cols)} FROM results ORDER BY case_id")


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "plain"])
def test_budget_holds_when_a_suite_asks_for_several_choices(tmp_path, stream):
    # n: 8 is billed as eight answers. Reserving one (as before) let an honest server, every
    # choice at max_tokens, take the run to 5.4x its budget.
    def responder(body):
        n, max_tokens = int(body.get("n") or 1), int(body.get("max_tokens") or 4096)
        return Reply(content="positive", usage={"completion_tokens": n * max_tokens})

    with StubServer(responder=responder) as srv:
        path = big_suite(tmp_path, 60, stream=stream)
        text = path.read_text(encoding="utf-8").replace("max_tokens: 4", "max_tokens: 10000\n  n: 8")
        path.write_text(text.replace("temperature: 0", "temperature: 0\n  thinking: {type: disabled}"),
                        encoding="utf-8")
        db = tmp_path / "n.duckdb"
        proc = evalseed("run", path, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress",
                        "--concurrency", "4", "--budget-usd", "0.1")
        sent = srv.count("/chat/completions")
    assert proc.returncode == 3 and "budget" in proc.stderr, proc.stderr
    total, rows = spent(db)
    per_request = 8 * 10_000 * 0.30 / 1e6  # $0.024
    assert rows == sent and rows >= 2
    assert total <= 0.1 + 1e-9, f"spent ${total:.4f} of a $0.1 budget"
    assert 0.1 - total < per_request * 5
    # Each choice assembled on its own (streamed, they arrive interleaved): the answer is the
    # first choice, not eight run together.
    for output, response in _rows(db, "output_text", "response"):
        assert output == "positive" and len(json.loads(response)["choices"]) == 8


IMPOSSIBLE = {
    "negative-completion": ({"completion_tokens": -13_333_333}, "completion_tokens -13,333,333 is negative"),
    "negative-prompt": ({"prompt_tokens": -1_000_000}, "prompt_tokens -1,000,000 is negative"),
    "over-max-tokens": ({"completion_tokens": 5_000_000}, "completion_tokens 5,000,000 is above the 4 the request allows"),
    "over-window": ({"prompt_tokens": 50_000_000}, "prompt_tokens 50,000,000 is above the model's 131,072-token window"),
    "reasoning-over-completion": ({"completion_tokens": 3, "reasoning_tokens": 900},
                                  "reasoning_tokens 900 is above completion_tokens 3"),
}


@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_usage_no_request_can_have_is_clamped_flagged_and_stops_the_run(tmp_path, case):
    # Negative counts made the budget let every request through (and the summary print
    # -$3999.999); counts above max_tokens were charged as reported. The answer in hand is
    # stored with its usage clamped into what the request allows and the reported figures in
    # details.flags; the run stops (exit 3, one sentence): its budget rests on those figures.
    usage, problem = IMPOSSIBLE[case]
    with StubServer(responder=lambda body: Reply(content="positive", usage=usage)) as srv:
        path = big_suite(tmp_path, 40)
        path.write_text(path.read_text(encoding="utf-8").replace(
            "temperature: 0", "temperature: 0\n  thinking: {type: disabled}"), encoding="utf-8")
        db = tmp_path / "u.duckdb"
        proc = evalseed("run", path, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress",
                        "--concurrency", "1", "--budget-usd", "1")
        sent = srv.count("/chat/completions")
    assert proc.returncode == 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("evalseed: ") and "usage" in line]
    assert len(lines) == 1 and problem in lines[0] and "--resume" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert sent == 1, "the run went on after usage it could not trust"
    [(status, cost, prompt, completion, reasoning, details)] = _rows(
        db, "status", "cost_usd", "prompt_tokens", "completion_tokens", "reasoning_tokens", "details")
    flags = json.loads(details)["flags"]["untrusted_usage"]
    assert status == "ok" and flags["problems"] == [problem]
    assert all(v is None or v >= 0 for v in (prompt, completion, reasoning))
    assert completion is None or completion <= 4 + 16
    # Never negative, never more than the request was allowed to cost (a whole window, at the
    # long-prompt prices).
    assert 0 <= cost <= (131_072 * 0.10 + 4 * 0.80) / 1e6
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "aborted"
    con.close()


IMAGE_SUITE = """
name: pics
kind: image
models: [seedream-4-5-251128]
params: {size: 64x64, response_format: url}
cases:
  - {id: a, prompt: A red square.}
  - {id: b, prompt: A blue square.}
  - {id: c, prompt: A green square.}
"""


@pytest.mark.parametrize("billed", ["as-returned", "as-asked"])
def test_images_past_what_was_asked_are_neither_fetched_nor_billed(tmp_path, billed):
    # 300 images for n = 1 were all downloaded and billed ($12 against a $0.04 reservation). Only
    # the one asked for is fetched and billed; the rest is counted in details.flags. A server that
    # also bills 300 (usage.generated_images) reports usage no request can have: the run stops.
    from helpers import write_suite

    def responder(body):
        return Reply(n_images=300, usage={} if billed == "as-returned" else {"generated_images": 1})

    with StubServer(responder=responder) as srv:
        suite = write_suite(tmp_path / "suites", "img.yaml", IMAGE_SUITE)
        db = tmp_path / "i.duckdb"
        proc = evalseed("run", suite, "--base-url", srv.base_url, "--models", "seedream-4-5-251128", "--db", db,
                        "--no-progress", "--concurrency", "1", "--budget-usd", "1", "--out-dir", tmp_path / "runs")
        fetched = sum(1 for r in srv.requests if r.path.startswith("/files/"))
        asked = srv.count("/images/generations")
    rows = _rows(db, "status", "images", "cost_usd", "details")
    if billed == "as-returned":
        assert proc.returncode == 3 and "generated_images 300 is above the 1 asked for" in proc.stderr, proc.stderr
        assert asked == 1
    else:
        assert proc.returncode == 0, proc.stderr
        assert asked == 3
    assert fetched == asked == len(rows)
    for status, images, cost, details in rows:
        d = json.loads(details)
        assert status == "ok" and images == 1 and cost == pytest.approx(0.04)
        assert d["flags"]["extra_images"] == {"asked": 1, "returned": 300, "dropped": 299}
        assert len(d["images"]) == 1 and d["images"][0]["ok"]
    saved = list((tmp_path / "runs").rglob("*.jpg"))
    assert len(saved) == len(rows)


def test_a_budget_cannot_be_set_for_a_model_without_a_price(tmp_path):
    # The budget counts spend from prices: for a model it cannot price it would let every request
    # through while looking like a limit. Refused before anything is sent or stored.
    with StubServer(answers={"love": "positive"}) as srv:
        path = big_suite(tmp_path, 4)
        db = tmp_path / "p.duckdb"
        proc = evalseed("run", path, "--base-url", srv.base_url, "--models", "acme-model", "--db", db,
                        "--no-progress", "--budget-usd", "1")
        assert proc.returncode == 2
        lines = [line for line in proc.stderr.splitlines() if "--budget-usd" in line]
        assert len(lines) == 1 and "acme-model" in lines[0] and "price" in lines[0], proc.stderr
        assert srv.count() == 0 and not db.exists()
        # The same run without a budget goes ahead, its cost recorded as unknown.
        proc = evalseed("run", path, "--base-url", srv.base_url, "--models", "acme-model", "--db", db, "--no-progress")
        assert proc.returncode == 0, proc.stderr
        assert srv.count() == 4
