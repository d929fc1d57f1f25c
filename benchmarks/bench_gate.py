"""How often the version-bump gate is wrong: false alarms and power, by simulation through the
real decision code (`compare.verdicts`: the paired test, Holm, --min-drop, the verdict).

    python benchmarks/bench_gate.py                 # 400 simulations per false-alarm setting, 200 per power cell
    python benchmarks/bench_gate.py --small         # 40 / 20: a smoke run, figures too rough to quote

Model of a model: every case has its own pass probability p_i, drawn from Beta(0.77, 0.257)
(mean 0.75), so two runs of the *same* model disagree on about 19% of the cases (E[2 p (1-p)]),
as measured on real models in issue 15. Each run samples every case's answers independently.
A drop of D points multiplies every p_i by (1 - D / mean p): the expected accuracy falls by
exactly D, with no clipping at zero.

1. False alarms: no true difference, 5 suites x 400 cases (the issue's setting), with repeat
   counts (base, candidate) = (1, 1), (1, 3) and (3, 3). Target: at most alpha = 5%; the 95%
   Wilson interval of the rate is printed.
2. Power: one suite of 80, 400 and 2,000 cases, single runs, drops of 5, 10 and 20 points: how
   often the gate fails, beside the minimum detectable drop the gate itself quotes (mean over the
   simulations), which should be caught about 80% of the time.

3. The sequential gate (`evalseed.compare.sequential.SequentialGate`, fed one answer at a time as the
   runner feeds it): share of the cases it sends before stopping, and how often it fails the
   build, for no change, a 10-point and a 25-point drop, at 400 and 2,000 cases; a run it does not
   stop falls back to the fixed gate on all cases, as `run --gate --sequential` does. Beside it,
   the fixed gate's failure rate on the same simulated runs.

Exit 0 always when the measurement ran: a missed target is printed as MISSED, not an error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from types import SimpleNamespace  # noqa: E402

from evalseed import compare, stats  # noqa: E402
from evalseed.compare.sequential import SequentialGate  # noqa: E402

from _common import machine, run_main, verdict  # noqa: E402

ALPHA = 0.05
BETA_A, BETA_B = 0.77, 0.257  # mean 0.75, E[2p(1-p)] = 0.19
_EXCLUDED = {"both_skipped": 0, "only_in_base": 0, "only_in_cand": 0}


def simulate(rng, n_suites: int, n_cases: int, drop: float, repeats: tuple[int, int]):
    """Paired cases of `n_suites` suites, as compare pairs them, and the observed flip rate."""
    rb, rc = repeats
    paired, flips, firsts = [], 0, 0
    for s in range(n_suites):
        p = rng.beta(BETA_A, BETA_B, size=n_cases)
        pc = p * (1 - drop / p.mean())
        b = rng.random((n_cases, rb)) < p[:, None]
        c = rng.random((n_cases, rc)) < pc[:, None]
        flips += int((b[:, 0] != c[:, 0]).sum())
        firsts += n_cases

        def rows(vs, i):
            return [compare.Row(f"c{i}", "classification", r, "ok", None, bool(v), float(v), None, None, None)
                    for r, v in enumerate(vs)]

        paired.append((f"s{s}", compare.Paired(
            f"s{s}", "classification", "m", "m", [f"c{i}" for i in range(n_cases)],
            [rows(v, i) for i, v in enumerate(b)], [rows(v, i) for i, v in enumerate(c)], dict(_EXCLUDED),
            {"base": {"ok": n_cases * rb}, "cand": {"ok": n_cases * rc}})))
    return paired, flips / firsts


def gate(paired, sequential_run: bool = False):
    units, overall = compare.verdicts(paired, alpha=ALPHA, min_drop=0.02, max_cost_increase=None,
                                      max_latency_increase=None, n_resamples=200, seed=1,
                                      sequential_run=sequential_run)
    family = units + ([overall] if overall else [])
    return any(u.failed for u in family), units


def sequential(rng, n: int, drop: float, how: list | None = None):
    """(share of cases sent, sequential verdict failed, fixed gate failed) for one simulated run.
    The fixed gate is the plain one at alpha on all cases; a sequential run that reaches the end
    unsettled is judged by the fixed tests at alpha/2, as compare judges a --sequential run. `how`
    collects how the sequential verdict came about (stop, ruled out, fallback)."""
    paired, _ = simulate(rng, 1, n, drop, (1, 1))
    p = paired[0][1]
    base = {"s0": {cid: rows[0].value for cid, rows in zip(p.case_ids, p.base)}}
    cand = {cid: rows[0] for cid, rows in zip(p.case_ids, p.cand)}
    gate_ = SequentialGate(base, {"s0": n})
    suite = SimpleNamespace(name="s0")
    jobs = [SimpleNamespace(suite=suite, case_id=cid, repeat=0) for cid in p.case_ids]
    sent = 0
    for job in gate_.feed(jobs):
        sent += 1
        r = cand[job.case_id]
        gate_.add({"suite": "s0", "case_id": job.case_id, "status": "ok", "passed": r.passed})
    fixed_failed = gate(paired)[0]
    state = gate_.suites["s0"].state
    if state == "regression":
        how is not None and how.append("stopped: regression")
        return sent / n, True, fixed_failed
    if sent == n and state == "running":  # ran to the end unsettled: the fixed tests decide, at alpha/2
        fallback = gate(paired, sequential_run=True)[0]
        how is not None and how.append("fallback failed" if fallback else "fallback passed")
        how is not None and fixed_failed and how.append("fallback at full alpha (before) failed")
        return 1.0, fallback, fixed_failed
    how is not None and how.append("ruled out")
    return sent / n, False, fixed_failed


def sequential_null(rng, sims: int, n: int = 2000) -> int:
    """False alarms of the sequential gate with no true difference, and where they come from."""
    t0 = time.time()
    how: list[str] = []
    seq_failed = fixed_failed = 0
    shares = []
    for _ in range(sims):
        share, s_failed, f_failed = sequential(rng, n, 0.0, how)
        seq_failed += s_failed
        fixed_failed += f_failed
        shares.append(share)
    print(f"bench_gate --sequential-null {sims} on {machine()}")
    print(f"sequential gate, {n} cases, no change, {sims} simulations:")
    print(f"  false alarms: {rate(seq_failed, sims)}  target <= {100 * ALPHA:g}%: {verdict(seq_failed / sims <= ALPHA)}")
    print(f"  fixed gate on the same runs: {rate(fixed_failed, sims)}")
    print(f"  share of the calls sent (mean): {100 * np.mean(shares):.1f}%")
    for k in ("stopped: regression", "ruled out", "fallback failed", "fallback passed",
              "fallback at full alpha (before) failed"):
        print(f"  {k}: {how.count(k)}")
    before = how.count("stopped: regression") + how.count("fallback at full alpha (before) failed")
    print(f"  false alarms with the fallback at full alpha (before the fix): {rate(before, sims)}")
    print(f"{time.time() - t0:.0f} s")
    return 0


def plan_check(rng, sims: int, power: float = 0.8) -> int:
    """`plan-gate`'s cases needed (measure.cases_needed at the model's 19% flips, one suite) fed
    through compare.verdicts with that true drop: it should be caught about `power` of the time."""
    from evalseed.compare.measure import cases_needed

    t0 = time.time()
    print(f"bench_gate --plan {sims} on {machine()}")
    print(f"planned size (power {power:g}, alpha {ALPHA}, one suite, single runs, flips 19%) vs simulation:")
    for d in (0.05, 0.10, 0.20):
        n = cases_needed(0.19, d, ALPHA, 1.0, power)
        caught = sum(gate(simulate(rng, 1, n, d, (1, 1))[0])[0] for _ in range(sims))
        print(f"  {int(100 * d):>2}-pt drop: {n:>5} cases planned, caught {rate(caught, sims)}")
    print(f"{time.time() - t0:.0f} s")
    return 0


def rate(k: int, n: int) -> str:
    iv = stats.wilson_interval(k, n)
    return f"{k}/{n} = {100 * k / n:.1f}% [95% CI {100 * iv.low:.1f}, {100 * iv.high:.1f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="few simulations: a smoke run")
    ap.add_argument("--sims", type=int, default=None, help="simulations per false-alarm setting (default 400)")
    ap.add_argument("--power-sims", type=int, default=None, help="simulations per power cell (default 200)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--sequential-null", type=int, default=None, metavar="SIMS",
                    help="only the sequential gate's false alarms at 2,000 cases with no change, SIMS simulations")
    ap.add_argument("--plan", type=int, default=None, metavar="SIMS",
                    help="only: how often the size `plan-gate` plans (one suite, single runs, flip rate 19%%) "
                         "catches 5/10/20-point drops, SIMS simulations each")
    ap.add_argument("--sequential-only", action="store_true", help="only the sequential gate's table")
    args = ap.parse_args()
    if args.plan:
        return plan_check(np.random.default_rng(args.seed), args.plan)
    if args.sequential_null:
        return sequential_null(np.random.default_rng(args.seed), args.sequential_null)
    sims = args.sims or (40 if args.small else 400)
    psims = args.power_sims or (20 if args.small else 200)
    rng = np.random.default_rng(args.seed)
    print(f"bench_gate on {machine()}")
    print(f"alpha {ALPHA}, --min-drop 0.02; per-case p ~ Beta({BETA_A}, {BETA_B})")
    t0 = time.time()
    missed: list[str] = []
    if args.sequential_only:
        return sequential_table(rng, 20 if args.small else 200, missed, t0)
    print(f"\nfalse alarms, no true difference, 5 suites x 400 cases, {sims} simulations each:")
    for repeats in ((1, 1), (1, 3), (3, 3)):
        alarms, flip_rates = 0, []
        for _ in range(sims):
            paired, fr = simulate(rng, 5, 400, 0.0, repeats)
            alarms += gate(paired)[0]
            flip_rates.append(fr)
        ok = alarms / sims <= ALPHA
        if not ok:
            missed.append(f"false alarms with repeats {repeats}")
        print(f"  repeats base {repeats[0]}, candidate {repeats[1]}: {rate(alarms, sims)}  "
              f"(flips between first repeats {100 * np.mean(flip_rates):.1f}%)  target <= 5%: {verdict(ok)}")
    print(f"\npower, one suite, single runs, {psims} simulations per cell (gate failed / quoted detectable drop):")
    sizes, drops = (80, 400, 2000), (0.05, 0.10, 0.20)
    print("  cases   " + "".join(f"{int(100 * d):>2}-pt drop             " for d in drops))
    for n in sizes:
        cells = []
        for d in drops:
            caught, mdds = 0, []
            for _ in range(psims):
                failed, units = gate(simulate(rng, 1, n, d, (1, 1))[0])
                caught += failed
                mdds.append(units[0].power["mdd"])
            cells.append(f"{100 * caught / psims:5.1f}% (mdd {100 * np.mean(mdds):4.1f} pts)  ")
        print(f"  {n:>5}   " + "".join(cells))
    return sequential_table(rng, 20 if args.small else 200, missed, t0)


def sequential_table(rng, ssims: int, missed: list[str], t0: float) -> int:
    print(f"\nsequential gate, one suite, single runs, {ssims} simulations per row:")
    print("  cases  drop    share of cases sent (mean)  sequential failed   fixed gate failed (same runs)")
    for n in (400, 2000):
        for d in (0.0, 0.10, 0.25):
            shares, sf, ff = [], 0, 0
            for _ in range(ssims):
                share, s_failed, f_failed = sequential(rng, n, d)
                shares.append(share)
                sf += s_failed
                ff += f_failed
            print(f"  {n:>5}  {int(100 * d):>2} pts  {100 * np.mean(shares):5.1f}%                      "
                  f"{rate(sf, ssims):<30}  {rate(ff, ssims)}")
            if d == 0.25 and np.mean(shares) >= 0.30:
                missed.append(f"25-pt drop at {n} cases needs {100 * np.mean(shares):.0f}% of the calls (goal < 30%)")
            if d == 0.0 and sf / ssims > ALPHA:
                missed.append(f"sequential false alarms at {n} cases")
    print(f"\n{time.time() - t0:.0f} s")
    if missed:
        print("MISSED: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    run_main("bench_gate", main)
