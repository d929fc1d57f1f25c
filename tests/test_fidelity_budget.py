"""Issue 18, item 8: `--dry-run` and `--budget-usd` price a case by one worst case (thinking and a
tool loop's max_steps included); a budget that cannot cover every request in flight lowers the
concurrency instead of stopping the run, which stops only when one request no longer fits; a rate
limit lowers the concurrency instead of turning requests into error rows."""

from __future__ import annotations

import json

import duckdb
import pytest

from conftest import ROOT
from helpers import result_rows, write_suite
from evalseed.config import load_config
from evalseed.engine import case_worst_case, worst_case
from evalseed.testing.stub_server import Reply, StubServer

FLASH = "seed-1-6-flash-250715"
SEED18 = "seed-1-8-251228"

ONE_CASE = """
name: one
kind: classification
labels: [positive, negative]
params: {max_tokens: 8}
messages:
  - {role: user, content: "{{ text }}"}
cases:
  - {id: a, vars: {text: "great"}, expected: positive}
"""

TOOLS = """
name: weather
kind: tool_calling
max_steps: 3
params: {max_tokens: 60000, thinking: {type: disabled}}
messages:
  - {role: user, content: "{{ q }}"}
tools:
  - type: function
    function:
      name: weather.get
      parameters:
        type: object
        properties: {city: {type: string}}
        required: [city]
tool_results:
  weather.get: {temp: 21}
cases:
  - {id: oslo, vars: {q: "Weather in Oslo?"}, expected_calls: [{weather.get: {city: [Oslo]}}]}
"""


def dry_run_total(cli, *args) -> float:
    code, out, err = cli("run", *args, "--dry-run", "--no-progress", "--json")
    assert code == 0, err
    return json.loads(out)["max_cost_usd"]


def test_dry_run_and_budget_use_one_worst_case_with_thinking(cli, tmp_path):
    suite = write_suite(tmp_path / "s", "one.yaml", ONE_CASE)
    with StubServer(answers={"great": "positive"}) as srv:
        common = (suite, "--base-url", srv.base_url, "--models", SEED18)
        figure = dry_run_total(cli, *common)
        # Thinking is on by default: the chain of thought may run to 65,536 tokens at $2/M.
        assert figure == pytest.approx(65_536 * 2.0 / 1e6, abs=2e-4)
        # A budget of exactly the dry run's figure runs the case...
        code, _, err = cli("run", *common, "--db", tmp_path / "a.duckdb", "--no-progress", "--budget-usd", f"{figure:.4f}")
        assert code == 0, err
        assert srv.count("/chat/completions") == 1
        # ...and one below it is refused before anything is sent, saying why and what was spent.
        code, _, err = cli("run", *common, "--db", tmp_path / "b.duckdb", "--no-progress",
                           "--budget-usd", f"{figure - 0.001:.4f}")
        assert code == 3
        assert srv.count("/chat/completions") == 1
        assert "worst case ($0.13" in err and "$0.0000 spent" in err and "--resume" in err


def test_dry_run_counts_every_step_of_a_tool_loop(cli, tmp_path):
    suite = write_suite(tmp_path / "s", "tools.yaml", TOOLS)
    with StubServer() as srv:
        figure = dry_run_total(cli, suite, "--base-url", srv.base_url, "--models", FLASH)
    from evalseed.kinds import get_kind
    from evalseed.suites.loader import load_suites

    (loaded,) = load_suites([str(suite)])
    kind = get_kind("tool_calling")
    model = load_config(None).resolve_model(FLASH)
    prepared = kind.prepare(loaded, loaded.cases[0], model)
    worst = case_worst_case(prepared, model)
    one = worst_case(prepared.request, model)
    assert worst.calls == 3 and figure == pytest.approx(worst.cost_usd, abs=1e-4)
    # Each later step resends the answers before it: more than three first calls.
    assert worst.cost_usd > 3 * one.cost_usd and worst.output_tokens == 3 * 60_000


def test_a_budget_that_cannot_cover_every_request_in_flight_lowers_concurrency_not_the_run(cli, tmp_path):
    # The README's example: `--models text --budget-usd 2` on the 44-case sentiment suite. With
    # thinking on, each request in flight reserves 65,536 tokens of output ($0.13 on seed-1.8):
    # 8 in flight for each of three models is more than $2, and the run used to stop after 22
    # rows having spent $0.0025.
    with StubServer(answers={"battery": "negative"}, delay_ms=20) as srv:
        db = tmp_path / "t.duckdb"
        code, out, err = cli("run", ROOT / "suites" / "review-sentiment.yaml", "--base-url", srv.base_url,
                             "--models", "text", "--db", db, "--no-progress", "--budget-usd", "2", "--concurrency", "8")
        assert code == 0, err
        rows = result_rows(db)
    models = {r["model"] for r in rows}
    assert len(rows) == 44 * len(models) and len(models) >= 3 and all(r["status"] == "ok" for r in rows)
    assert sum(r["cost_usd"] for r in rows) < 0.05
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "finished"
    con.close()


def test_a_rate_limit_lowers_concurrency_instead_of_failing_requests(cli, tmp_path):
    # The server takes 2 requests at a time and answers 429 (Retry-After 0.2 s) to any beyond;
    # each answer takes 0.1 s. With 8 in flight and 3 attempts, a fixed concurrency fails cases.
    cases = "\n".join(f"  - {{id: c{i}, vars: {{text: 'great {i}'}}, expected: positive}}" for i in range(24))
    suite = write_suite(tmp_path / "s", "many.yaml", ONE_CASE.split("cases:")[0] + "cases:\n" + cases + "\n")
    with StubServer(responder=lambda body: Reply(content="positive", delay=0.1), max_in_flight=2,
                    retry_after_s=0.2) as srv:
        db = tmp_path / "r.duckdb"
        code, _, err = cli("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db, "--no-progress",
                           "--concurrency", "8", "--max-attempts", "3")
        throttled = srv.throttled
    assert code == 0, err
    rows = result_rows(db)
    assert len(rows) == 24 and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows if r["error"]]
    assert throttled > 0 and "requests in flight lowered to 4" in err and "lowered to 2" in err
    # Every 429 was an attempt of its case, and each case was answered once.
    assert sum(r["attempts"] for r in rows) == 24 + throttled


async def _lane_limit_after_rate_limits() -> tuple[int, int]:
    from evalseed.engine.lane import AdaptiveConcurrency

    c = AdaptiveConcurrency(8)
    levels = [await c.acquire() for _ in range(8)]
    for level in levels:  # eight 429s from requests sent at 8: one halving
        c.release()
        c.rate_limited(level)
    after_one_round = c.limit
    for _ in range(2 * c.limit):
        await c.acquire()
        c.release()
        c.answered()
    return after_one_round, c.limit


def test_concurrency_halves_once_per_level_and_recovers_slowly():
    import asyncio

    assert asyncio.run(_lane_limit_after_rate_limits()) == (4, 5)
