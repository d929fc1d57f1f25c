"""`evalseed judge-pair RUN --models A,B --judge MODEL`: two models' stored answers of one run,
judged against each other case by case, both orders asked (kinds/generation/pairwise.py).

Only suites whose kind can judge a pair (`pair_inputs`, `judge_pair`: generation) are used, and
only the (suite, case, repeat) that both models answered (`ok` rows). Each pair is shown to the
judge as A then B and again as B then A; a win counts only when both orders name the same answer,
a disagreement is a tie (position bias), and a pair with an unusable verdict in either order is
left out of the counts and reported as such. The judge calls go through one engine lane
(run/rejudge.with_judge_lane: retries, rate limits, redaction; the run's `--base-url` when it had
one, else the judge's provider, the embedded model's server started for `gemma-3-270m`); no
graded model is asked and nothing is written to the database.

Per suite and in all: wins, ties and losses of A against B, the exact two-sided sign test on
the decisive pairs (ties dropped; `stats.mcnemar_exact`, the sign test on 0/1 outcomes), and A's
share of the decisive pairs with a Wilson 95% interval (`stats.wilson_interval`).
"""

from __future__ import annotations

import json
from typing import Any

from ..config import load_config
from ..errors import CaseError, UsageError


def summarise(outcomes: list[str | None]) -> dict[str, Any]:
    """Counts of one model's pair outcomes (`first` = A won, `second` = B won, `tie`, None =
    unusable verdict) with the sign test and A's share of the decisive pairs."""
    from ..stats import mcnemar_exact, wilson_interval

    wins, losses = outcomes.count("first"), outcomes.count("second")
    ties, unusable = outcomes.count("tie"), outcomes.count(None)
    decisive = wins + losses
    share = wilson_interval(wins, decisive) if decisive else None
    return {"pairs": len(outcomes), "wins": wins, "ties": ties, "losses": losses, "unusable": unusable,
            "sign_test_p": mcnemar_exact(losses, wins),
            "win_share": None if share is None else {"estimate": share.estimate, "low": share.low,
                                                     "high": share.high, "confidence": share.confidence}}


def judge_pair_command(db: str, run_ref: str, models: str, judge: str, as_json: bool = False,
                       suite_name: str | None = None, rubric: str | None = None, config: str | None = None) -> int:
    from .. import store
    from ..kinds import get_kind
    from ..suites.loader import load_suites
    from .rejudge import with_judge_lane

    names = [m.strip() for m in models.split(",") if m.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise UsageError(f"--models takes two different models of the run, e.g. --models A,B; got {models!r}.")
    a, b = names
    cfg = load_config(config)
    con = store.open_db(db, read_only=True)
    try:
        run_id = store.resolve_run(con, run_ref)
        run_config = store.run_config(con, run_id)
        rows = store.fetch_rows(con, "run_id = ? AND status = 'ok' AND model IN (?, ?)", [run_id, a, b],
                                ["suite", "case_id", "model", "repeat", "output_text"])
        in_run = {m for (m,) in con.execute("SELECT DISTINCT model FROM results WHERE run_id = ?", [run_id]).fetchall()}
    finally:
        con.close()
    missing = [m for m in (a, b) if m not in in_run]
    if missing:
        raise UsageError(f"run {run_id} has no rows of {', '.join(missing)}; its models: {', '.join(sorted(in_run)) or 'none'}.")
    suites = {s.name: s for s in load_suites([s["path"] for s in run_config.get("suites", [])])}
    answers: dict[tuple[str, str, int], dict[str, str]] = {}
    for r in rows:
        answers.setdefault((r["suite"], r["case_id"], r["repeat"]), {})[r["model"]] = r["output_text"] or ""
    work: list[tuple[Any, Any, tuple, str, str]] = []  # (kind, key, inputs, answer A, answer B)
    cases: dict[str, dict[str, Any]] = {}
    for key in sorted(answers):
        suite = suites.get(key[0])
        if suite is None or (suite_name and suite.name != suite_name) or len(answers[key]) != 2:
            continue
        kind = get_kind(suite.kind)
        if not hasattr(kind, "pair_inputs"):
            continue
        if suite.name not in cases:
            cases[suite.name] = {c.id: c for c in kind.cases(suite)}
        case = cases[suite.name].get(key[1])
        if case is not None:
            work.append((kind, key, kind.pair_inputs(suite, case, rubric), answers[key][a], answers[key][b]))
    if not work:
        raise UsageError(f"no case of run {run_id} has answers of both {a} and {b} in a suite that can be judged "
                         "pairwise (kind generation)" + (f" named {suite_name}" if suite_name else "") + ".")
    for kind in {id(w[0]): w[0] for w in work}.values():
        kind.use_config(cfg)
    verdicts: list[dict[str, Any]] = []

    async def ask(api_for, info) -> None:
        for kind, (suite, case_id, repeat), inputs, first, second in work:
            try:
                out = await kind.judge_pair(api_for(suite, case_id), info, inputs, first, second)
            except CaseError as e:  # the judge's call failed after retries: this pair has no verdict
                out = {"winner": None, "consistent": False, "first_score": None, "orders": [], "error": str(e)}
            verdicts.append({"suite": suite, "case_id": case_id, "repeat": repeat, **out})

    with_judge_lane(cfg, judge, run_config, ask)
    per_suite = {s: summarise([v["winner"] for v in verdicts if v["suite"] == s])
                 for s in sorted({v["suite"] for v in verdicts})}
    overall = summarise([v["winner"] for v in verdicts])
    cost = [o["usage"].get("cost_usd") for v in verdicts for o in v["orders"]]
    judge_cost = None if any(c is None for c in cost) else sum(cost)
    if as_json:
        print(json.dumps({"run_id": run_id, "a": a, "b": b, "judge": judge, "calls": len(cost),
                          "judge_cost_usd": judge_cost, "overall": overall, "suites": per_suite,
                          "cases": verdicts}, indent=2, ensure_ascii=False, default=str))
        return 0
    print(f"run {run_id}: {a} (A) against {b} (B), judged by {judge}, both orders asked ({len(cost)} calls"
          + (f", ${judge_cost:.4f}" if judge_cost is not None else ", cost unknown") + ")")
    print(f"{'suite':<32} {'pairs':>5} {'A wins':>6} {'ties':>5} {'B wins':>6} {'unusable':>8} "
          f"{'A share of decisive (95%)':>26} {'sign p':>7}")
    for name, s in [*per_suite.items(), ("all", overall)]:
        share = s["win_share"]
        shown = "-" if share is None else f"{share['estimate']:.2f} ({share['low']:.2f}-{share['high']:.2f})"
        print(f"{name:<32} {s['pairs']:>5} {s['wins']:>6} {s['ties']:>5} {s['losses']:>6} {s['unusable']:>8} "
              f"{shown:>26} {s['sign_test_p']:>7.3f}")
    return 0
