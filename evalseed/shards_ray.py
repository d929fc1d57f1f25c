"""`evalseed run ... --shards N --ray [--ray-address ADDR]`: each shard a Ray task, then merged.

No scheduler of our own: Ray places the tasks, retries a task whose worker died, and moves each
shard's DuckDB file back to the driver as the task's result (so workers need no shared disk,
only the suite files at the same paths). Inside a task the shard runs as `evalseed run --shard
I/N --group G` in a process of its own (the same engine as by hand) into a file in the worker's
temp folder; a retried task finds that file and resumes its run instead of starting again, so a
stored case is not asked again, and the merge sees one row per case. The driver merges the shard
files into `--db` with `evalseed merge`'s code: the group becomes one run.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .errors import UsageError

# Test hook: "I:WHEN:FOLDER[,...]" makes the task of shard I die once (its worker process exits),
# leaving FOLDER/died-I behind; WHEN is `after` (its run finished, before it returns) or `mid`
# (1.5 s after its run created the file, the run's process killed with it). The retry must not
# duplicate rows.
DIE_ENV = "EVALSEED_TESTING_RAY_DIE"


def _planned_death(index: int) -> tuple[str, Path] | None:
    for item in filter(None, os.environ.get(DIE_ENV, "").split(",")):
        i, when, folder = item.split(":", 2)
        marker = Path(folder) / f"died-{i}"
        if int(i) == index and not marker.exists():
            return when, marker
    return None


def shard_args(opts, count: int) -> list[str]:
    """The `evalseed run` arguments each shard gets: the user's, with per-process limits split."""
    a: list[str] = [*opts.paths]
    pairs = {"--models": opts.models, "--provider": opts.provider, "--base-url": opts.base_url,
             "--api-key-env": opts.api_key_env, "--cassettes": opts.cassettes, "--cassette-dir": opts.cassette_dir,
             "--label": opts.label, "--config": opts.config, "--out-dir": opts.out_dir,
             "--concurrency": opts.concurrency, "--timeout": opts.timeout, "--max-attempts": opts.max_attempts,
             "--max-answer-bytes": opts.max_answer_bytes,
             # limits that hold per process are split: N shards on one key share its rate and budget
             "--rpm": -(-opts.rpm // count) if opts.rpm else None, "--tpm": -(-opts.tpm // count) if opts.tpm else None,
             "--budget-usd": opts.budget_usd / count if opts.budget_usd is not None else None}
    for flag, value in pairs.items():
        if value is not None:
            a += [flag, str(value)]
    for net in opts.allow_download_from:
        a += ["--allow-download-from", net]
    return [*a, "--no-progress"]


def run_shard(args: list[str], index: int, count: int, group: str) -> dict:
    """The body of one Ray task: run (or resume) shard `index` into a file, return the file."""
    work = Path(tempfile.gettempdir()) / "evalseed-ray" / group
    work.mkdir(parents=True, exist_ok=True)
    db = work / f"shard-{index}.duckdb"
    cmd = [sys.executable, "-m", "evalseed", "run"]
    previous, status = _shard_run(db, index)
    if previous:  # a retried task: finish what the dead attempt started (nothing if it finished)
        cmd += ["--resume", previous, "--db", str(db), "--no-progress"]
    else:
        cmd += [*args, "--db", str(db), "--shard", f"{index}/{count}", "--group", group]
    if status == "finished":
        proc = subprocess.CompletedProcess(cmd, 0, f"shard {index}/{count}: run {previous} had finished\n", "")
    else:
        death = _planned_death(index)
        if death and death[0] == "mid":
            _die_mid_run(cmd, db, death[1])
        proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_die_with_parent)
    death = _planned_death(index)
    if death and death[0] == "after":
        death[1].write_text(f"shard {index} died once after its run\n")
        os._exit(1)
    return {"index": index, "code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
            "resumed": bool(previous), "db": db.read_bytes() if db.exists() else b""}


def _die_mid_run(cmd: list[str], db: Path, marker: Path) -> None:
    import time

    subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + 120
    while not db.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    marker.write_text(f"shard {marker.name} died once during its run\n")
    os._exit(1)


def _die_with_parent() -> None:
    """Linux: the shard's process gets SIGKILL when the task's worker dies, so a retry never finds
    the file still locked by an orphan (elsewhere: nothing)."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _shard_run(db: Path, index: int) -> tuple[str | None, str | None]:
    """(run id, status) of the shard's run in a file a dead attempt left, or (None, None)."""
    if not db.exists():
        return None, None
    import duckdb

    try:
        con = duckdb.connect(str(db))  # read-write: replays the write-ahead log a killed attempt left
    except duckdb.Error:  # not readable: put it aside, the shard starts afresh
        db.rename(db.with_name(f"{db.name}.unreadable-{os.getpid()}"))
        return None, None
    try:
        row = con.execute("SELECT run_id, status FROM runs WHERE shard_index = ?", [index]).fetchone()
        return (row[0], row[1]) if row else (None, None)
    except duckdb.Error:
        return None, None
    finally:
        con.close()


def ray_command(opts, count: int | None, use_ray: bool, address: str | None, gate: bool, baseline: str | None) -> int:
    if not use_ray:
        raise UsageError("--shards N runs the shards on Ray: add --ray (or run each with --shard I/N and merge them).")
    if not count:
        raise UsageError("--ray needs --shards N.")
    if gate or opts.resume or opts.dry_run:
        raise UsageError("--ray runs new shards only: no --gate, --resume or --dry-run; compare after the merge.")
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'evalseed[ray]'.") from None
    from .history.merge import merge

    group = opts.group or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + "ray" + secrets.token_hex(3)
    from .shards import check_group

    check_group(group)
    args = shard_args(opts, count)
    env = {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", DIE_ENV)}
    # "local": a new instance of our own, never a cluster someone else started on this machine
    ray.init(address=address or os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False,
             logging_level=logging.ERROR, log_to_driver=False, ignore_reinit_error=True,
             runtime_env={"env_vars": env} if env else None)
    try:
        task = ray.remote(num_cpus=1, max_retries=3, retry_exceptions=False)(run_shard)
        results = ray.get([task.remote(args, i, count, group) for i in range(1, count + 1)])
    finally:
        ray.shutdown()
    work = Path(tempfile.mkdtemp(prefix=f"evalseed-ray-{group}-"))
    try:
        files = []
        failed = []
        for r in sorted(results, key=lambda r: r["index"]):
            if r["code"] not in (0,):
                failed.append(f"shard {r['index']}/{count} exited {r['code']}: "
                              f"{(r['stderr'].strip().splitlines() or [''])[-1]}")
            if r["db"]:
                path = work / f"shard-{r['index']}.duckdb"
                path.write_bytes(r["db"])
                files.append(str(path))
        if files:
            merge(files, opts.db)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(Path(tempfile.gettempdir()) / "evalseed-ray" / group, ignore_errors=True)
    opts.run_id = group
    for r in sorted(results, key=lambda r: r["index"]):
        if r["resumed"]:
            print(f"evalseed: shard {r['index']}/{count}: its task was retried and finished the run the dead "
                  "attempt had started", file=sys.stderr)
    for line in failed:
        print(f"evalseed: {line}", file=sys.stderr)
    print(f"run {group} stored in {opts.db}")
    print(f"{count} shards on Ray, merged as run {group}")
    return 3 if failed else 0
