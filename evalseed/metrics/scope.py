"""The rows a metric is computed over and how they are grouped, and the two shapes of SQL
aggregate the metrics use: a mean over cases of each case's mean over its repeats, and plain row
aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .rules import ASKED, answer


@dataclass(frozen=True)
class Scope:
    """`relation`: a table, a view or a parenthesised SELECT with the `results` columns (the
    report's view adds `entrant`); `params` fill its placeholders. Groups are (suite, *keys), or
    (None, *keys) when `pooled`: the cases of every suite together, a case being (suite, case_id)."""

    relation: str
    keys: tuple[str, ...] = ("model",)
    params: tuple = ()
    pooled: bool = False

    @property
    def group(self) -> str:
        """The grouping columns as SQL, suite first."""
        return ", ".join(f'"{c}"' for c in self._group_cols)

    @property
    def case(self) -> str:
        """The columns that name one case within a group: the group's, suite and case_id."""
        return ", ".join(f'"{c}"' for c in dict.fromkeys(("suite", *self.keys, "case_id")))

    @property
    def _group_cols(self) -> tuple[str, ...]:
        return self.keys if self.pooled else ("suite", *self.keys)

    def query(self, con, select: str, ctes: str = "") -> tuple[list[tuple], int]:
        """Run `select` (with optional further `ctes`) over `base`, the scope's rows. Returns the
        rows and how many leading columns are the group."""
        more = f", {ctes}" if ctes else ""
        sql = f"WITH base AS (SELECT * FROM {self.relation}){more} {select}"
        return con.execute(sql, list(self.params)).fetchall(), len(self._group_cols)

    def key(self, values: tuple) -> tuple:
        """A group's key as every caller sees it: (suite, *keys), suite None when pooled."""
        return (None, *values) if self.pooled else tuple(values)


def case_means(con, scope: Scope, kind: str, values: dict[str, tuple[str, str]]) -> dict[tuple, dict[str, Any]]:
    """Per group, for each `name: (value_sql, where_sql)`: the mean over cases of each case's
    mean, over its asked rows matching `where_sql`, of `answer(value_sql)`. A case with no such
    row is left out; a group with none gets None."""
    inner = ", ".join(f'avg({answer(v)}) FILTER ({ASKED} AND ({w})) AS "{n}"' for n, (v, w) in values.items())
    outer = ", ".join(f'avg("{n}")' for n in values)
    rows, w = scope.query(
        con, f"SELECT {scope.group}, {outer} FROM c GROUP BY {scope.group}",
        f"c AS (SELECT {scope.case}, {inner} FROM base WHERE kind = '{kind}' GROUP BY {scope.case})")
    return {scope.key(r[:w]): dict(zip(values, r[w:])) for r in rows}


def row_aggregates(con, scope: Scope, kind: str, exprs: dict[str, str]) -> dict[tuple, dict[str, Any]]:
    """Per group, each `name: aggregate_sql` over the group's rows of `kind` (each aggregate
    states the rows it takes with a FILTER built from `rules`)."""
    sel = ", ".join(f'{e} AS "{n}"' for n, e in exprs.items())
    rows, w = scope.query(con, f"SELECT {scope.group}, {sel} FROM base WHERE kind = '{kind}' GROUP BY {scope.group}")
    return {scope.key(r[:w]): dict(zip(exprs, r[w:])) for r in rows}
