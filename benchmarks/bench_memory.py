"""Peak memory of a large run: `evalseed run` over 10,000 cases against the stub server, with the
raw AsyncOpenAI loop's peak on the same workload as the baseline measured in the same run.

    python benchmarks/bench_memory.py               # 10,000 cases, C=64 (target: <= 400 MB)
    python benchmarks/bench_memory.py --small       # CI smoke: 200 cases

Peak RSS is ru_maxrss from os.wait4 on exactly that process (the stub server is not counted).
Also printed: the peak at a tenth of the cases, so growth per case is visible (a run that keeps
every row in memory grows linearly; one that streams rows to DuckDB in batches does not).
Exit 1 only when a process fails or the stored rows are wrong, never on the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CUE, PYTHON, StubProcess, machine, run_main, run_measured, verdict, write_suite  # noqa: E402

MODEL = "seed-1-6-flash-250715"
TARGET_MB = 400.0
RAW = str(Path(__file__).resolve().parent / "raw_loop.py")


def evalseed_peak(tmp: Path, n: int, url: str, c: int) -> float:
    suite, _ = write_suite(tmp / f"suite-{n}", n)
    db = tmp / f"mem-{n}.duckdb"
    t = run_measured([PYTHON, "-m", "evalseed", "run", str(suite), "--base-url", url, "--models", MODEL,
                      "--db", str(db), "--no-progress", "--concurrency", str(c)],
                     env=dict(os.environ, OPENAI_API_KEY="bench"), cwd=str(tmp))
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        stored, passed = con.execute("SELECT count(*), count(*) FILTER (passed) FROM results").fetchone()
    finally:
        con.close()
    if stored != n or passed != n:
        raise RuntimeError(f"the {n}-case run stored {stored} rows ({passed} passed), expected {n}")
    print(f"  evalseed {n:,} cases: peak RSS {t.max_rss_mb:.0f} MB, {t.wall:.1f} s", flush=True)
    return t.max_rss_mb


def raw_peak(n: int, url: str, c: int) -> float:
    t = run_measured([PYTHON, RAW, "--base-url", url, "--n", str(n), "--concurrency", str(c), "--mode", "stream"])
    got = json.loads(t.stdout.strip().splitlines()[-1])
    if got["correct"] != n:
        raise RuntimeError(f"raw loop answered {got}")
    print(f"  raw loop {n:,} cases: peak RSS {t.max_rss_mb:.0f} MB, {t.wall:.1f} s", flush=True)
    return t.max_rss_mb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--small", action="store_true", help="CI smoke: 200 cases")
    a = ap.parse_args()
    if a.small:
        a.n = 200
    print(f"bench_memory: {a.n:,} cases, C={a.concurrency}; machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="evalseed-bench-mem-") as d:
        tmp = Path(d)
        # The stub answers by a cue word in each review, so every case is answered right.
        answers = tmp / "answers.json"
        answers.write_text(json.dumps({cue: label for label, cue in CUE.items()}))
        with StubProcess(0, answers) as srv:
            small = max(1, a.n // 10)
            es_small = evalseed_peak(tmp, small, srv.base_url, a.concurrency)
            es = evalseed_peak(tmp, a.n, srv.base_url, a.concurrency)
            raw = raw_peak(a.n, srv.base_url, a.concurrency)
    print(f"peak RSS: evalseed {es:.0f} MB at {a.n:,} cases ({es_small:.0f} MB at {small:,}); "
          f"raw loop {raw:.0f} MB; ratio {es / raw:.2f}x; growth {(es - es_small) / (a.n - small) * 1000:.1f} KB/case")
    if a.n >= 10_000:
        print(f"target <= {TARGET_MB:g} MB: {verdict(es <= TARGET_MB)}")
    return 0


if __name__ == "__main__":
    run_main("bench_memory", main)
