"""Writing result rows to DuckDB: `store.ResultWriter` (Arrow batches, one transaction each)
against `executemany` of the same rows, measured in the same run.

    python benchmarks/bench_store.py                 # 100,000 rows (target: <= 2 s)
    python benchmarks/bench_store.py --small         # CI smoke: 3,000 rows

Rows have the `results` contract's shape and realistic sizes: a request body with a system and a
user message (about 400 bytes of JSON), an assembled chat.completion response with usage (about
350 bytes), details, timings and tokens. The writer is used as `evalseed run` uses it: `add()`
per row, a flush at every batch (2,000 rows), one last flush. executemany is far slower per row,
so it runs on the first --baseline-rows rows (default 2,000) and the ratio is taken per row
(the time of executemany per row is flat in the row count: one INSERT per row).

Printed: wall and CPU seconds, rows per second, the ratio, the target. Exit 1 only when the
stored rows are wrong (count, a JSON value that does not read back), never on a timing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, run_main, verdict  # noqa: E402

TARGET_S = 2.0


def make_rows(n: int, run_id: str = "bench-store") -> list[dict]:
    """`n` rows shaped like a classification run's (three labels, a few hundred bytes of JSON each)."""
    t0 = datetime(2026, 11, 26, 12, 0, 0)
    labels = ("positive", "negative", "neutral")
    system = ("You classify the sentiment of a product review. Answer with exactly one word: positive, "
              "negative, neutral, or mixed.")
    rows = []
    for i in range(n):
        label = labels[i % 3]
        predicted = label if i % 7 else labels[(i + 1) % 3]
        user = f"Review: item {i} arrived {('on time', 'broken', 'in a box')[i % 3]}; " + "it is fine. " * (1 + i % 9) + "\nSentiment:"
        request = {"model": "seed-1-6-flash-250715",
                   "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                   "temperature": 0, "max_tokens": 8, "stream": True, "stream_options": {"include_usage": True}}
        response = {"id": f"chatcmpl-{i:08x}", "created": 1764158400 + i, "model": "seed-1-6-flash-250715",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": predicted},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 40 + i % 50, "completion_tokens": 2, "total_tokens": 42 + i % 50,
                              "prompt_tokens_details": {"cached_tokens": 0},
                              "completion_tokens_details": {"reasoning_tokens": 0}}}
        started = t0 + timedelta(milliseconds=i)
        rows.append({
            "run_id": run_id, "suite": f"suite-{i % 5}", "case_id": f"case-{i:06d}", "kind": "classification",
            "model": "seed-1-6-flash-250715", "provider": "aisa", "repeat": 0, "status": "ok", "error": None,
            "input_text": user, "request": request, "response": response, "output_text": predicted,
            "score": 1.0 if predicted == label else 0.0, "passed": predicted == label,
            "details": {"expected": label, "predicted": predicted, "unparsed": False},
            "latency_ms": 120.0 + i % 300, "ttft_ms": 40.0 + i % 100, "output_tps": 55.5,
            "prompt_tokens": 40 + i % 50, "completion_tokens": 2, "reasoning_tokens": 0, "cached_tokens": 0,
            "images": None, "cost_usd": 1.2e-5, "attempts": 1, "replayed": False,
            "started_at": started, "finished_at": started + timedelta(milliseconds=150),
        })
    return rows


def write_with_writer(path: Path, rows: list[dict]) -> tuple[float, float]:
    from evalseed import store

    con = store.open_db(path)
    try:
        import pyarrow  # noqa: F401 - imported by the first flush in a run too; not part of the figure

        w0, c0 = time.perf_counter(), time.process_time()
        writer = store.ResultWriter(con, rows[0]["run_id"])
        for r in rows:
            writer.add(r)
        writer.flush()
        return time.perf_counter() - w0, time.process_time() - c0
    finally:
        con.close()


def write_with_executemany(path: Path, rows: list[dict]) -> tuple[float, float]:
    from evalseed import store

    con = store.open_db(path)
    try:
        cols = store.RESULT_NAMES
        sql = f"INSERT INTO results ({', '.join(chr(34) + c + chr(34) for c in cols)}) VALUES ({', '.join('?' * len(cols))})"
        w0, c0 = time.perf_counter(), time.process_time()
        params = [[store.to_json(r.get(c)) if c in store.JSON_COLUMNS else r.get(c) for c in cols] for r in rows]
        con.execute("BEGIN TRANSACTION")
        con.executemany(sql, params)
        con.execute("COMMIT")
        return time.perf_counter() - w0, time.process_time() - c0
    finally:
        con.close()


def json_encoding(rows: list[dict]) -> tuple[float, float]:
    """CPU seconds to serialise the JSON columns of `rows`: json.dumps as the writer did before
    (options given per call), and store.to_json (orjson) as it does now."""
    import json

    from evalseed import store

    values = [r[c] for r in rows for c in store.JSON_COLUMNS if r.get(c) is not None]
    c0 = time.process_time()
    for v in values:
        json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)
    c1 = time.process_time()
    for v in values:
        store.to_json(v)
    return c1 - c0, time.process_time() - c1


def check(path: Path, rows: list[dict]) -> None:
    import json

    from evalseed import store

    con = store.open_db(path, read_only=True)
    try:
        n, n_cases = con.execute("SELECT count(*), count(DISTINCT case_id) FROM results").fetchone()
        got = con.execute("SELECT request, response, details FROM results WHERE case_id = ?",
                          [rows[-1]["case_id"]]).fetchone()
    finally:
        con.close()
    if n != len(rows) or n_cases != len(rows):
        raise RuntimeError(f"{path.name}: {n} rows ({n_cases} cases) stored, expected {len(rows)}")
    last = rows[-1]
    if [json.loads(g) for g in got] != [last["request"], last["response"], last["details"]]:
        raise RuntimeError(f"{path.name}: the JSON columns of the last row do not read back as written")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--baseline-rows", type=int, default=2_000)
    ap.add_argument("--small", action="store_true", help="CI smoke: 3,000 rows, baseline 500")
    a = ap.parse_args()
    if a.small:
        a.rows, a.baseline_rows = 3_000, 500
    print(f"bench_store: {a.rows:,} rows via ResultWriter, executemany on {min(a.rows, a.baseline_rows):,}")
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    rows = make_rows(a.rows)
    sample = rows[: min(a.rows, a.baseline_rows)]
    with tempfile.TemporaryDirectory(prefix="evalseed-bench-store-") as d:
        wpath, epath = Path(d) / "writer.duckdb", Path(d) / "executemany.duckdb"
        ew, ec = write_with_executemany(epath, sample)
        ww, wc = write_with_writer(wpath, rows)
        check(wpath, rows)
        check(epath, sample)
        size_mb = wpath.stat().st_size / 1e6
    per_w = ww / len(rows)
    per_e = ew / len(sample)
    print(f"ResultWriter: {len(rows):,} rows in {ww:.2f} s wall, {wc:.2f} s CPU ({len(rows) / ww:,.0f} rows/s); "
          f"file {size_mb:.1f} MB")
    print(f"executemany:  {len(sample):,} rows in {ew:.2f} s wall, {ec:.2f} s CPU ({len(sample) / ew:,.0f} rows/s); "
          f"{per_e * len(rows):.1f} s for {len(rows):,} at that rate")
    print(f"ratio executemany / ResultWriter per row: {per_e / per_w:.1f}x")
    dumps_s, ours_s = json_encoding(rows)
    print(f"JSON columns alone: json.dumps {dumps_s:.2f} s CPU, store.to_json {ours_s:.2f} s CPU "
          f"({dumps_s / max(ours_s, 1e-9):.1f}x)")
    if a.rows >= 100_000:
        print(f"target <= {TARGET_S:g} s for {a.rows:,} rows: {verdict(ww <= TARGET_S)} ({ww:.2f} s wall, {wc:.2f} s CPU)")
    return 0


if __name__ == "__main__":
    run_main("bench_store", main)
