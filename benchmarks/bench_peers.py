"""evalseed against promptfoo and inspect_ai on the same workload and the same stub server, all
inside a network namespace that has only loopback (no telemetry, no update checks can leave).

    python benchmarks/bench_peers.py                          # installs the peers into a temp folder
    python benchmarks/bench_peers.py --workdir /tmp/peers     # install once there, reuse next time
    python benchmarks/bench_peers.py --n 500 --concurrency 50 --rounds 3

Not part of CI (the installs take minutes). Needs root for `unshare -n` (the script re-runs itself
inside the namespace and brings `lo` up), node/npm, and python3 with venv.

Workload: the generated classification suite (N cases, 3 labels), concurrency C, stub delays 0
and 200 ms. Each tool runs as a whole process with its defaults for storing results, caches off:
  evalseed     `evalseed run --no-progress --concurrency C`, fresh DuckDB file (streams, stores
               every request and response);
  promptfoo    `promptfoo eval --no-cache -j C`, fresh config dir (its results database), an
               `equals` assertion per case; also `--no-write` (stores nothing);
  inspect_ai   `inspect eval --max-connections C`, `match` scorer, fresh log dir; also
               `--no-log-samples`.
Rounds rotate the order of the tools; figures are medians; ratios are peer / evalseed.
Targets (issue 10): evalseed <= 1/2 of promptfoo's wall time and <= 1/4 of inspect's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import PYTHON, ROOT, StubProcess, check_db, machine, median, run_main, run_measured, suite_prompts, verdict, write_suite  # noqa: E402

MODEL = "seed-1-6-flash-250715"
PROMPTFOO_VERSION = "0.121.20"
INSPECT_VERSION = "0.3.285"
QUIET_ENV = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_DEBUG_LOG": "1",
    "PROMPTFOO_CACHE_ENABLED": "false", "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "1",
    "INSPECT_DISPLAY": "none", "DO_NOT_TRACK": "1", "OPENAI_API_KEY": "bench",
}


# ---- installs (outside the namespace: they need the registries) ------------------------------


def install(work: Path) -> None:
    pf = work / "pf"
    if not (pf / "node_modules" / ".bin" / "promptfoo").exists():
        pf.mkdir(parents=True, exist_ok=True)
        print(f"installing promptfoo {PROMPTFOO_VERSION} into {pf} ...", flush=True)
        subprocess.run(["npm", "init", "-y"], cwd=pf, check=True, capture_output=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", f"promptfoo@{PROMPTFOO_VERSION}"],
                       cwd=pf, check=True, capture_output=True)
    venv = work / "inspect-venv"
    if not (venv / "bin" / "inspect").exists():
        print(f"installing inspect_ai {INSPECT_VERSION} into {venv} ...", flush=True)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"inspect_ai=={INSPECT_VERSION}", "openai"],
                       check=True)


# ---- workload files ---------------------------------------------------------------------------


def write_promptfoo(folder: Path, n: int, base_url: str) -> Path:
    import yaml

    cases = suite_prompts(n)
    system = cases[0][0]
    prompt = json.dumps([{"role": "system", "content": system}, {"role": "user", "content": "{{ user }}"}])
    config = {
        "description": "evalseed bench_peers",
        "prompts": [{"id": "cls", "raw": prompt}],
        "providers": [{"id": f"openai:chat:{MODEL}",
                       "config": {"apiBaseUrl": base_url, "apiKey": "bench", "temperature": 0, "max_tokens": 8}}],
        "tests": [{"vars": {"user": user}, "assert": [{"type": "equals", "value": expected}]}
                  for _, user, expected in cases],
    }
    path = folder / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


INSPECT_TASK = '''
import sys
sys.path.insert(0, {here!r})
from _common import suite_prompts
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import match
from inspect_ai.solver import generate, system_message


@task
def bench_cls():
    cases = suite_prompts({n})
    samples = [Sample(id=i, input=user, target=expected) for i, (_, user, expected) in enumerate(cases)]
    return Task(dataset=MemoryDataset(samples), solver=[system_message(cases[0][0]), generate()],
                scorer=match(location="exact"), config=GenerateConfig(temperature=0, max_tokens=8))
'''


def write_inspect(folder: Path, n: int) -> Path:
    path = folder / "bench_task.py"
    path.write_text(INSPECT_TASK.format(here=str(HERE), n=n), encoding="utf-8")
    return path


# ---- one round --------------------------------------------------------------------------------


def commands(work: Path, tmp: Path, suite: Path, pf_config: Path, task: Path, url: str, c: int, delay: float,
             r: int) -> dict:
    pf_bin = str(work / "pf" / "node_modules" / ".bin" / "promptfoo")
    inspect_bin = str(work / "inspect-venv" / "bin" / "inspect")
    pf_common = [pf_bin, "eval", "-c", str(pf_config), "--no-cache", "-j", str(c), "--no-progress-bar", "--no-table"]
    # The task file is named relative to cwd: inspect globs it, and refuses absolute patterns.
    ins_common = [inspect_bin, "eval", task.name, "--model", f"openai/{MODEL}", "--model-base-url", url,
                  # Chat Completions, as the others use: inspect's default is the Responses API,
                  # which an OpenAI-compatible server (Seed's included) does not offer.
                  "-M", "responses_api=false", "--max-connections", str(c), "--display", "none"]
    return {
        "evalseed": [PYTHON, "-m", "evalseed", "run", str(suite), "--base-url", url, "--models", MODEL,
                     "--db", str(tmp / f"es-{delay:g}-{r}.duckdb"), "--no-progress", "--concurrency", str(c)],
        "promptfoo": pf_common,
        "promptfoo --no-write": pf_common + ["--no-write"],
        "inspect": ins_common + ["--log-dir", str(tmp / f"inspect-logs-{r}")],
        "inspect --no-log-samples": ins_common + ["--log-dir", str(tmp / f"inspect-nl-{r}"), "--no-log-samples"],
    }


def check_done(tool: str, output: str, cmd: list[str], work: Path, n: int) -> None:
    """Every tool must have answered every case right, or its time measured nothing (inspect
    exits 0 even when the eval failed; promptfoo exits 100 on a failed assertion)."""
    import re

    if tool == "evalseed":
        db = Path(cmd[cmd.index("--db") + 1])
        check_db(db, n)
        db.unlink()
    elif tool.startswith("promptfoo"):
        m = re.search(r"([\d,]+) passed", output)  # "2,000 passed"
        if not m or int(m.group(1).replace(",", "")) != n:
            raise RuntimeError(f"{tool}: expected {n} passed, output ends:\n{output[-1500:]}")
    elif tool.startswith("inspect"):
        log_dir = Path(cmd[cmd.index("--log-dir") + 1])
        logs = sorted(log_dir.glob("*.eval"))
        if not logs:
            raise RuntimeError(f"{tool}: no log in {log_dir}")
        dump = subprocess.run([str(work / "inspect-venv" / "bin" / "inspect"), "log", "dump", "--header-only",
                               str(logs[-1])], capture_output=True, text=True, check=True).stdout
        head = json.loads(dump)
        res = head.get("results") or {}
        acc = [s["metrics"]["accuracy"]["value"] for s in res.get("scores", []) if "accuracy" in s.get("metrics", {})]
        if head.get("status") != "success" or res.get("completed_samples") != n or acc != [1.0]:
            raise RuntimeError(f"{tool}: status {head.get('status')}, {res.get('completed_samples')} of {n} samples, "
                               f"accuracy {acc}; error: {str(head.get('error'))[:500]}")
        shutil.rmtree(log_dir, ignore_errors=True)


def inside(args) -> int:
    """Runs in the namespace: the stub server and every tool, loopback only."""
    work = Path(args.workdir)
    tools = ["evalseed", "promptfoo", "promptfoo --no-write", "inspect", "inspect --no-log-samples"]
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="evalseed-peers-") as d:
        tmp = Path(d)
        suite, answers = write_suite(tmp / "suite", args.n)
        task = write_inspect(tmp, args.n)
        for delay in [float(x) for x in args.delays.split(",")]:
            times: dict[str, list] = {t: [] for t in tools}
            cpu: dict[str, list] = {t: [] for t in tools}
            with StubProcess(delay, answers) as srv:
                pf_config = write_promptfoo(tmp, args.n, srv.base_url)
                for r in range(args.rounds):
                    order = tools[r % len(tools):] + tools[:r % len(tools)]
                    cmds = commands(work, tmp, suite, pf_config, task, srv.base_url, args.concurrency, delay, r)
                    for tool in order:
                        cfg_dir = tmp / f"pfcfg-{delay:g}-{r}-{tool.replace(' ', '')}"
                        env = dict(os.environ, **QUIET_ENV, PROMPTFOO_CONFIG_DIR=str(cfg_dir),
                                   INSPECT_CACHE_DIR=str(tmp / "inspect-cache"))
                        t = run_measured(cmds[tool], env=env, cwd=str(tmp), timeout=1800)
                        shutil.rmtree(cfg_dir, ignore_errors=True)
                        check_done(tool, t.stdout + t.stderr, cmds[tool], work, args.n)
                        times[tool].append(t.wall)
                        cpu[tool].append(t.cpu)
                        print(f"  delay {delay:g} ms round {r + 1} {tool}: {t.wall:.2f} s ({t.cpu:.2f} s CPU)", flush=True)
            results[delay] = {"wall": {t: median(v) for t, v in times.items()},
                              "cpu": {t: median(v) for t, v in cpu.items()}}
    print()
    print(f"bench_peers: {args.n} cases, C={args.concurrency}, {args.rounds} rounds; machine: {machine()}")
    for delay, res in results.items():
        w = res["wall"]
        es = w["evalseed"]
        print(f"delay {delay:g} ms (median wall, CPU per case):")
        for tool in tools:
            print(f"  {tool:26s} {w[tool]:7.2f} s  {res['cpu'][tool] / args.n * 1000:6.2f} ms CPU/case"
                  + ("" if tool == "evalseed" else f"  {w[tool] / es:5.2f}x evalseed"))
        print(f"  target evalseed <= 1/2 promptfoo: {verdict(es <= w['promptfoo'] / 2)} "
              f"({w['promptfoo'] / es:.2f}x); <= 1/4 inspect: {verdict(es <= w['inspect'] / 4)} ({w['inspect'] / es:.2f}x)")
    print("JSON " + json.dumps({str(k): v for k, v in results.items()}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--delays", default="0,200")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", help="where promptfoo and inspect_ai are installed (kept); default: a temp folder")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        return inside(args)
    tmp = None
    if not args.workdir:
        tmp = tempfile.mkdtemp(prefix="evalseed-peer-installs-")
        args.workdir = tmp
    try:
        install(Path(args.workdir))
        inner = [PYTHON, str(Path(__file__).resolve()), "--inside", "--n", str(args.n), "--concurrency",
                 str(args.concurrency), "--delays", args.delays, "--rounds", str(args.rounds), "--workdir", args.workdir]
        # A fresh network namespace: only loopback exists, and it starts down.
        script = "ip link set lo up && exec " + " ".join(_quote(x) for x in inner)
        return subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=str(ROOT)).returncode
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


if __name__ == "__main__":
    run_main("bench_peers", main)
