"""Time to load a classification suite whose cases come from a data file (`cases_from:`), for
JSON lines, CSV and Parquet, beside the same cases written inline in the YAML.

Each figure is the whole `load_suite_file` (read, map, validate every case, render every case's
messages once), the median of `--repeats` runs, then the share of it spent reading and mapping
the file. The machine is shared, so the inline suite is the baseline measured in the same run.

    /work/venv/bin/python benchmarks/bench_datasets.py            # 10,000 rows
    /work/venv/bin/python benchmarks/bench_datasets.py --smoke    # CI smoke: 500 rows, 1 repeat
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from evalseed.kinds import get_kind
from evalseed.suites.dataset import load_cases
from evalseed.suites.loader import _case_keys, load_suite_file

LABELS = ["billing", "bug", "account", "other"]
TARGET_S = 2.0  # 10,000 rows load in under this (printed, never asserted)


def rows(n: int) -> list[dict]:
    filler = "the invoice shows the plan twice, and the support page says nothing about refunds or credits. "
    return [{"ticket_id": f"T{i:06d}", "body": f"Ticket {i}, \"quoted\": " + filler[: 30 + (i * 37) % len(filler)],
             "label": LABELS[i % len(LABELS)]} for i in range(n)]


def write(folder: Path, data: list[dict]) -> dict[str, Path]:
    import duckdb

    out = {"jsonl": folder / "cases.jsonl", "csv": folder / "cases.csv", "parquet": folder / "cases.parquet"}
    with open(out["jsonl"], "w", encoding="utf-8") as f:
        for r in data:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(out["csv"], "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(data[0]))
        w.writeheader()
        w.writerows(data)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv('{out['csv']}', all_varchar = true)) TO '{out['parquet']}' (FORMAT parquet)")
    con.close()
    return out


def suite(name: str, cases_from: object = None, cases: list | None = None) -> dict:
    s: dict = {"name": name, "kind": "classification", "labels": LABELS,
               "messages": [{"role": "system", "content": "Label the ticket."},
                            {"role": "user", "content": "{{ message }}"}]}
    if cases_from is not None:
        s["cases_from"] = cases_from
    if cases is not None:
        s["cases"] = cases
    return s


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="CI smoke: 500 rows, one run each")
    a = ap.parse_args()
    n, repeats = (500, 1) if a.smoke else (a.rows, a.repeats)
    data = rows(n)
    keys = _case_keys(get_kind("classification").suite_model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = write(folder, data)
        inline = [{"id": r["ticket_id"], "vars": {"message": r["body"]}, "expected": r["label"]} for r in data]
        (folder / "inline.yaml").write_text(yaml.safe_dump(suite("inline", cases=inline), allow_unicode=True))
        base = timed(lambda: load_suite_file(folder / "inline.yaml"), repeats)
        print(f"{n:,} cases, median of {repeats}")
        print(f"inline YAML (baseline)   {base * 1000:8.1f} ms")
        worst = 0.0
        for fmt, path in files.items():
            mapping = {"path": path.name, "id": "ticket_id", "vars": {"message": "body"}, "expected": "label"}
            yml = folder / f"{fmt}.yaml"
            yml.write_text(yaml.safe_dump(suite(f"from-{fmt}", cases_from=mapping)))
            loaded = load_suite_file(yml)
            assert len(loaded.cases) == n and loaded.cases[0].vars["message"] == data[0]["body"], fmt
            assert [c.model_dump() for c in loaded.cases[:50]] == [
                {**c, "tags": []} for c in inline[:50]], fmt
            total = timed(lambda: load_suite_file(yml), repeats)
            read = timed(lambda: load_cases(mapping, str(folder), keys), repeats)
            worst = max(worst, total)
            print(f"cases_from {fmt:<8}      {total * 1000:8.1f} ms  ({total / base:4.2f}x inline; reading and "
                  f"mapping {read * 1000:6.1f} ms, {read / n * 1e6:5.1f} us/row)")
        if not a.smoke:
            verdict = "met" if worst < TARGET_S else "MISSED"
            print(f"target: {n:,} rows load in under {TARGET_S:g} s: {verdict} (slowest {worst:.2f} s)")


if __name__ == "__main__":
    main()
