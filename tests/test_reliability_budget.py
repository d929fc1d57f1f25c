"""--budget-usd is never exceeded, counting every request in flight at its worst case, against a
server whose answers all use their whole max_tokens (the most a request is allowed to cost)."""

from __future__ import annotations


import duckdb
import pytest

from evalseed.testing.stub_server import Reply, StubServer

from test_reliability_faults import FLASH, big_suite, evalseed, result_rows

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
