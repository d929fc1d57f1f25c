"""The DuckDB file: its tables (`schema`), named migrations (`migrations`), opening it
(`connection`), batched writes with spill and recover (`writer`), and the read queries every
other module uses (`queries`). Import from here: `from evalseed import store; store.open_db(...)`.

One writer per file (DuckDB locks it); rows arrive in batches through Arrow, never a row per
INSERT. Every flush is one transaction, so a killed process leaves whole batches or nothing.
"""

from __future__ import annotations

from .connection import open_db
from .migrations import MIGRATIONS, SCHEMA_VERSION, Migration, migrate
from .queries import (
    RunHeader,
    RunListing,
    case_prompts,
    fetch_rows,
    first_answers,
    has_results,
    list_runs,
    resolve_run,
    results_relation,
    run_config,
    run_configs,
    run_header,
    run_models,
    run_prices,
    run_record,
    runs_models,
    runs_since,
    spent_usd,
    stored_keys,
    suite_model_measures,
)
from .schema import JSON_COLUMNS, KEY_COLUMNS, RESULT_COLUMNS, RESULT_NAMES, TIMESTAMP_COLUMNS, now
from .writer import (
    ResultWriter,
    add_to_run_config,
    delete_run,
    finish_run,
    insert_prices,
    insert_run,
    new_run_id,
    recover,
    set_run_status,
    set_run_times,
    to_json,
    unsaved_file_name,
)

__all__ = [
    "JSON_COLUMNS", "KEY_COLUMNS", "MIGRATIONS", "RESULT_COLUMNS", "RESULT_NAMES", "SCHEMA_VERSION",
    "TIMESTAMP_COLUMNS", "Migration", "ResultWriter", "RunHeader", "RunListing", "add_to_run_config", "case_prompts",
    "delete_run", "fetch_rows", "finish_run", "first_answers", "has_results", "insert_prices", "insert_run",
    "list_runs", "migrate", "new_run_id", "now", "open_db", "recover", "resolve_run", "results_relation",
    "run_config", "run_configs", "run_header", "run_models", "run_prices", "run_record", "runs_models",
    "runs_since", "set_run_status", "set_run_times", "spent_usd", "stored_keys", "suite_model_measures",
    "to_json", "unsaved_file_name",
]
