"""Loading two runs' rows and pairing them: which models pair, which cases both runs hold, what
the base has that the candidate lacks, the suites' floors, and how a case's rows count (its
tally, its answered pass rate, its unanswered share)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .. import store
from ..errors import UsageError
from ..metrics import rules
from .result import Side

_VERSION_SUFFIX = re.compile(r"-\d{6}$")

COLUMNS = ["suite", "case_id", "kind", "model", "repeat", "status", "error", "passed", "score",
           "latency_ms", "ttft_ms", "cost_usd"]


@dataclass
class Row:
    case_id: str
    kind: str | None
    repeat: int
    status: str
    error: str | None
    passed: bool | None
    score: float | None
    latency_ms: float | None
    ttft_ms: float | None
    cost_usd: float | None

    @property
    def value(self) -> float:
        return 1.0 if rules.passed(self.status, self.passed) else 0.0



def side_of(con: Any, run_id: str) -> Side:
    head = store.run_header(con, run_id)
    models = store.run_models(con, run_id)
    label, status, started = (head.label, head.status, head.started_at) if head else (None, None, None)
    return Side(run_id, label, status, str(started) if started is not None else None, models)


def load_run(con, run_id: str) -> dict[tuple[str, str], dict[str, list[Row]]]:
    """{(suite, model): {case_id: [rows by repeat]}}"""
    rows = store.fetch_rows(con, "run_id = ?", [run_id], columns=COLUMNS)
    rows.sort(key=lambda d: (d["suite"], d["case_id"], d["repeat"]))
    out: dict[tuple[str, str], dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for d in rows:
        out[(d["suite"], d["model"])][d["case_id"]].append(
            Row(d["case_id"], d["kind"], d["repeat"], d["status"], d["error"], d["passed"], d["score"],
                d["latency_ms"], d["ttft_ms"], d["cost_usd"])
        )
    return out


def baseline_case_rates(con, base_id: str, cand_model: str, suites: list[str]) -> dict[str, dict[str, float]]:
    """For `run --gate --sequential`: per suite, each case's pass rate over the baseline's ok
    repeats (what the quality test pairs), for the baseline model that pairs with `cand_model`."""
    side = side_of(con, base_id)
    pairs, _ = match_models(side.models, [cand_model])
    if not pairs:
        raise UsageError(f"the baseline {base_id} ran no model that pairs with {cand_model}.")
    rows = load_run(con, base_id)
    out = {}
    for suite in suites:
        cases = rows.get((suite, pairs[0][0]), {})
        out[suite] = {cid: q for cid, rs in cases.items() if (q := quality(rs)) is not None}
    return out


def family_of(model: str) -> str:
    """`seed-1-6-250915` -> `seed-1-6`; a name without a version suffix is its own family."""
    return _VERSION_SUFFIX.sub("", model)


def match_models(base_models: list[str], cand_models: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Pairs (base model, cand model) to compare, and notes about models left unpaired.

    Same name first, then same family (the newest base version of it), then -- when each run
    holds exactly one model -- the two with each other (an explicit cross-model comparison).
    """
    notes: list[str] = []
    if len(base_models) == 1 and len(cand_models) == 1:
        b, c = base_models[0], cand_models[0]
        if b != c and family_of(b) == family_of(c):
            notes.append(f"{c} is a new version of {family_of(c)} (base ran {b}).")
        elif family_of(b) != family_of(c):
            notes.append(f"comparing different model families: base {b}, candidate {c}.")
        return [(b, c)], notes
    pairs: list[tuple[str, str]] = []
    for c in cand_models:
        if c in base_models:
            pairs.append((c, c))
            continue
        same = sorted(b for b in base_models if family_of(b) == family_of(c))
        if same:
            pairs.append((same[-1], c))
            notes.append(f"{c} is a new version of {family_of(c)} (base ran {same[-1]}).")
        else:
            notes.append(f"candidate model {c} has no counterpart in the base run: not compared.")
    for b in base_models:
        if b not in {p[0] for p in pairs}:
            notes.append(f"base model {b} has no counterpart in the candidate run: not compared.")
    return pairs, notes



# A content filter's refusal (status `filtered`, engine.failures.content_filtered) is the
# provider's answer, not a failed request: the case was asked and failed. The metrics layer is to
# list it in rules.ASKED_STATUSES (ok, error, filtered); until it does, compare adds it here, and
# once it does `asked` is rules.asked alone.
FILTERED = "filtered"
# Rows that are an answer to the case (the quality test's rows); the rest went unanswered.
ANSWERED = ("ok", FILTERED)
STATUSES = ("ok", "error", "skipped", FILTERED)  # results.status, as counted in `status_counts`


def asked(status: str | None) -> bool:
    """rules.asked, with a content filter's refusal counted as asked (and failed)."""
    return rules.asked(status) or status == FILTERED


def tally(rows: list[Row]) -> tuple[int, int]:
    """A case's (passes, asked rows) by the metrics' rule: skipped repeats are left out; errors and
    filtered rows count and fail."""
    got = [r for r in rows if asked(r.status)]
    return sum(1 for r in got if r.value), len(got)


def quality(rows: list[Row]) -> float | None:
    """What the quality test pairs: the case's pass rate over its *answered* repeats (ok, or
    filtered: the provider refused, a failure of the answer); None when no repeat was answered.
    Errors and skips are the unanswered rate's business (`unanswered_share`), so a gateway's bad
    afternoon is not read as the model getting worse."""
    got = [r for r in rows if r.status in ANSWERED]
    return sum(r.value for r in got) / len(got) if got else None


def unanswered_share(rows: list[Row]) -> float:
    """The share of a case's rows that got no answer (error or skipped; a filtered row was answered)."""
    return sum(1 for r in rows if r.status not in ANSWERED) / len(rows)


def why_unanswered(rows: list[Row]) -> str:
    return "error" if any(r.status == "error" for r in rows) else "skipped"



@dataclass
class Paired:
    """The paired cases of one unit, before the statistics."""

    suite: str
    kind: str | None
    base_model: str
    cand_model: str
    case_ids: list[str]
    base: list[list[Row]]
    cand: list[list[Row]]
    excluded: dict[str, int]
    status_counts: dict[str, dict[str, int]]
    min_accuracy: float | None = None  # the suite's gate.min_accuracy
    sequential: dict | None = None  # the suite's record when the candidate stopped early (--sequential)
    # Per case (in case_ids' order), each side's record from evalseed.metrics grouped by case (the
    # kind's per-answer rates and means, a classification's confusion cells): what the metric
    # tests pair (`measure._metric_tests`). None when not loaded (simulated pairs).
    case_metrics: tuple[list[dict | None], list[dict | None]] | None = None


def pair(suite: str, bm: str, cm: str, base_cases: dict[str, list[Row]],
          cand_cases: dict[str, list[Row]]) -> Paired:
    excluded = {"both_skipped": 0, "only_in_base": 0, "only_in_cand": 0}
    counts = {side: {s: 0 for s in STATUSES} for side in ("base", "cand")}
    ids, b_rows, c_rows = [], [], []
    kind = None
    for cid in sorted(set(base_cases) | set(cand_cases)):
        b, c = base_cases.get(cid), cand_cases.get(cid)
        if not b:
            excluded["only_in_cand"] += 1
            continue
        if not c:
            excluded["only_in_base"] += 1
            continue
        if not any(asked(r.status) for r in b + c):
            excluded["both_skipped"] += 1
            continue
        if len(b) == len(c) and len(b) > 1:
            # Same repeat count: keep rows aligned by repeat index for the record.
            b = sorted(b, key=lambda r: r.repeat)
            c = sorted(c, key=lambda r: r.repeat)
        for side, rows in (("base", b), ("cand", c)):
            for r in rows:
                counts[side][r.status] = counts[side].get(r.status, 0) + 1
        kind = kind or b[0].kind or c[0].kind
        ids.append(cid)
        b_rows.append(b)
        c_rows.append(c)
    return Paired(suite, kind, bm, cm, ids, b_rows, c_rows, excluded, counts)



def _ids(ids: list[str], shown: int = 5) -> str:
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def missing_cases(base_rows, cand_rows, model_pairs) -> list[str]:
    """What the base run holds that the candidate does not, one phrase per suite: a whole suite, or
    the case ids it lacks. Covered means the same suites and case ids (any status: a case the
    candidate skipped was still tried)."""
    out = []
    for (suite, bm), cases in sorted(base_rows.items()):
        for b, c in model_pairs:
            if b != bm:
                continue
            on = f" on {c}" if len(model_pairs) > 1 else ""
            got = cand_rows.get((suite, c))
            if not got:
                out.append(f"suite {suite}{on} ({len(cases)} cases)")
                continue
            gone = sorted(set(cases) - set(got))
            if gone:
                out.append(f"{len(gone)} of the {len(cases)} cases of suite {suite}{on} ({_ids(gone)})")
    return out


def floors_of(config: dict) -> dict[str, float]:
    """Each suite's `gate.min_accuracy` as the run recorded it (runs.config.suites[].gate)."""
    out = {}
    for s in config.get("suites", []) or []:
        floor = (s.get("gate") or {}).get("min_accuracy")
        if floor is not None:
            out[s["name"]] = float(floor)
    return out

