"""Record the embedded model's cassettes for bundled suites, and the scores that replay must give.

    python cassettes/record_local.py                  # every suite under suites/
    python cassettes/record_local.py suites/x.yaml    # only these (after editing a suite)

Each named suite's old recordings are deleted first, so no stale interaction survives an edit.
Starts llama.cpp (pip install -e '.[local]' && evalseed local install), runs `evalseed run ... --models local --cassettes
record`, refuses to keep a recording with error rows, and rewrites `local/recorded-scores.json`
(suite/case/repeat -> status, score, passed) for the suites it ran;
tests/test_cassettes_bundled.py replays the cassettes offline and checks those scores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCORES = HERE / "local" / "recorded-scores.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", default=[str(ROOT / "suites")])
    ap.add_argument("--scores-from", metavar="DB",
                    help="only write recorded-scores.json from the latest run in DB (a recording made by hand)")
    args = ap.parse_args(argv)

    from evalseed.run.command import run_command
    from evalseed.run.plan import RunOptions
    from evalseed.suites.loader import load_suites

    names = [s.name for s in load_suites(args.paths)]
    if args.scores_from:
        return write_scores(_rows(Path(args.scores_from)), names)
    for name in names:
        shutil.rmtree(HERE / "local" / name, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="record-local-") as d:
        db = Path(d) / "record.duckdb"
        opts = RunOptions(paths=args.paths, models="local", db=str(db), cassettes="record",
                          cassette_dir=str(HERE), progress=False, label="cassette recording")
        code = run_command(opts)
        if code != 0:
            return code
        rows = _rows(db)
    return write_scores(rows, names)


def _rows(db: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT suite, case_id, repeat, status, score, passed, error FROM results "
            "WHERE run_id = (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1) ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def write_scores(rows: list[tuple], names: list[str]) -> int:
    errors = [r for r in rows if r[3] == "error"]
    if errors:
        for r in errors:
            print(f"error: {r[0]}/{r[1]}/{r[2]}: {r[6]}", file=sys.stderr)
        print("not keeping a recording with errors: fix them and record again.", file=sys.stderr)
        return 1
    scores = json.loads(SCORES.read_text(encoding="utf-8")) if SCORES.exists() else {}
    scores = {k: v for k, v in scores.items() if k.split("/", 1)[0] not in names}
    for suite, case, repeat, status, score, passed, _ in rows:
        scores[f"{suite}/{case}/{repeat}"] = {"status": status, "score": score, "passed": passed}
    SCORES.parent.mkdir(parents=True, exist_ok=True)
    SCORES.write_text(json.dumps(dict(sorted(scores.items())), indent=1) + "\n", encoding="utf-8")
    print(f"recorded {len(rows)} rows for {len(names)} suite(s); scores in {SCORES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
