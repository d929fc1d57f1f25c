"""The tables of an evalseed database: `runs`, `results` (the founders' contract, docs/design.md)
and `run_prices`. Their DDL is here; `migrations.py` applies it in named steps."""

from __future__ import annotations

from datetime import datetime, timezone

RESULT_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "VARCHAR"),
    ("suite", "VARCHAR"),
    ("case_id", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("model", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("repeat", "INTEGER"),
    ("status", "VARCHAR"),
    ("error", "VARCHAR"),
    ("input_text", "VARCHAR"),
    ("request", "JSON"),
    ("response", "JSON"),
    ("output_text", "VARCHAR"),
    ("score", "DOUBLE"),
    ("passed", "BOOLEAN"),
    ("details", "JSON"),
    ("latency_ms", "DOUBLE"),
    ("ttft_ms", "DOUBLE"),
    ("output_tps", "DOUBLE"),
    ("prompt_tokens", "INTEGER"),
    ("completion_tokens", "INTEGER"),
    ("reasoning_tokens", "INTEGER"),
    ("cached_tokens", "INTEGER"),
    ("images", "INTEGER"),
    ("cost_usd", "DOUBLE"),
    ("attempts", "INTEGER"),
    ("replayed", "BOOLEAN"),
    ("started_at", "TIMESTAMP"),
    ("finished_at", "TIMESTAMP"),
]
INITIAL_RESULT_COLUMNS = list(RESULT_COLUMNS)  # what the first migration created: frozen
# Migration 2 (issue 18): why each answer ended, and when its first answer (not reasoning) token came.
RESULT_COLUMNS += [("finish_reason", "VARCHAR"), ("ttft_answer_ms", "DOUBLE")]
RESULT_NAMES = [c for c, _ in RESULT_COLUMNS]
JSON_COLUMNS = {c for c, t in RESULT_COLUMNS if t == "JSON"}
KEY_COLUMNS = ("suite", "case_id", "model", "repeat")
TIMESTAMP_COLUMNS = [c for c, t in RESULT_COLUMNS if t == "TIMESTAMP"]

RUNS_TABLE = """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            started_at TIMESTAMP,
            finished_at TIMESTAMP,
            status VARCHAR,
            label VARCHAR,
            git_sha VARCHAR,
            evalseed_version VARCHAR,
            config JSON
        )"""

RESULTS_TABLE = "CREATE TABLE results ({})".format(",\n".join(f'"{c}" {t}' for c, t in INITIAL_RESULT_COLUMNS))

RUN_PRICES_TABLE = """
        CREATE TABLE run_prices (
            run_id VARCHAR, model VARCHAR, as_of VARCHAR,
            input DOUBLE, cached_input DOUBLE, output DOUBLE,
            long_input DOUBLE, long_output DOUBLE, per_image DOUBLE
        )"""


def now() -> datetime:
    """The timestamps the tables hold: UTC, without a time zone."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
