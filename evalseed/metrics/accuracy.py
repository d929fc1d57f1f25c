"""Accuracy: the mean over the cases that were asked of each case's pass rate over its asked
repeats. An error row is a failed answer; a skipped row is left out, and a case whose every row
was skipped is not counted at all. With one repeat this is passes / asked rows.

The unit is the case because repeats of one case are not independent answers: compare pairs
cases, the report's intervals resample cases, and both must show the figure the run summary
shows. `Accuracy` holds the cases' tallies, computed by `by_group` in SQL or `of_cases` from
counts the caller already has, and is the only place the estimate and its interval are worked out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from .rules import ASKED, CUT, FILTERED, OK, PASSED
from .scope import Scope


@dataclass(frozen=True)
class Accuracy:
    """`tallies`: (passes, asked, number of cases with exactly these counts), asked > 0, sorted."""

    tallies: tuple[tuple[int, int, int], ...]

    @classmethod
    def of_cases(cls, cases: Iterable[tuple[int, int]]) -> "Accuracy":
        """From each case's (passes, asked rows); cases never asked are dropped."""
        c = Counter((int(p), int(a)) for p, a in cases if a > 0)
        return cls(tuple(sorted((p, a, n) for (p, a), n in c.items())))

    @property
    def cases(self) -> int:
        """How many cases were asked at least once."""
        return sum(n for _, _, n in self.tallies)

    @property
    def estimate(self) -> float | None:
        total = self.cases
        return sum(n * p / a for p, a, n in self.tallies) / total if total else None

    @property
    def single(self) -> bool:
        """Every case was asked once: the figure is a plain pass rate k/n."""
        return all(a == 1 for _, a, _ in self.tallies)

    @property
    def method(self) -> str:
        return "wilson" if self.single else "bootstrap"

    def interval(self, *, n_resamples: int, seed: int, confidence: float = 0.95, round_to: int | None = None,
                 method: str | None = None):
        """95% interval: Wilson's for a plain pass rate, else a percentile bootstrap over cases
        (each case's rate is one observation); `method` forces one (compare gives both sides the
        same). Nothing asked: estimate NaN, bounds as stats gives them."""
        from .. import stats

        if (method or self.method) == "wilson":
            if not self.single:
                raise ValueError("a Wilson interval needs one answer per case")
            return stats.wilson_interval(sum(p * n for p, _, n in self.tallies), self.cases, confidence)
        return stats.bootstrap_mean_counts([p / a for p, a, _ in self.tallies], [n for _, _, n in self.tallies],
                                           confidence=confidence, n_resamples=n_resamples, seed=seed,
                                           round_to=round_to)


@dataclass(frozen=True)
class Counts:
    """A group's rows by status, and its distinct cases (asked or not). `filtered`: rows a
    content filter decided (asked and failed, not an error); `cut_at_max_tokens`: answers that
    ended at the token limit (`finish_reason = 'length'`; ok rows scored as answered)."""

    cases: int
    rows: int
    ok: int
    errors: int
    skipped: int
    filtered: int = 0
    cut_at_max_tokens: int = 0


def by_group(con, scope: Scope) -> dict[tuple, tuple[str | None, Counts, Accuracy]]:
    """Per group of `scope`: its kind (None when pooled over suites of several kinds), its
    counts and its accuracy, from one pass over the rows."""
    rows, w = scope.query(
        con,
        f"""SELECT {scope.group}, CASE WHEN min(kind_lo) = max(kind_hi) THEN min(kind_lo) END,
                   sum(n), sum(n_rows), sum(n_ok), sum(n_error), sum(n_skipped), sum(n_filtered), sum(n_cut),
                   list([passes, asked, n] ORDER BY passes, asked) FILTER (asked > 0)
            FROM t GROUP BY {scope.group}""",
        f"""c AS (SELECT {scope.case}, any_value(kind) AS kind, count(*) AS n_rows,
                         count(*) FILTER ({OK}) AS n_ok, count(*) FILTER (status = 'error') AS n_error,
                         count(*) FILTER (status = 'skipped') AS n_skipped,
                         count(*) FILTER ({FILTERED}) AS n_filtered, count(*) FILTER ({CUT}) AS n_cut,
                         count(*) FILTER ({ASKED}) AS asked, count(*) FILTER ({PASSED}) AS passes
                  FROM base GROUP BY {scope.case}),
            t AS (SELECT {scope.group}, passes, asked, min(kind) AS kind_lo, max(kind) AS kind_hi, count(*) AS n,
                         sum(n_rows) AS n_rows, sum(n_ok) AS n_ok, sum(n_error) AS n_error,
                         sum(n_skipped) AS n_skipped, sum(n_filtered) AS n_filtered, sum(n_cut) AS n_cut
                  FROM c GROUP BY {scope.group}, passes, asked)""",
    )
    out = {}
    for r in rows:
        kind, *counts, tallies = r[w:]
        acc = Accuracy(tuple((int(t[0]), int(t[1]), int(t[2])) for t in (tallies or [])))
        out[scope.key(r[:w])] = (kind, Counts(*(int(x) for x in counts)), acc)
    return out
