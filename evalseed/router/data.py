"""Outcome matrices for routing, read from the `results` table.

One case is (suite, case_id); its quality for a model is the mean over runs and repeats of
`score` (or `passed` when a scorer gives no score). An `error` row counts as quality 0 (the
model did not deliver), a `skipped` row is left out (the case was not asked): evalseed.metrics'
rule, so the router learns the figure the report's mean score shows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError


@dataclass
class Outcomes:
    """Cases x models. `Q` quality in 0..1, `C` cost in USD per call, `L` latency in ms;
    NaN where a model has no row for a case."""

    models: list[str]
    suites: list[str]
    case_ids: list[str]
    kinds: list[str]
    texts: list[str]
    tags: list[list[str]]
    Q: np.ndarray
    C: np.ndarray
    L: np.ndarray
    run_ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.case_ids)

    @property
    def chars(self) -> np.ndarray:
        return np.array([len(t) for t in self.texts], dtype=np.float64)

    def subset(self, idx) -> "Outcomes":
        idx = np.asarray(idx)
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        return Outcomes(self.models, pick(self.suites), pick(self.case_ids), pick(self.kinds),
                        pick(self.texts), pick(self.tags), self.Q[idx], self.C[idx], self.L[idx],
                        self.run_ids)

    def complete(self) -> "Outcomes":
        """Only the cases every model answered (evaluation compares models on the same cases)."""
        ok = ~np.isnan(self.Q).any(axis=1)
        return self.subset(np.flatnonzero(ok))

    def summary(self) -> dict:
        """What the router learned from, for the saved JSON and the CLI."""
        out: dict = {"cases": len(self), "models": {}, "suites": {}, "kinds": {}, "runs": self.run_ids}
        for j, m in enumerate(self.models):
            q, c, lat = self.Q[:, j], self.C[:, j], self.L[:, j]
            n = int((~np.isnan(q)).sum())
            out["models"][m] = {
                "cases": n,
                "quality": _mean(q),
                "cost_usd": _mean(c),
                "latency_ms": _mean(lat),
            }
        for s in self.suites:
            out["suites"][s] = out["suites"].get(s, 0) + 1
        for k in self.kinds:
            out["kinds"][k] = out["kinds"].get(k, 0) + 1
        return out


def _mean(x: np.ndarray) -> float | None:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else None


def select_runs(con, runs: list[str] | None, since: str | None) -> list[str]:
    """Run ids from `--runs a,b` (ids, prefixes or `latest`) and/or `--since DATE`; neither means
    the latest run."""
    from ..store import resolve_run, runs_since

    out: list[str] = []
    if runs:
        out.extend(resolve_run(con, r) for r in runs)
    if since:
        out.extend(runs_since(con, since))
    if not runs and not since:
        out.append(resolve_run(con, "latest"))
    seen: list[str] = []
    for r in out:
        if r not in seen:
            seen.append(r)
    if not seen:
        raise UsageError(f"no runs started since {since}; `evalseed runs` lists them.")
    return seen


def load_outcomes(con, run_ids: list[str]) -> Outcomes:
    """Pivot the runs' result rows into case x model matrices (one SQL pass)."""
    from ..metrics.rules import ASKED, SCORE, answer

    marks = ", ".join("?" for _ in run_ids)
    rows = con.execute(
        f"""
        SELECT suite, case_id, model,
               any_value(kind) AS kind,
               any_value(input_text) AS input_text,
               any_value(json_extract(details, '$.tags')) AS tags,
               avg({answer(SCORE)}) AS q,
               avg(cost_usd) AS c,
               avg(latency_ms) AS l
        FROM results
        WHERE run_id IN ({marks}) AND {ASKED}
        GROUP BY suite, case_id, model
        ORDER BY suite, case_id, model
        """,
        run_ids,
    ).fetchall()
    if not rows:
        raise UsageError(f"the selected runs ({', '.join(run_ids)}) hold no results to learn from.")
    # imported rows (whose ids once were row numbers) must not pool two prompts under one case,
    # across models and runs; evalseed's own runs render a case's text from its suite, which may
    # be edited between runs, so they are not held to it
    clash = con.execute(
        f"""
        SELECT suite, case_id, count(*) OVER () FROM results
        WHERE run_id IN ({marks}) AND provider = 'imported'
        GROUP BY suite, case_id HAVING count(DISTINCT input_text) > 1
        LIMIT 1
        """,
        run_ids,
    ).fetchone()
    if clash:
        raise UsageError(
            f"{clash[2]} imported case(s) hold different prompt texts under one id (e.g. case {clash[1]!r} of suite "
            f"{clash[0]!r}), so routing would average different prompts; re-import the files with `evalseed import "
            "outcomes` (it now names prompts by an id column or a hash of the text) or select runs that agree."
        )
    models = sorted({r[2] for r in rows})
    if len(models) < 2:
        raise UsageError(
            f"the selected runs hold results for one model only ({models[0]}); routing needs two or more"
            + _other_runs_hint(con, run_ids, models[0])
        )
    mi = {m: j for j, m in enumerate(models)}
    case_index: dict[tuple, int] = {}
    suites: list[str] = []
    case_ids: list[str] = []
    kinds: list[str] = []
    texts: list[str] = []
    tags: list = []
    for suite, case_id, _m, kind, text, tg, *_ in rows:
        key = (suite, case_id)
        if key not in case_index:
            case_index[key] = len(case_ids)
            suites.append(suite)
            case_ids.append(case_id)
            kinds.append(kind or "")
            texts.append(text or "")
            tags.append(_tags(tg))
    n, m = len(case_ids), len(models)
    Q = np.full((n, m), np.nan)
    C = np.full((n, m), np.nan)
    L = np.full((n, m), np.nan)
    for suite, case_id, model, _k, _t, _tg, q, c, lat in rows:
        i, j = case_index[(suite, case_id)], mi[model]
        Q[i, j] = np.nan if q is None else q
        C[i, j] = np.nan if c is None else c
        L[i, j] = np.nan if lat is None else lat
    return Outcomes(models, suites, case_ids, kinds, texts, tags, Q, C, L, list(run_ids))


def _other_runs_hint(con, run_ids: list[str], model: str) -> str:
    """When each run holds one model: the runs of other models and the command that joins them."""
    rows = con.execute(
        """SELECT r.run_id, CAST(r.started_at AS DATE), list(DISTINCT s.model)
           FROM runs r JOIN results s USING (run_id) WHERE s.model <> ?
           GROUP BY r.run_id, r.started_at ORDER BY r.started_at DESC LIMIT 5""", [model]).fetchall()
    if not rows:
        return "; no other run in this database has another model: run `evalseed run` with two or more models."
    ids = ",".join(list(run_ids) + [r[0] for r in rows])
    since = min(r[1] for r in rows)
    return (f"; other runs hold {', '.join(sorted({m for r in rows for m in r[2]}))}: try "
            f"`evalseed route train --runs {ids}` or `--since {since}`.")


def _tags(v) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return [v]
    return [str(t) for t in v] if isinstance(v, list) else []


def split_mask(data: Outcomes, test_fraction: float, seed: int) -> np.ndarray:
    """True for test cases. Grouped by case: a case and all its models fall on one side. Derived
    from a hash of (seed, suite, case_id), so the same seed gives the same split on any machine
    and a saved router can find its own held-out cases again."""
    out = np.empty(len(data), dtype=bool)
    for i, (s, c) in enumerate(zip(data.suites, data.case_ids)):
        h = hashlib.blake2b(f"{seed}\x00{s}\x00{c}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(h, "big") / 2**64 < test_fraction
    return out
