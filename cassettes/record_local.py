"""Record the embedded model's cassettes for bundled suites, and the scores that replay must give.

    python cassettes/record_local.py                  # every suite under suites/
    python cassettes/record_local.py suites/x.yaml    # only these (after editing a suite)
    python cassettes/record_local.py --models 'local[constrained=true]' suites/review-sentiment.yaml
                                                      # a variant of the embedded model (issue 20)

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
# The variants' scores, keyed `model/suite/case/repeat` (tests/test_constrained_demo.py).
VARIANT_SCORES = HERE / "local" / "recorded-scores-variants.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", default=[str(ROOT / "suites")])
    ap.add_argument("--scores-from", metavar="DB",
                    help="only write recorded-scores.json from the latest run in DB (a recording made by hand)")
    ap.add_argument("--models", default="local",
                    help="a variant of the embedded model, e.g. 'local[constrained=true]': its recordings go "
                         "beside the plain model's, its scores to local/recorded-scores-variants.json")
    args = ap.parse_args(argv)

    from evalseed.run.command import run_command
    from evalseed.run.plan import RunOptions
    from evalseed.suites.loader import load_suites

    names = [s.name for s in load_suites(args.paths)]
    variant = args.models != "local"
    if args.scores_from:
        return write_scores(_rows(Path(args.scores_from)), names, variant)
    for name in names:
        if variant:
            _drop_constrained(HERE / "local" / name)
        else:
            shutil.rmtree(HERE / "local" / name, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="record-local-") as d:
        db = Path(d) / "record.duckdb"
        # A variant sends the base model's id, so the cassette layer files its recordings in the
        # plain model's file (local/SUITE/gemma-3-270m.json). It is recorded beside the plain
        # model in `auto` mode: the plain model's requests replay from that file (untouched, and
        # the server is the variant's alone, so its timings are its own), the variant's are sent.
        models = f"local,{args.models}" if variant else "local"
        opts = RunOptions(paths=args.paths, models=models, db=str(db), cassettes="auto" if variant else "record",
                          cassette_dir=str(HERE), progress=False, label="cassette recording")
        code = run_command(opts)
        if code != 0:
            return code
        rows = _rows(db)
    return write_scores(rows, names, variant)


def _drop_constrained(folder: Path) -> None:
    """Remove a constrained variant's earlier recordings from the suite's files, so `auto` sends
    its requests again: on the embedded model only they carry a `response_format` (the plain
    model takes none, config.py)."""
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        keep = [i for i in data["interactions"] if "response_format" not in json.loads(i["request"]["body"] or "{}")]
        if len(keep) != len(data["interactions"]):
            data["interactions"] = keep
            path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _rows(db: Path) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT suite, case_id, repeat, status, score, passed, error, model FROM results "
            "WHERE run_id = (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1) ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def write_scores(rows: list[tuple], names: list[str], variant: bool = False) -> int:
    errors = [r for r in rows if r[3] == "error"]
    if errors:
        for r in errors:
            print(f"error: {r[0]}/{r[1]}/{r[2]}: {r[6]}", file=sys.stderr)
        print("not keeping a recording with errors: fix them and record again.", file=sys.stderr)
        return 1
    path = VARIANT_SCORES if variant else SCORES
    scores = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    models = {r[7] for r in rows}
    if variant:
        scores = {k: v for k, v in scores.items()
                  if not (k.split("/", 2)[0] in models and k.split("/", 2)[1] in names)}
    else:
        scores = {k: v for k, v in scores.items() if k.split("/", 1)[0] not in names}
    if variant:  # the plain model's rows were replayed, not recorded
        rows = [r for r in rows if r[7] != "gemma-3-270m"]
    for suite, case, repeat, status, score, passed, _, model in rows:
        key = f"{model}/{suite}/{case}/{repeat}" if variant else f"{suite}/{case}/{repeat}"
        scores[key] = {"status": status, "score": score, "passed": passed}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(scores.items())), indent=1) + "\n", encoding="utf-8")
    print(f"recorded {len(rows)} rows for {len(names)} suite(s); scores in {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
