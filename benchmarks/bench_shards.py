"""Shards (issue 19): N shards of one run as N processes, merged, against one process doing all;
merge time, Parquet size, and `report` on the Parquet folder against the DuckDB file.

    python benchmarks/bench_shards.py                 # 20,000 cases, 4 shards, report 3 rounds
    python benchmarks/bench_shards.py --smoke         # CI smoke: 400 cases, 4 shards, 1 round
    python benchmarks/bench_shards.py --skip-run      # only the 100,000-row synthetic part

Second part, at 100,000 rows measured (not scaled): four files of one synthetic run each
(evalseed.report.synthetic, the report benchmark's rows: all five kinds, realistic JSON), merged
into one file, exported; merge time, file and folder sizes, and `report` of one 25,000-row run
on the folder against the file.

Against the stub server (its own process, no delay), concurrency 64 per process. The shards run
at the same time, each a whole `evalseed run --shard I/4` process; their wall time is from the
first start to the last exit, their CPU the sum of the four processes' user+system seconds.
Expect no gain on 2 cores: the work is CPU-bound in the client and the stub. The merge runs
`evalseed merge` (whole process, and the in-process time it prints); the Parquet folder is
`evalseed export --parquet`; per-100k figures are scaled linearly from the measured size, and
say so. Checks that the merged run holds exactly the unsharded run's rows; exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, StubProcess, check_db, machine, median, run_main, run_measured, write_suite  # noqa: E402

MODEL = "seed-1-6-flash-250715"


def run_cmd(suite: Path, url: str, db: Path, *extra: str) -> list[str]:
    return [PYTHON, "-m", "evalseed", "run", str(suite), "--base-url", url, "--models", MODEL, "--db", str(db),
            "--no-progress", "--concurrency", "64", *extra]


def run_parallel(cmds: list[list[str]], env: dict) -> tuple[float, float]:
    """Start every command at once; (wall from first start to last exit, summed CPU seconds)."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
             for c in cmds]
    cpu = 0.0
    pending = {p.pid: p for p in procs}
    while pending:
        pid, status, usage = os.wait4(-1, 0)
        p = pending.pop(pid, None)
        if p is None:
            continue
        cpu += usage.ru_utime + usage.ru_stime
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"a shard exited {os.waitstatus_to_exitcode(status)}: {p.stderr.read()[-2000:]}")
    return time.perf_counter() - t0, cpu


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def rows_of(db: Path, run_id: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute('SELECT suite, case_id, model, "repeat", status, passed, output_text FROM results '
                           "WHERE run_id = ? ORDER BY ALL", [run_id]).fetchall()
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the report timing")
    ap.add_argument("--synthetic-rows", type=int, default=100_000)
    ap.add_argument("--skip-run", action="store_true", help="only the synthetic part")
    ap.add_argument("--smoke", action="store_true", help="CI smoke: 400 cases, 4,000 synthetic rows, 1 round")
    a = ap.parse_args()
    if a.smoke:
        a.cases, a.rounds, a.synthetic_rows = 400, 1, 4_000
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    env = dict(os.environ, OPENAI_API_KEY="bench")
    if not a.skip_run:
        shards_run(a, env)
    synthetic(a, env)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


def synthetic(a, env: dict) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from evalseed import store
    from evalseed.report.synthetic import build_run

    per_file = a.synthetic_rows // 4
    cases = max(1, round(per_file / 12.1))  # 4 suites x 3 models + images/10 per case
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        files, total = [], 0
        for i in range(4):
            db = tmp / f"part{i}.duckdb"
            con = store.open_db(db)
            total += build_run(con, f"synth-{i}", cases_per_suite=cases, seed=i)["rows"]
            con.close()
            files.append(db)
        merged = tmp / "all.duckdb"
        m = run_measured([PYTHON, "-m", "evalseed", "merge", *map(str, files), "--into", str(merged)], env=env)
        inproc = float(re.search(r"in ([0-9.]+) s", m.stdout).group(1))
        e = run_measured([PYTHON, "-m", "evalseed", "export", "--db", str(merged), "--parquet", str(tmp / "hist")],
                         env=env)
        pq, ddb = du(tmp / "hist"), du(merged)
        print(f"synthetic, {total:,} rows in 4 files of one run each: merge {inproc:.2f} s merging "
              f"({m.wall:.2f} s whole process); DuckDB file {ddb / 1e6:.1f} MB; export {e.wall:.2f} s, "
              f"Parquet folder {pq / 1e6:.1f} MB ({pq / ddb:.2f}x the file)")
        times: dict[str, list[float]] = {"duckdb": [], "parquet": []}
        for r in range(a.rounds):
            for name, db in ((("duckdb", merged), ("parquet", tmp / "hist")) if r % 2 == 0
                             else (("parquet", tmp / "hist"), ("duckdb", merged))):
                t = run_measured([PYTHON, "-m", "evalseed", "report", "synth-0", "--db", str(db), "-o",
                                  str(tmp / f"rep-{name}-{r}")], env=env)
                times[name].append(t.wall)
        d, p = median(times["duckdb"]), median(times["parquet"])
        print(f"report of one {total // 4:,}-row run of the merged {total:,}, whole process, median of {a.rounds}: "
              f"DuckDB file {d:.2f} s, Parquet folder {p:.2f} s ({p / d:.2f}x)")


def shards_run(a, env: dict) -> None:
    n, k = a.cases, a.shards
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        suite, answers = write_suite(tmp / "suites", n)
        with StubProcess(0.0, answers) as srv:
            one = run_measured(run_cmd(suite, srv.base_url, tmp / "one.duckdb"), env=env)
            check_db(tmp / "one.duckdb", n)
            one_id = re.search(r"^run (\S+) stored", one.stdout, re.M).group(1)
            dbs = [tmp / f"s{i}.duckdb" for i in range(1, k + 1)]
            wall_k, cpu_k = run_parallel([run_cmd(suite, srv.base_url, db, "--shard", f"{i}/{k}", "--group", "bench")
                                          for i, db in enumerate(dbs, 1)], env)
        print(f"one process, {n:,} cases: {one.wall:.1f} s wall, {one.cpu:.1f} s CPU ({one.cpu / n * 1000:.2f} ms "
              f"CPU per case)")
        print(f"{k} shard processes at once: {wall_k:.1f} s wall ({wall_k / one.wall:.2f}x one process), "
              f"{cpu_k:.1f} s CPU ({cpu_k / n * 1000:.2f} ms CPU per case, {cpu_k / one.cpu:.2f}x)")
        merged = tmp / "all.duckdb"
        m = run_measured([PYTHON, "-m", "evalseed", "merge", *map(str, dbs), "--into", str(merged)], env=env)
        inproc = float(re.search(r"in ([0-9.]+) s", m.stdout).group(1))
        print(f"merge of {k} files, {n:,} rows: {m.wall:.2f} s whole process, {inproc:.2f} s merging "
              f"-> {inproc * 100_000 / n:.2f} s per 100k rows (scaled linearly from {n:,})")
        if rows_of(merged, "bench") != rows_of(tmp / "one.duckdb", one_id):
            raise RuntimeError("the merged shards do not hold the unsharded run's rows")
        again = run_measured([PYTHON, "-m", "evalseed", "merge", *map(str, dbs), "--into", str(merged)], env=env)
        if "0 result rows" not in again.stdout:
            raise RuntimeError(f"merging twice added rows: {again.stdout}")
        print(f"merging again: {again.wall:.2f} s, nothing added")
        e = run_measured([PYTHON, "-m", "evalseed", "export", "--db", str(merged), "--parquet", str(tmp / "hist")],
                         env=env)
        pq, ddb = du(tmp / "hist"), du(merged)
        print(f"export: {e.wall:.2f} s whole process; Parquet {pq / 1e6:.2f} MB for {n:,} rows -> "
              f"{pq / n * 100_000 / 1e6:.1f} MB per 100k rows; the DuckDB file {ddb / 1e6:.2f} MB -> "
              f"{ddb / n * 100_000 / 1e6:.1f} MB per 100k rows (scaled linearly)")
        times: dict[str, list[float]] = {"duckdb": [], "parquet": []}
        for r in range(a.rounds):
            for name, db in ((("duckdb", merged), ("parquet", tmp / "hist")) if r % 2 == 0
                             else (("parquet", tmp / "hist"), ("duckdb", merged))):
                t = run_measured([PYTHON, "-m", "evalseed", "report", "bench", "--db", str(db), "-o",
                                  str(tmp / f"rep-{name}-{r}")], env=env)
                times[name].append(t.wall)
        d, p = median(times["duckdb"]), median(times["parquet"])
        print(f"report on the merged run ({n:,} rows), whole process, median of {a.rounds}: DuckDB file {d:.2f} s, "
              f"Parquet folder {p:.2f} s ({p / d:.2f}x)")


if __name__ == "__main__":
    run_main("bench_shards", main)
