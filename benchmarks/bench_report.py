"""Speed and size of the HTML report, against a baseline measured in the same run.

    python benchmarks/bench_report.py             # 100,000 result rows (targets: < 10 s, < 20 MB)
    python benchmarks/bench_report.py --small     # about 2,000 rows: the CI smoke test
    python benchmarks/bench_report.py --rows 300000 --keep /tmp/bench-report

Builds a DuckDB file with one synthetic run of all five task kinds (evalseed.report.synthetic:
three text models, one image model, the `results` contract shape, written through
`store.ResultWriter`), then measures:

1. The report as `evalseed report` makes it: `render_report` (DuckDB aggregation, intervals,
   charts, drill-down, template) + `write_index`, in wall and CPU seconds, and the file size.
2. Baseline: `store.fetch_rows` of the same run, i.e. only reading every row into Python once,
   which is what a report built by looping over rows in Python would pay before any work.

Printed: both times, the ratio report / baseline, the file size, the drill-down cap note, and
whether the targets were met. A missed target is printed, not failed (the machine is shared; the
figure is what it is); exit status 1 only when the report is not valid (no file, no cases).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evalseed import store  # noqa: E402
from evalseed.report import render  # noqa: E402
from evalseed.report.synthetic import build_run  # noqa: E402

TARGET_S = 10.0
TARGET_MB = 20.0


def timed(fn, *args, **kwargs):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


def rows_per_case() -> float:
    """Rows the synthetic run makes per case index, measured on a small one."""
    con = duckdb.connect()
    try:
        store.migrate(con)
        return build_run(con, "probe", cases_per_suite=100)["rows"] / 100
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="result rows to build (about)")
    ap.add_argument("--small", action="store_true", help="about 2,000 rows: a smoke test for CI")
    ap.add_argument("--keep", type=Path, help="write the database and report here and keep them")
    args = ap.parse_args()
    rows = 2_000 if args.small else args.rows
    # Rows per case index, from the synthetic data itself (every kind's suite: text suites x 3
    # models, the image suite a tenth of the cases on 1 model).
    cases_per_suite = max(10, round(rows / rows_per_case()))
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "bench.duckdb"
    if db.exists():
        db.unlink()
    try:
        con = store.open_db(db)
        built, build_s, _ = timed(build_run, con, "bench-run", cases_per_suite=cases_per_suite,
                                  image_dir=str(work / "reports" / "runs" / "images") if args.small else None)
        con.close()
        print(f"built {built['rows']:,} rows in {build_s:.1f} s ({db})")

        con = store.open_db(db, read_only=True)
        fetched, base_wall, base_cpu = timed(store.fetch_rows, con, "run_id = ?", ["bench-run"])
        if len(fetched) != built["rows"]:
            raise RuntimeError(f"fetched {len(fetched):,} rows of the {built['rows']:,} built")
        del fetched
        out = work / "reports"
        path, wall, cpu = timed(render.render_report, con, ["bench-run"], out)
        con.close()
        _, index_wall, _ = timed(render.write_index, out)
        size_mb = path.stat().st_size / 1e6
        meta = render.read_meta(path)
        html = path.read_text(encoding="utf-8")
        note_start = html.find('<p class="note">Showing')
        note = html[note_start + 16:html.find("</p>", note_start)] if note_start >= 0 else "(all cases shown)"
        total = wall + index_wall
        result = {
            "rows": built["rows"],
            "report_wall_s": round(total, 2),
            "report_cpu_s": round(cpu, 2),
            "baseline_fetch_rows_wall_s": round(base_wall, 2),
            "baseline_fetch_rows_cpu_s": round(base_cpu, 2),
            "ratio_report_over_baseline_wall": round(total / base_wall, 2) if base_wall else None,
            "file_mb": round(size_mb, 2),
            "cases_in_report": meta["cases"] if meta else None,
            "target_time_met": total < TARGET_S,
            "target_size_met": size_mb < TARGET_MB,
        }
        print(f"report: {total:.2f} s wall ({cpu:.2f} s CPU) -> {path} ({size_mb:.2f} MB)")
        print(f"baseline, reading the rows once (store.fetch_rows): {base_wall:.2f} s wall ({base_cpu:.2f} s CPU); "
              f"report / baseline = {result['ratio_report_over_baseline_wall']}")
        print(f"drill-down: {note}")
        if not args.small:
            print(f"targets: < {TARGET_S:g} s {'met' if result['target_time_met'] else 'MISSED'}, "
                  f"< {TARGET_MB:g} MB {'met' if result['target_size_met'] else 'MISSED'}")
        print(json.dumps(result))
        return 0 if meta and meta.get("cases") else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
