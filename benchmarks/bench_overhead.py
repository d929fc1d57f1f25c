"""What evalseed costs on top of the API: the real CLI against a raw AsyncOpenAI loop, on the same
stub server and workload, both as whole processes (start-up included).

    python benchmarks/bench_overhead.py                  # 2,000 cases, C=64, delay 0 and 200 ms, 3 rounds
    python benchmarks/bench_overhead.py --rounds 5
    python benchmarks/bench_overhead.py --small          # CI smoke: 60 cases, delays 0 and 20 ms, 1 round
    python benchmarks/bench_overhead.py --startup-only   # start-up alone: --help, route pick, a 1-case run

Start-up (issue 20, item 6) is measured against `python -c "import json"` in the same rounds: the
ratio of `evalseed --help` to it, and to a one-command Typer app's `--help` (Typer's own cost);
`evalseed route pick` on a small trained router. Goals: `evalseed --help` within 1.5x of
`import json` plus Typer's own cost (help <= 1.5 * json + (typer app --help - json)); `route
pick` under 0.3 s on a quiet machine.

Per delay, each round runs `evalseed run` (fresh DuckDB file, --no-progress), the raw streamed
loop and the raw non-streamed loop (benchmarks/raw_loop.py) one after the other, the order
rotating between rounds; the ratio evalseed / raw is taken within each round, and the median of
those ratios is the figure. Targets (issue 10):
  delay 0:      evalseed <= 1.10 x the raw streamed loop (start-up included);
  delay 200 ms: evalseed <= 1.05 x (N * delay / C + the raw streamed loop's time at delay 0).
Also printed: CPU seconds per case, and a 1-case run of each (start-up and shut-down alone).
A missed target is printed, not failed; a crash of any process exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, StubProcess, check_db, machine, median, run_main, run_measured, verdict, write_suite  # noqa: E402

MODEL = "seed-1-6-flash-250715"
RAW = str(Path(__file__).resolve().parent / "raw_loop.py")


def evalseed_cmd(suite: Path, url: str, db: Path, c: int) -> list[str]:
    return [PYTHON, "-m", "evalseed", "run", str(suite), "--base-url", url, "--models", MODEL,
            "--db", str(db), "--no-progress", "--concurrency", str(c)]


def raw_cmd(url: str, n: int, c: int, mode: str) -> list[str]:
    return [PYTHON, RAW, "--base-url", url, "--n", str(n), "--concurrency", str(c), "--mode", mode]


def check_raw(out: str, n: int) -> None:
    import json

    got = json.loads(out.strip().splitlines()[-1])
    if got["n"] != n or got["correct"] != n:
        raise RuntimeError(f"raw loop answered {got}, expected {n} correct")


def measure(tmp: Path, suite: Path, answers: Path, n: int, c: int, delay_ms: float, rounds: int) -> dict:
    env = dict(os.environ, OPENAI_API_KEY="bench")
    variants = ["evalseed", "raw-stream", "raw-plain"]
    times: dict[str, list] = {v: [] for v in variants}
    cpu: dict[str, list] = {v: [] for v in variants}
    ratios: dict[str, list] = {"stream": [], "plain": []}
    with StubProcess(delay_ms, answers) as srv:
        for r in range(rounds):
            order = variants[r % 3:] + variants[:r % 3]
            got = {}
            for v in order:
                if v == "evalseed":
                    db = tmp / f"run-{delay_ms:g}-{r}.duckdb"
                    t = run_measured(evalseed_cmd(suite, srv.base_url, db, c), env=env, cwd=str(tmp))
                    check_db(db, n)
                    db.unlink()
                else:
                    t = run_measured(raw_cmd(srv.base_url, n, c, v.split("-")[1]), env=env, cwd=str(tmp))
                    check_raw(t.stdout, n)
                got[v] = t
                times[v].append(t.wall)
                cpu[v].append(t.cpu)
            ratios["stream"].append(got["evalseed"].wall / got["raw-stream"].wall)
            ratios["plain"].append(got["evalseed"].wall / got["raw-plain"].wall)
            print(f"  delay {delay_ms:g} ms round {r + 1}: " + "  ".join(
                f"{v} {got[v].wall:.2f} s ({got[v].cpu:.2f} s CPU)" for v in variants)
                + f"  ratio vs stream {ratios['stream'][-1]:.2f}, vs plain {ratios['plain'][-1]:.2f}", flush=True)
    return {"times": {v: median(x) for v, x in times.items()}, "cpu": {v: median(x) for v, x in cpu.items()},
            "ratio_stream": median(ratios["stream"]), "ratio_plain": median(ratios["plain"]),
            "ratios_stream": ratios["stream"]}


TYPER_APP = """import typer
app = typer.Typer(add_completion=False)
@app.command()
def hello(name: str = typer.Option("x", "--name", help="A name.")) -> None:
    print(name)
app()
"""


def small_router(tmp: Path, env: dict) -> Path:
    """A router trained on a 200-prompt, two-model outcome table (for `route pick`)."""
    import csv
    import random
    import subprocess

    rng = random.Random(0)
    src = tmp / "outcomes.csv"
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["domain", "prompt", "model-a", "model-b"])
        for i in range(200):
            w.writerow([f"d{i % 4}", f"question {i} about topic {i % 4} in a few words",
                        str(rng.random() < 0.5 + 0.1 * (i % 4)), str(rng.random() < 0.8)])
    db, router = tmp / "outcomes.duckdb", tmp / "router.json"
    for cmd in (["import", "outcomes", str(src), "--db", str(db), "--price", "model-a=0.1,0.1", "--price", "model-b=1,2"],
                ["route", "train", "--db", str(db), "-o", str(router)]):
        subprocess.run([PYTHON, "-m", "evalseed", *cmd], env=env, cwd=str(tmp), check=True, capture_output=True)
    return router


def startup(tmp: Path, answers: Path, rounds: int) -> dict:
    """A 1-case run of each (start-up, one request, storing, summary, exit), `evalseed --help`,
    `evalseed route pick`, and for scale `import json`, a one-command Typer app's --help and
    `import openai`: median wall and median CPU seconds."""
    one, _ = write_suite(tmp / "one", 1, name="bench-one")
    env = dict(os.environ, OPENAI_API_KEY="bench")
    router = small_router(tmp, env)
    (tmp / "typer_app.py").write_text(TYPER_APP)
    got: dict[str, list] = {k: [] for k in ("evalseed", "raw", "help", "pick", "import json", "typer app --help",
                                            "import openai")}
    with StubProcess(0, answers) as srv:
        for r in range(rounds):
            db = tmp / f"one-{r}.duckdb"
            got["evalseed"].append(run_measured(evalseed_cmd(one, srv.base_url, db, 1), env=env, cwd=str(tmp)))
            db.unlink()
            got["raw"].append(run_measured(raw_cmd(srv.base_url, 1, 1, "stream"), env=env, cwd=str(tmp)))
            got["import json"].append(run_measured([PYTHON, "-c", "import json"], env=env, cwd=str(tmp)))
            got["help"].append(run_measured([PYTHON, "-m", "evalseed", "--help"], env=env, cwd=str(tmp)))
            got["typer app --help"].append(run_measured([PYTHON, str(tmp / "typer_app.py"), "--help"], env=env,
                                                        cwd=str(tmp)))
            got["pick"].append(run_measured([PYTHON, "-m", "evalseed", "route", "pick", "--router", str(router),
                                             "--kind", "classification", "Is this refundable?"], env=env, cwd=str(tmp)))
            got["import openai"].append(run_measured([PYTHON, "-c", "import openai"], env=env, cwd=str(tmp)))
    return {k: (median([t.wall for t in v]), median([t.cpu for t in v])) for k, v in got.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--delays", default="0,200", help="server delays in ms, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="CI smoke: 60 cases, delays 0,20, 1 round")
    ap.add_argument("--startup-only", action="store_true", help="only the start-up figures (5 rounds)")
    a = ap.parse_args()
    if a.small:
        a.n, a.delays, a.rounds, a.concurrency = 60, "0,20", 1, 16
    delays = [float(d) for d in a.delays.split(",")]
    print(f"bench_overhead: {a.n} cases, C={a.concurrency}, delays {delays} ms, {a.rounds} rounds")
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="evalseed-bench-") as d:
        tmp = Path(d)
        suite, answers = write_suite(tmp / "suite", a.n)
        st = startup(tmp, answers, max(1, min(a.rounds, 5)) if not a.startup_only else 5)
        print("start-up, median wall / CPU: " + ", ".join(
            f"{label} {st[k][0]:.3f} s / {st[k][1]:.3f} s" for k, label in
            (("evalseed", "evalseed 1-case run"), ("raw", "raw streamed loop 1-case run"),
             ("help", "evalseed --help"), ("pick", "evalseed route pick"),
             ("import json", "python -c 'import json'"), ("typer app --help", "one-command Typer app --help"),
             ("import openai", "python -c 'import openai'"))))
        print(f"  1-case run ratio evalseed / raw: wall {st['evalseed'][0] / st['raw'][0]:.2f}, "
              f"CPU {st['evalseed'][1] / st['raw'][1]:.2f}")
        js, typer_help, helps, pick = st["import json"][0], st["typer app --help"][0], st["help"][0], st["pick"][0]
        print(f"  vs python -c 'import json' ({js:.3f} s): evalseed --help {helps / js:.2f}x, route pick "
              f"{pick / js:.2f}x, one-command Typer app --help {typer_help / js:.2f}x; evalseed --help / Typer app "
              f"--help {helps / typer_help:.2f}x")
        allowed = 1.5 * js + (typer_help - js)
        print(f"  goal evalseed --help <= 1.5 x import json + Typer's own cost = {allowed:.3f} s: "
              f"{verdict(helps <= allowed)} ({helps:.3f} s)")
        print(f"  goal route pick < 0.3 s (quiet machine): {verdict(pick < 0.3)} ({pick:.3f} s; load "
              f"{os.getloadavg()[0]:.1f})")
        if a.startup_only:
            return 0
        results = {d: measure(tmp, suite, answers, a.n, a.concurrency, d, a.rounds) for d in delays}
    base0 = results.get(0.0) or results[delays[0]]
    print()
    for d, res in results.items():
        t = res["times"]
        print(f"delay {d:g} ms (medians): evalseed {t['evalseed']:.2f} s, raw stream {t['raw-stream']:.2f} s, "
              f"raw plain {t['raw-plain']:.2f} s; CPU per case: " + ", ".join(
                  f"{v} {res['cpu'][v] / a.n * 1000:.2f} ms" for v in t))
        print(f"  ratio evalseed / raw stream {res['ratio_stream']:.2f} (rounds: "
              + ", ".join(f"{x:.2f}" for x in res["ratios_stream"]) + f"), / raw plain {res['ratio_plain']:.2f}")
        if d == 0:
            print(f"  target <= 1.10x raw stream at delay 0: {verdict(res['ratio_stream'] <= 1.10)}")
        else:
            ideal = a.n * d / 1000.0 / a.concurrency + base0["times"]["raw-stream"]
            print(f"  ideal N*delay/C + raw overhead = {a.n * d / 1000.0 / a.concurrency:.2f} + "
                  f"{base0['times']['raw-stream']:.2f} = {ideal:.2f} s; evalseed / ideal "
                  f"{t['evalseed'] / ideal:.2f}; target <= 1.05: {verdict(t['evalseed'] / ideal <= 1.05)}")
    return 0


if __name__ == "__main__":
    run_main("bench_overhead", main)
