"""Speed of `compare_runs`, against baselines measured in the same run.

    python benchmarks/bench_compare.py              # 10 suites x 500 cases (5,000 pairs)
    python benchmarks/bench_compare.py --suites 2 --cases 200

Builds a DuckDB file with two runs (latency, TTFT and cost on every row), then times, in CPU
seconds (the machine is shared; wall time says more about the neighbours than about us):

1. `compare_runs` as shipped (10,000 resamples for accuracy, 2,000 for cost/latency/TTFT).
2. Baseline A: reading the rows alone (`store.fetch_rows` of both runs), the floor any comparison
   pays.
3. Baseline B: the textbook bootstrap the stats module replaces, on the same data and resample
   counts: index resampling for every mean and `np.quantile` on each resample for p50/p95.

Printed: each time and the ratios compare/A and B/compare. Both implementations' 95% intervals
for the overall accuracy difference are printed too, so a speed-up that changed the answer shows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evalseed import compare, stats, store  # noqa: E402


def build(path: Path, n_suites: int, n_cases: int) -> None:
    rng = np.random.default_rng(1)
    con = store.open_db(path)
    t0 = datetime(2026, 11, 26)
    for run_id, model, slow in (("base", "seed-1-6-250915", 1.0), ("cand", "seed-1-6-260301", 1.1)):
        store.insert_run(con, run_id, label=run_id, git_sha=None, version="bench", config={})
        w = store.ResultWriter(con, run_id)
        r2 = np.random.default_rng(2)  # same latencies both sides, scaled
        for s in range(n_suites):
            for i in range(n_cases):
                passed = bool(rng.random() < (0.8 if run_id == "base" else 0.77))
                lat = float(r2.lognormal(6, 0.5)) * slow
                w.add({"run_id": run_id, "suite": f"suite{s}", "case_id": f"c{i}", "kind": "classification",
                       "model": model, "provider": "bench", "repeat": 0, "status": "ok", "output_text": "x",
                       "score": float(passed), "passed": passed, "details": {"expected": "x"},
                       "latency_ms": lat, "ttft_ms": lat / 3, "cost_usd": 0.001 * slow,
                       "started_at": t0, "finished_at": t0})
        w.flush()
        store.finish_run(con, run_id, "finished")
    con.close()


def textbook(con, n_main: int, n_secondary: int) -> tuple[float, float]:
    """The same figures, computed the plain way; returns the overall diff interval."""
    rows = {r: store.fetch_rows(con, "run_id = ?", [r], ["suite", "case_id", "passed", "latency_ms", "ttft_ms",
                                                           "cost_usd"]) for r in ("base", "cand")}
    key = lambda x: (x["suite"], x["case_id"])  # noqa: E731
    b = sorted(rows["base"], key=key)
    c = sorted(rows["cand"], key=key)
    suites = sorted({x["suite"] for x in b})
    rng = np.random.default_rng(0)

    def boot_mean(d, n):
        idx = rng.integers(0, d.size, size=(n, d.size))
        return np.quantile(d[idx].mean(axis=1), [0.025, 0.975])

    def boot_q(x, y, n):
        idx = rng.integers(0, x.size, size=(n, x.size))
        for q in (0.5, 0.95):
            np.quantile(np.quantile(y[idx], q, axis=1) - np.quantile(x[idx], q, axis=1), [0.025, 0.975])

    def figures(bs, cs, n_main):
        pb = np.array([float(x["passed"]) for x in bs])
        pc = np.array([float(x["passed"]) for x in cs])
        out = boot_mean(pc - pb, n_main)
        boot_mean(pb, n_main)
        boot_mean(pc, n_main)
        for col in ("latency_ms", "ttft_ms"):
            boot_q(np.array([x[col] for x in bs]), np.array([x[col] for x in cs]), n_secondary)
        boot_mean(np.array([x["cost_usd"] for x in cs]) - np.array([x["cost_usd"] for x in bs]), n_secondary)
        return out

    for s in suites:
        figures([x for x in b if x["suite"] == s], [x for x in c if x["suite"] == s], n_main)
    lo, hi = figures(b, c, n_main)
    return float(lo), float(hi)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suites", type=int, default=10)
    ap.add_argument("--cases", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        build(path, args.suites, args.cases)
        con = store.open_db(path, read_only=True)
        t = time.process_time()
        result = compare.compare_runs(con, "base", "cand")
        t_compare = time.process_time() - t
        t = time.process_time()
        store.fetch_rows(con, "run_id = 'base'")
        store.fetch_rows(con, "run_id = 'cand'")
        t_fetch = time.process_time() - t
        t = time.process_time()
        ref = textbook(con, stats.DEFAULT_RESAMPLES, compare.SECONDARY_RESAMPLES)
        t_textbook = time.process_time() - t
        con.close()
    o = result.overall or result.units[0]
    n = args.suites * args.cases
    print(f"pairs: {n} ({args.suites} suites x {args.cases} cases)")
    print(f"compare_runs:            {t_compare:6.2f} s CPU")
    print(f"A  fetch rows only:      {t_fetch:6.2f} s CPU   compare/A = {t_compare / t_fetch:5.1f}x")
    print(f"B  textbook bootstrap:   {t_textbook:6.2f} s CPU   B/compare = {t_textbook / t_compare:5.1f}x")
    print(f"overall diff 95% CI: compare [{o.diff.low:+.4f}, {o.diff.high:+.4f}]  "
          f"textbook (unstratified) [{ref[0]:+.4f}, {ref[1]:+.4f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
