"""One record per (suite, model) -- or whatever the scope groups by -- with the counts, the
accuracy and the kind's metrics (each kind's `Kind.metrics`): what `evalseed runs RUN_ID --json`
prints, what the report embeds and shows, and what compare attaches to each side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..files import json_safe
from .accuracy import Accuracy, Counts, by_group
from .scope import Scope


@dataclass
class SuiteMetrics:
    key: tuple  # (suite, *scope keys); suite None when pooled
    kind: str | None
    counts: Counts
    accuracy: Accuracy
    kind_metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, keys: tuple[str, ...]) -> dict[str, Any]:
        """The JSON form: suite, the scope's keys, kind, cases, rows, ok, errors, skipped,
        filtered, cut_at_max_tokens, accuracy, then the kind's metrics."""
        c = self.counts
        return json_safe({"suite": self.key[0], **dict(zip(keys, self.key[1:])), "kind": self.kind,
                           "cases": c.cases, "rows": c.rows, "ok": c.ok, "errors": c.errors, "skipped": c.skipped,
                           "filtered": c.filtered, "cut_at_max_tokens": c.cut_at_max_tokens,
                           "accuracy": self.accuracy.estimate, **self.kind_metrics})


def suite_metrics(con, scope: Scope) -> dict[tuple, SuiteMetrics]:
    """Every group of `scope` with its metrics. Pooled scopes mix kinds, so they get counts and
    accuracy only."""
    out = {k: SuiteMetrics(k, kind, counts, acc) for k, (kind, counts, acc) in by_group(con, scope).items()}
    if scope.pooled:
        return out
    from ..kinds import KINDS, get_kind

    # Each kind's own metrics (`Kind.metrics`, in evalseed/kinds/<kind>/metrics.py).
    for kind in sorted({m.kind for m in out.values() if m.kind in KINDS}):
        for k, extra in get_kind(kind).metrics(con, scope).items():
            if k in out:
                out[k].kind_metrics = extra
    return out


def of_rows(rows: list[dict], kind: str | None = None) -> dict[str, Any]:
    """The metrics of result rows held in Python (one suite and model; missing columns are
    filled: a row without `case_id` is a case of its own). The rows go through the store's
    writer into an in-memory DuckDB and the same SQL as everywhere else."""
    import duckdb

    from .. import store

    con = duckdb.connect()
    try:
        store.migrate(con)
        writer = store.ResultWriter(con, "rows")
        for i, r in enumerate(rows):
            writer.add({**r, "run_id": "rows", "suite": r.get("suite") or "suite",
                        "case_id": r.get("case_id") or f"row-{i}", "kind": r.get("kind") or kind,
                        "model": r.get("model") or "model", "repeat": r.get("repeat", 0)})
        writer.flush()
        got = suite_metrics(con, Scope("results", keys=()))
    finally:
        con.close()
    if len(got) != 1:
        raise ValueError(f"rows of {len(got)} suites given; pass the rows of one suite and model")
    return next(iter(got.values())).to_dict(())
