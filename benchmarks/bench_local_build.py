"""Tokens per second of llama.cpp builds on the embedded Gemma model: what the portable build
(`evalseed local install`) costs against a native one on the same machine, in the same run.

    python benchmarks/bench_local_build.py --wheel portable=PATH.whl --wheel native=PATH.whl
    python benchmarks/bench_local_build.py --small      # the installed build only (CI smoke)

Each wheel is unpacked into its own folder and loaded in a child process (PYTHONPATH), so the
builds never share a process and a build that crashes on this CPU is reported as such, by its
signal, instead of taking the benchmark down. Rounds alternate between builds (ABAB...) so that
a change in the machine's load falls on both; the figures are medians over rounds, and the ratio
is printed beside them. Prompt processing and generation are timed apart: generation is what a
run's latency is made of on this model, prompt processing what long-context cases are.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

CHILD = r"""
import json, sys
import llama_cpp
from evalseed.local_model import model_path
n_prompt, n_gen, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
llm = llama_cpp.Llama(model_path=str(model_path()), n_ctx=2 * (n_prompt + n_gen) + 64,
                      n_threads=threads, n_threads_batch=threads, verbose=False)
words = "the report shows the model answers each question about the stored results".split()
tokens = llm.tokenize(" ".join(words[i % len(words)] for i in range(n_prompt * 2)).encode())[:n_prompt]
llm.create_completion(tokens[:16], max_tokens=4, temperature=0)  # first-call allocations are not per token
# llama.cpp's own counters: they time the model's work and leave Python's out.
llm.reset()
llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
llm.create_completion(tokens, max_tokens=n_gen, temperature=0)
perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
print(json.dumps({"pp_tps": 1000 * perf.n_p_eval / perf.t_p_eval_ms, "tg_tps": 1000 * perf.n_eval / perf.t_eval_ms,
                  "n_p_eval": perf.n_p_eval, "n_eval": perf.n_eval,
                  "system_info": llama_cpp.llama_print_system_info().decode()}))
"""


def unpack(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as z:
        z.extractall(into)
    return into


def measure(site: Path | None, n_prompt: int, n_gen: int, threads: int) -> dict:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    p = subprocess.run([sys.executable, "-c", CHILD, str(n_prompt), str(n_gen), str(threads)],
                       capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        how = (f"killed by {signal.Signals(-p.returncode).name}" if p.returncode < 0
               else f"exit code {p.returncode}")
        return {"failed": f"{how}: {p.stderr.strip()[-300:]}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", action="append", default=[], metavar="LABEL=PATH",
                    help="a llama-cpp-python wheel to measure (repeat; default: the installed build)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prompt", type=int, default=256, help="prompt tokens")
    ap.add_argument("--gen", type=int, default=128, help="generated tokens")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--small", action="store_true", help="1 round, 32 + 16 tokens (CI smoke)")
    args = ap.parse_args()
    if args.small:
        args.rounds, args.prompt, args.gen = 1, 32, 16
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.1f}; threads {args.threads}")
    with tempfile.TemporaryDirectory() as tmp:
        builds: dict[str, Path | None] = {}
        for spec in args.wheel:
            label, _, path = spec.partition("=")
            builds[label] = unpack(Path(path), Path(tmp) / label)
        if not builds:
            builds["installed"] = None
        results: dict[str, list[dict]] = {label: [] for label in builds}
        for r in range(args.rounds):
            order = list(builds) if r % 2 == 0 else list(reversed(builds))
            for label in order:
                results[label].append(measure(builds[label], args.prompt, args.gen, args.threads))
        summary = {}
        for label, runs in results.items():
            ok = [x for x in runs if "failed" not in x]
            if not ok:
                print(f"{label}: FAILED on this machine ({runs[0]['failed']})")
                summary[label] = None
                continue
            summary[label] = {"pp_tps": statistics.median(x["pp_tps"] for x in ok),
                              "tg_tps": statistics.median(x["tg_tps"] for x in ok)}
            rounds = ", ".join(f"{x['tg_tps']:.1f}" for x in ok)
            print(f"{label}: prompt {summary[label]['pp_tps']:.0f} tok/s, generation "
                  f"{summary[label]['tg_tps']:.1f} tok/s over {ok[0]['n_p_eval']} + {ok[0]['n_eval']} tokens "
                  f"(medians of {len(ok)}; generation per round {rounds})")
            print(f"  {ok[0]['system_info']}")
        labels = [k for k, v in summary.items() if v]
        if len(labels) >= 2:
            a, b = labels[0], labels[1]
            print(f"{a} / {b}: prompt {summary[a]['pp_tps'] / summary[b]['pp_tps']:.2f}x, "
                  f"generation {summary[a]['tg_tps'] / summary[b]['tg_tps']:.2f}x")
    return 0 if all(summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
