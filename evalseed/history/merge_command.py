"""The `merge` and `export` commands: call, time, print one line each."""

from __future__ import annotations

import time


def merge_command(sources: list[str], into: str) -> int:
    from .merge import merge

    t0 = time.perf_counter()
    added = merge(sources, into)
    print(f"merged {len(sources)} source(s) into {into} in {time.perf_counter() - t0:.2f} s: "
          f"{added['runs']} run(s), {added['groups']} new shard group(s), {added['results']:,} result rows, "
          f"{added['run_prices']} price rows added")
    return 0


def export_command(db: str, folder: str) -> int:
    from .export import export_parquet

    t0 = time.perf_counter()
    counts = export_parquet(db, folder)
    print(f"exported {counts['runs']} run(s), {counts['results']:,} result rows and {counts['run_prices']} price rows "
          f"to {folder} in {time.perf_counter() - t0:.2f} s")
    return 0
