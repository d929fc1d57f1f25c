"""`evalseed rescore`: score a run's stored responses again (after a scorer fix or an edited
`expected`), with no API call. Each row goes through the job's own scoring path
(`CaseJob.verdict`: the scorer-exception guard, the details, the engine's flags), with the
cases prepared as the run prepared them (the chars/token ratios recorded with the run)."""

from __future__ import annotations

import json
from dataclasses import replace

from ..config import load_config
from .queries import MEASURED, rows_to_rescore, write_verdicts
from .summary import print_summary


def rescore_command(db: str, run_ref: str, judge: str | None = None) -> int:
    """Score stored responses again: no call to a graded model. Rows a scorer failed on are scored
    again too. With `judge`, kinds that judge (generation) ask that model again (run/rejudge.py)."""
    from .. import store
    from ..core import CallResult, Outcome
    from ..jobs import CaseJob
    from ..kinds import get_kind
    from ..suites.loader import load_suites
    from ..tokens import DEFAULT_RATIO, ratios_from_record

    cfg = load_config(None)
    con = store.open_db(db)
    try:
        run_id = store.resolve_run(con, run_ref)
        config = store.run_config(con, run_id)
        suites = {s.name: s for s in load_suites([s["path"] for s in config.get("suites", [])])}
        # A run from before ratios were recorded prepared its cases with the defaults here too.
        ratios = ratios_from_record(config.get("token_ratios"))
        rows = rows_to_rescore(con, run_id)
        cases = {name: {c.id: c for c in get_kind(s.kind).cases(s)} for name, s in suites.items()}
        updates: list[dict] = []
        scored: list[tuple] = []
        for r in rows:
            suite = suites.get(r["suite"])
            case = cases.get(r["suite"], {}).get(r["case_id"])
            if suite is None or case is None:
                continue
            info = replace(cfg.resolve_model(r["model"], allow_unknown=True),
                           token_ratio=ratios.get(r["model"], DEFAULT_RATIO))
            job = CaseJob(run_id, suite, get_kind(suite.kind), case, info, "", r["repeat"], "")
            # The stored figures stand in for the call, so scorers that read usage still can; the
            # flags the engine set when the answer came stay on it.
            stored = r["details"] if isinstance(r["details"], dict) else {}
            call = CallResult(request=r["request"] or {}, response=r["response"] or {},
                              flags=stored.get("flags") or {}, **{k: r[k] for k in MEASURED if r[k] is not None})
            prepared = job.prepare()
            prepared.state["stored_details"] = stored  # a judge's stored verdict, reused without --judge
            scored.append((r, job, prepared, Outcome(calls=[call], response=r["response"], output_text=r["output_text"])))
        if judge:
            from .rejudge import run_judges

            work = [(job.kind, prepared, o.output_text or "", r["suite"], r["case_id"])
                    for r, job, prepared, o in scored if hasattr(job.kind, "judge") and prepared.state.get("judges")]
            run_judges(cfg, judge, config, work, lambda p, res: p.state.__setitem__("judge_results", res))
        for r, job, prepared, outcome in scored:
            verdict = job.verdict(prepared, outcome)
            updates.append({"suite": r["suite"], "case_id": r["case_id"], "model": r["model"], "repeat": r["repeat"],
                            "status": verdict["status"], "error": verdict["error"], "score": verdict.get("score"),
                            "passed": verdict.get("passed"),
                            "details": json.dumps(verdict["details"], ensure_ascii=False, default=str),
                            "output_text": verdict.get("output_text")})
        write_verdicts(con, run_id, updates)
        print(f"rescored {len(updates)} rows of run {run_id}")
        print_summary(con, run_id)
    finally:
        con.close()
    return 0
