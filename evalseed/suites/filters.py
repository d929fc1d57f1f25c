"""What a run asks of its suites from the command line: which suites, cases and tags
(`run --suite/--case/--tag/--limit`), and overrides of repeats, temperature and max tokens
(`run --repeats/--temperature/--max-tokens`). The selection is recorded with the run, so
`--resume` asks the same cases the same way."""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from ..errors import UsageError


@dataclass
class Selection:
    suites: list[str] = field(default_factory=list)   # suite names (shell patterns allowed)
    cases: list[str] = field(default_factory=list)    # case ids (shell patterns allowed)
    tags: list[str] = field(default_factory=list)     # a case with any of these tags
    limit: int | None = None                          # the first N selected cases of each suite
    repeats: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None

    def is_empty(self) -> bool:
        return not any(asdict(self).values())

    def to_record(self) -> dict[str, Any] | None:
        return None if self.is_empty() else {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_record(cls, record: dict | None) -> "Selection":
        return cls(**(record or {}))


def _matches(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def select_suites(suites: list, sel: Selection) -> list:
    """The suites `--suite` names (all without it), each with the overrides applied. A pattern
    that names no suite is an error naming the suites there are."""
    if sel.suites:
        missing = [p for p in sel.suites if not any(_matches(s.name, [p]) for s in suites)]
        if missing:
            raise UsageError(f"--suite {', '.join(missing)}: no such suite among {', '.join(s.name for s in suites)}.")
        suites = [s for s in suites if _matches(s.name, sel.suites)]
    return [override(s, sel) for s in suites]


def override(suite, sel: Selection):
    """The suite with `--repeats`, `--temperature`, `--max-tokens` in place of its own (a copy;
    the suite's content hash stays the file's)."""
    update: dict[str, Any] = {}
    if sel.repeats is not None:
        update["repeats"] = sel.repeats
    if sel.temperature is not None or sel.max_tokens is not None:
        params = dict(suite.params)
        if sel.temperature is not None:
            params["temperature"] = sel.temperature
        if sel.max_tokens is not None:
            # The suite's own spelling wins: max_completion_tokens if it uses that, else max_tokens.
            params["max_completion_tokens" if "max_completion_tokens" in params else "max_tokens"] = sel.max_tokens
        update["params"] = params
    return suite.model_copy(update=update) if update else suite


def select_cases(suite_name: str, cases: Iterable, sel: Selection) -> list:
    """A suite's cases that `--case` and `--tag` select (both: a case must pass both), the
    first `--limit` of them."""
    out = []
    for c in cases:
        if sel.cases and not _matches(str(c.id), sel.cases):
            continue
        if sel.tags and not set(getattr(c, "tags", None) or []) & set(sel.tags):
            continue
        out.append(c)
        if sel.limit is not None and len(out) >= sel.limit:
            break
    return out


def check_selected(plan_suites: list, sel: Selection) -> None:
    """A selection that leaves no case anywhere is an error, not an empty run."""
    if (sel.cases or sel.tags) and not any(sp.cases for sp in plan_suites):
        what = " and ".join(x for x in (f"--case {', '.join(sel.cases)}" if sel.cases else "",
                                        f"--tag {', '.join(sel.tags)}" if sel.tags else "") if x)
        raise UsageError(f"{what} selects no case in the suites given; `evalseed validate PATH` lists them.")
