"""Replay speed of evalseed's cassettes, against baselines measured in the same run.

    python benchmarks/bench_replay.py            # 5,000 interactions (target: replay <= 10 s)
    python benchmarks/bench_replay.py --small    # 200 interactions: the CI smoke test

What it does, all against the stub OpenAI-compatible server in its own process, streamed:

1. `evalseed run` of an N-case classification suite, live (`--cassettes off`): the live baseline.
2. The same run with `--cassettes record`, then with `--cassettes replay` (server stopped by then,
   so replay cannot cheat): the replay figure is a whole `evalseed run`, scoring and DuckDB writes
   included. Its rows must equal the recorded ones (same answers, scores and recorded timings).
3. Transport-level comparison on M requests (default 250): the openai SDK alone, replayed by
   stock vcrpy from one cassette matched on method, URI and body (the quadratic case)
   versus `CassetteSession`. Stock vcrpy is not run at N: it is quadratic (64 s at 1,000 here).

Exit status 1 when replayed rows differ from recorded ones; a missed time target is printed, not
failed (the machine is shared; the figure is what it is).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 10.0
MODEL = "seed-1-6-flash-250715"
WORDS = ["love", "hate", "fine", "broke", "great", "awful", "okay", "superb"]
ANSWERS = {"love": "positive", "great": "positive", "superb": "positive",
           "hate": "negative", "broke": "negative", "awful": "negative"}


def write_suite(folder: Path, n: int) -> Path:
    lines = [
        "name: bench-replay",
        "kind: classification",
        "labels: [positive, negative, neutral]",
        "params: {temperature: 0, max_tokens: 8}",
        "messages:",
        '  - {role: system, content: "Answer positive, negative or neutral."}',
        '  - {role: user, content: "Review {{ n }}: I {{ w }} it"}',
        "cases:",
    ]
    for i in range(n):
        w = WORDS[i % len(WORDS)]
        expected = ANSWERS.get(w, "neutral")
        lines.append(f"  - {{id: c{i:05d}, vars: {{n: {i}, w: {w}}}, expected: {expected}}}")
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "bench.yaml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@contextlib.contextmanager
def stub_process(tmp: Path):
    answers = tmp / "answers.json"
    answers.write_text(json.dumps(ANSWERS))
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalseed.testing.stub_server", "--port", "0", "--answers", str(answers),
         "--answer", "neutral"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"stub server did not start: {line!r}")
        yield line.split("listening on ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(10)


def evalseed_run(suite: Path, db: Path, cassettes: Path, mode: str, base_url: str) -> float:
    from evalseed.run.command import run_command
    from evalseed.run.plan import RunOptions

    opts = RunOptions(paths=[str(suite)], models=MODEL, db=str(db), base_url=base_url, cassettes=mode,
                      cassette_dir=str(cassettes), progress=False, concurrency=8)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = run_command(opts)
    dt = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"evalseed run --cassettes {mode} exited with {code}")
    return dt


def result_rows(db: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT case_id, output_text, score, passed, latency_ms, ttft_ms, completion_tokens "
            "FROM results ORDER BY case_id"
        ).fetchall()
    finally:
        con.close()


async def sdk_requests(base_url: str, m: int) -> None:
    """M streamed chat requests through the openai SDK, 8 at a time, read to the end."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with sem:
            stream = await client.chat.completions.create(
                model=MODEL, stream=True, stream_options={"include_usage": True}, max_tokens=8,
                messages=[{"role": "user", "content": f"Review {i}: I {WORDS[i % len(WORDS)]} it"}],
                extra_headers={"x-evalseed-suite": "bench-sdk", "x-evalseed-case": f"c{i}"},
            )
            async for _ in stream:
                pass

    try:
        await asyncio.gather(*(one(i) for i in range(m)))
    finally:
        await client.close()


def stock_vcrpy(base_url: str, path: Path, m: int) -> tuple[float, float]:
    import vcr

    rec = vcr.VCR(match_on=["method", "uri", "body"], record_mode="all", filter_headers=["authorization"])
    t0 = time.perf_counter()
    with rec.use_cassette(str(path)):
        asyncio.run(sdk_requests(base_url, m))
    t_rec = time.perf_counter() - t0
    play = vcr.VCR(match_on=["method", "uri", "body"], record_mode="none")
    t0 = time.perf_counter()
    with play.use_cassette(str(path)):
        asyncio.run(sdk_requests(base_url, m))
    return t_rec, time.perf_counter() - t0


def ours_transport(base_url: str, root: Path, m: int) -> tuple[float, float]:
    from evalseed.cassettes import CassetteSession

    t0 = time.perf_counter()
    with CassetteSession("record", root):
        asyncio.run(sdk_requests(base_url, m))
    t_rec = time.perf_counter() - t0
    t0 = time.perf_counter()
    with CassetteSession("replay", root) as session:
        asyncio.run(sdk_requests(base_url, m))
    if session.played != m:
        raise RuntimeError(f"replay played {session.played} of {m} recorded requests")
    return t_rec, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Cassette replay speed against live and stock-vcrpy baselines.")
    ap.add_argument("--n", type=int, default=5000, help="interactions for the evalseed run figures")
    ap.add_argument("--m", type=int, default=250, help="requests for the stock-vcrpy comparison")
    ap.add_argument("--small", action="store_true", help="CI smoke size: --n 200 --m 50")
    args = ap.parse_args(argv)
    if args.small:
        args.n, args.m = 200, 50

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as d:
        tmp = Path(d)
        suite = write_suite(tmp / "suites", args.n)
        with stub_process(tmp) as base_url:
            # Warm-up: imports and first-use costs must not land on the first figure.
            evalseed_run(write_suite(tmp / "warm", 5), tmp / "warm.duckdb", tmp / "unused", "off", base_url)
            t0 = time.perf_counter()
            asyncio.run(sdk_requests(base_url, args.m))
            t_sdk_live = time.perf_counter() - t0
            t_live = evalseed_run(suite, tmp / "live.duckdb", tmp / "unused", "off", base_url)
            t_record = evalseed_run(suite, tmp / "rec.duckdb", tmp / "cassettes", "record", base_url)
            t_stock_rec, t_stock = stock_vcrpy(base_url, tmp / "stock.yaml", args.m)
            t_ours_rec, t_ours = ours_transport(base_url, tmp / "sdk-cassettes", args.m)
        # The server is gone: replay cannot reach it even by mistake.
        t_replay = evalseed_run(suite, tmp / "rep.duckdb", tmp / "cassettes", "replay", "http://127.0.0.1:9/v1")
        recorded, replayed = result_rows(tmp / "rec.duckdb"), result_rows(tmp / "rep.duckdb")
        files = list((tmp / "cassettes").rglob("*.json"))
        size_mb = sum(f.stat().st_size for f in files) / 1e6

    same = recorded == replayed and len(recorded) == args.n
    print(f"bench_replay: N={args.n} cases (streamed), M={args.m} for the stock-vcrpy comparison")
    print(f"  evalseed run, live (--cassettes off)     {t_live:8.2f} s   baseline")
    print(f"  evalseed run, --cassettes record         {t_record:8.2f} s   {t_record / t_live:5.2f}x live")
    print(f"  evalseed run, --cassettes replay         {t_replay:8.2f} s   {t_replay / t_live:5.2f}x live"
          f"   ({args.n / t_replay:,.0f} cases/s; {len(files)} file(s), {size_mb:.1f} MB)")
    print(f"  SDK only, live against the stub, M       {t_sdk_live:8.2f} s   baseline")
    print(f"  SDK only, stock vcrpy replay of M        {t_stock:8.2f} s   {t_stock / t_sdk_live:5.2f}x live"
          f" (recorded in {t_stock_rec:.2f} s)")
    print(f"  SDK only, CassetteSession replay of M    {t_ours:8.2f} s   {t_ours / t_sdk_live:5.2f}x live,"
          f" {t_stock / t_ours:.1f}x faster than stock (recorded in {t_ours_rec:.2f} s)")
    print(f"  replayed rows equal recorded rows: {'yes' if same else 'NO'}")
    if args.n >= 5000:
        verdict = "met" if t_replay <= TARGET_S else "MISSED"
        print(f"  target: {args.n:,} interactions replayed in <= {TARGET_S:.0f} s: {verdict} ({t_replay:.2f} s)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
