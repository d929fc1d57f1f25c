"""Schema changes, as named steps applied in order. The table `schema_version` records the number
of the last step applied (step N is `MIGRATIONS[N - 1]`); an older file is upgraded when opened,
a newer one refused.

Append only: a migration, once released, never changes; a new one goes at the end with a name
that says what it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UsageError
from .schema import RESULTS_TABLE, RUN_PRICES_TABLE, RUNS_TABLE, now


@dataclass(frozen=True)
class Migration:
    name: str
    apply: Callable[[Any], None]


def _initial_tables(con: Any) -> None:
    con.execute(RUNS_TABLE)
    con.execute(RESULTS_TABLE)
    con.execute(RUN_PRICES_TABLE)


def _finish_reason_and_answer_ttft(con: Any) -> None:
    con.execute("ALTER TABLE results ADD COLUMN finish_reason VARCHAR")
    con.execute("ALTER TABLE results ADD COLUMN ttft_answer_ms DOUBLE")


def _run_shards(con: Any) -> None:
    # `run --shard I/N` (issue 19): the shard and the run group it belongs to; NULL for other runs.
    con.execute("ALTER TABLE runs ADD COLUMN group_id VARCHAR")
    con.execute("ALTER TABLE runs ADD COLUMN shard_index INTEGER")
    con.execute("ALTER TABLE runs ADD COLUMN shard_count INTEGER")


MIGRATIONS: list[Migration] = [
    Migration("initial tables: runs, results, run_prices", _initial_tables),
    Migration("results.finish_reason and results.ttft_answer_ms", _finish_reason_and_answer_ttft),
    Migration("runs.group_id, shard_index, shard_count", _run_shards),
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(con: Any) -> None:
    """Bring the connection's database up to SCHEMA_VERSION, one transaction per step."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMP)")
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    current = row[0] or 0
    if current > SCHEMA_VERSION:
        raise UsageError(
            f"the database has schema version {current}, newer than this evalseed ({SCHEMA_VERSION}); upgrade evalseed."
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            MIGRATIONS[version - 1].apply(con)
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, now()])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
