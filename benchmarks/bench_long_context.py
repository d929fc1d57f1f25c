"""Memory and time to prepare and build the bundled 120k-token needle grid for three models.

Preparing must hold no document text (sizes are computed from the haystack's character count);
building the prompts one after another must cut each length's filler once, whatever the number of
depths and models. Figures are tracemalloc peaks, relative to one copy of the longest document.

    python benchmarks/bench_long_context.py            # 3 models
    python benchmarks/bench_long_context.py --small    # CI smoke: 1 model
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

from evalseed.config import BUILTIN_MODELS
from evalseed.kinds import long_context as lc
from evalseed.kinds.long_context import kind as lc_kind
from evalseed.suites.loader import load_suite_file

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["seed-1-8-251228", "seed-1-6-flash-250715", "seed-1-6-250915"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="CI smoke: the first model only")
    a = ap.parse_args()
    suite = load_suite_file(ROOT / "suites" / "long-context-needle.yaml")
    models = [BUILTIN_MODELS[m] for m in (MODELS[:1] if a.small else MODELS)]
    lc_kind._filler.cache_clear()  # measure the haystack's first build too
    tracemalloc.start()
    t0 = time.perf_counter()
    prepared = [lc.KIND.prepare(suite, c, m) for c in lc.KIND.cases(suite) for m in models]
    t1 = time.perf_counter()
    _, peak_prepare = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    longest = 0
    t2 = time.perf_counter()
    for p in prepared:
        messages = lc.KIND.build_messages(suite.messages, p)
        longest = max(longest, len(messages[-1]["content"]))
        del messages
    t3 = time.perf_counter()
    _, peak_build = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    info = lc_kind._filler.cache_info()
    print(f"cases x models prepared: {len(prepared)} in {(t1 - t0) * 1000:.0f} ms, "
          f"peak {peak_prepare / 1e6:.2f} MB (no document held)")
    print(f"prompts built one after another: {len(prepared)} in {(t3 - t2) * 1000:.0f} ms, "
          f"peak {(peak_build - before) / 1e6:.2f} MB over baseline = "
          f"{(peak_build - before) / longest:.2f} copies of the longest prompt ({longest:,} characters)")
    print(f"filler cuts: {info.misses} for {len(suite.grid.tokens)} lengths x {len(models)} models "
          f"(reused {info.hits} times)")


if __name__ == "__main__":
    main()
