"""`evalseed run --shard I/N`: which cases a shard runs, and how a shard run is marked.

The unit is the case (suite, case id): all its models and repeats go to one shard, so a shard
file holds whole cases and compare can pair them. Each case gets a fixed place on a ring from a
hash of its key alone; the ring is cut into N arcs of equal *estimated tokens* (prompt tokens at
the default chars/token ratio, times models and repeats, plus one per request). So:

- every machine computes the same partition from the same suites and models, without a database
  (the learned ratios are not used: they differ between machines);
- adding a case moves no other case except those lying next to a cut (a case moves only when the
  cut it sits beside shifts past it: at most the added weight's worth of cases per cut);
- the shards are balanced by estimated tokens, not by case count.

The partition's fingerprint is recorded with each shard (`runs.config.shard.partition`); merge
refuses to fold shards of one group planned from different suites or models.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

from .errors import UsageError
from .tokens import DEFAULT_RATIO

GROUP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ShardSpec:
    index: int  # 1-based
    count: int
    group: str

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not (1 <= int(m.group(1)) <= int(m.group(2))) or int(m.group(2)) > 10_000:
        raise UsageError(f"--shard takes I/N with 1 <= I <= N (e.g. 2/4), not {text!r}.")
    return int(m.group(1)), int(m.group(2))


def check_group(group: str) -> str:
    if not GROUP_RE.match(group or ""):
        raise UsageError(f"--group must be 1-64 letters, digits, '.', '_' or '-' (it becomes the merged run's id), "
                         f"not {group!r}.")
    return group


def default_group(plan, count: int) -> str:
    """Without --group: the UTC date and a hash of what is planned, so shards started the same day
    from the same suites and models agree. Two such runs in one day collide; merge then refuses
    the second (conflicting shards), so pass --group (in CI: the workflow run's id)."""
    from datetime import datetime, timezone

    h = hashlib.sha256(repr((plan_fingerprint(plan), count)).encode()).hexdigest()[:8]
    return datetime.now(timezone.utc).strftime("%Y%m%d") + f"-shards-{h}"


def plan_fingerprint(plan) -> str:
    parts = sorted((sp.suite.name, sp.suite.content_hash, tuple(m.name for m in sp.models)) for sp in plan.suites)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _ring_position(suite: str, case_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{suite}\x00{case_id}".encode()).digest()[:8], "big")


def case_weights(plan) -> dict[tuple[str, str], int]:
    """Estimated tokens per case over its models and repeats, at the default chars/token ratio."""
    out: dict[tuple[str, str], int] = {}
    for sp in plan.suites:
        models = [replace(m, token_ratio=DEFAULT_RATIO) for m in sp.models]
        for case in sp.cases:
            w = 0
            for m in models:
                try:
                    est = int(sp.kind.prepare(sp.suite, case, m).est_prompt_tokens or 0)
                except Exception:  # a case the run will refuse or skip: weigh it as one request
                    est = 0
                w += (est + 1) * sp.suite.repeats
            out[(sp.suite.name, case.id)] = max(1, w)
    return out


def assign(weights: dict[tuple[str, str], int], count: int) -> dict[tuple[str, str], int]:
    """Shard (1-based) per case: ring order by key hash, cut into `count` arcs of equal weight;
    a case belongs to the arc holding its weight's midpoint."""
    order = sorted(weights, key=lambda k: (_ring_position(*k), k))
    total = sum(weights.values()) or 1
    out: dict[tuple[str, str], int] = {}
    acc = 0
    for key in order:
        w = weights[key]
        mid2 = 2 * acc + w  # twice the midpoint, in integers: the same answer on every machine
        out[key] = min(count, mid2 * count // (2 * total) + 1)
        acc += w
    return out


def partition_hash(assignment: dict[tuple[str, str], int]) -> str:
    return hashlib.sha256(repr(sorted(assignment.items())).encode()).hexdigest()[:16]


def apply_shard(plan, spec: ShardSpec) -> dict[str, Any]:
    """Keep only this shard's cases in the plan; returns the record stored in `runs.config.shard`."""
    weights = case_weights(plan)
    assignment = assign(weights, spec.count)
    tokens = [0] * spec.count
    for key, i in assignment.items():
        tokens[i - 1] += weights[key]
    full = {sp.suite.name: len(sp.cases) for sp in plan.suites}
    for sp in plan.suites:
        sp.cases = [c for c in sp.cases if assignment[(sp.suite.name, c.id)] == spec.index]
    return {
        "index": spec.index, "count": spec.count, "group": spec.group,
        "partition": partition_hash(assignment),
        "cases": {sp.suite.name: len(sp.cases) for sp in plan.suites},
        "suite_cases": full,
        "shard_cases": [sum(1 for v in assignment.values() if v == i) for i in range(1, spec.count + 1)],
        "shard_tokens": tokens,
    }


def check_resumed_shard(record: dict, plan) -> ShardSpec:
    """--resume of a shard run: plan the same shard again and make sure it is the same partition."""
    spec = ShardSpec(int(record["index"]), int(record["count"]), str(record["group"]))
    again = apply_shard(plan, spec)
    if again["partition"] != record.get("partition"):
        raise UsageError(f"shard {spec.label} of group {spec.group}: the suites or models no longer give the "
                         "partition the run started with; start a new run instead of --resume.")
    return spec


def mark_run(con, run_id: str, spec: ShardSpec) -> None:
    """Store the shard and its group in the run's row (columns added by the migration "runs.group_id, shard_index, shard_count")."""
    con.execute("UPDATE runs SET group_id = ?, shard_index = ?, shard_count = ? WHERE run_id = ?",
                [spec.group, spec.index, spec.count, run_id])
