"""docs/ci.md "Sharded nightly runs": the workflow parses, names real options, and its shell steps
work against the stub server for two nights (issue 19)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import typer.main
import yaml
from conftest import ROOT
from helpers import polarity_responder, polarity_suite, write_suite

from evalseed.cli import app

NAME = "evalseed nightly shards"
_VENV_BIN = str(Path(sys.executable).parent)


def _workflow() -> dict:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    return next(wf for wf in blocks if isinstance(wf, dict) and wf.get("name") == NAME)


def _step(job: dict, name: str) -> dict:
    return next(s for s in job["steps"] if s.get("name") == name)


def _run_step(wf: dict, job: str, name: str, cwd: Path, **env_extra: str):
    step = _step(wf["jobs"][job], name)
    env = dict(os.environ, PATH=f"{_VENV_BIN}:{os.environ.get('PATH', '')}", GITHUB_SHA="0123abcd",
               GITHUB_RUN_ATTEMPT="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("COLUMNS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    env.update({k: str(v) for k, v in (wf.get("env") or {}).items()})
    env.update({k: str(v) for k, v in (step.get("env") or {}).items() if "${{" not in str(v)})
    env.update(env_extra)
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_nightly_workflow_names_only_real_options():
    wf = _workflow()
    assert wf["defaults"]["run"]["shell"] == "bash"
    commands = typer.main.get_command(app).commands
    seen = set()
    assert wf["jobs"]["shard"]["strategy"]["matrix"]["shard"] == list(range(1, int(wf["env"]["SHARDS"]) + 1))
    for job in wf["jobs"].values():
        for step in job["steps"]:
            joined = step.get("run", "").replace("\\\n", " ")
            for line in joined.splitlines():
                for part in line.split("|"):
                    words = part.split()
                    if words[:1] == ["evalseed"]:
                        known = {o for p in commands[words[1]].params for o in p.opts + p.secondary_opts}
                        assert all(w in known for w in words[2:] if w.startswith("--")), words
                        seen.add(words[1])
    assert seen == {"run", "merge", "runs", "compare", "export", "report"}


def _night(wf, ws: Path, run_id: str, url: str):
    """One workflow run: four shard jobs, the artifacts, the merge job with the cached history."""
    merge_ws = ws / f"merge-{run_id}"
    (merge_ws / "shards").mkdir(parents=True)
    for i in range(1, 5):
        job_ws = ws / f"shard-{run_id}-{i}"
        write_suite(job_ws / "suites", "polarity.yaml", polarity_suite(60))
        r = _run_step(wf, "shard", "Run one shard", job_ws, SHARD=str(i), GITHUB_RUN_ID=run_id,
                      EVALSEED_RUN_FLAGS=f"--base-url {url}")
        assert r.returncode == 0, r.stdout + r.stderr
        for f in (job_ws / "shard").iterdir():  # upload-artifact, then download-artifact merge-multiple
            shutil.copy(f, merge_ws / "shards" / f.name)
    if (ws / "cache").exists():  # actions/cache/restore
        shutil.copytree(ws / "cache", merge_ws / "history")
    env = {"GITHUB_RUN_ID": run_id}
    r = _run_step(wf, "merge", "Merge the shards into the history", merge_ws, **env)
    assert r.returncode == 0, r.stdout + r.stderr
    gate = _run_step(wf, "merge", "Gate against the baseline", merge_ws, **env)
    summary = merge_ws / "step-summary.md"
    r = _run_step(wf, "merge", "Append the run to the history", merge_ws, GATE="success" if gate.returncode == 0
                  else "failure", GITHUB_STEP_SUMMARY=str(summary), **env)
    assert r.returncode == 0, r.stdout + r.stderr
    shutil.rmtree(ws / "cache", ignore_errors=True)
    shutil.copytree(merge_ws / "history", ws / "cache")  # actions/cache/save
    return merge_ws, gate


def test_nightly_workflow_rehearse(stub, cli, tmp_path):
    wf = _workflow()
    good = stub(responder=polarity_responder(set()))
    ws1, gate = _night(wf, tmp_path, "101", good.base_url)
    assert gate.returncode == 0 and "no baseline" in gate.stdout
    assert (tmp_path / "cache" / "baseline-run-id.txt").read_text().strip() == "nightly-101-1"
    assert good.count() == 60  # the four shards asked every case once

    worse = stub(responder=polarity_responder(set(range(20))))
    ws2, gate = _night(wf, tmp_path, "102", worse.base_url)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "REGRESSION" in gate.stdout
    assert (tmp_path / "cache" / "baseline-run-id.txt").read_text().strip() == "nightly-101-1"  # unchanged
    assert "regression" in (ws2 / "step-summary.md").read_text()
    assert list((ws2 / "out" / "report").glob("nightly-102-1*.html"))

    # the history holds both nights as two runs, in the DuckDB file and in the Parquet folder
    code, out, err = cli("runs", "--json", "--db", str(tmp_path / "cache" / "parquet"))
    assert code == 0, err
    assert {"nightly-101-1", "nightly-102-1"} <= {r["run_id"] for r in json.loads(out)}
    con = duckdb.connect(str(tmp_path / "cache" / "evalseed.duckdb"), read_only=True)
    runs = con.execute("SELECT run_id, status, shard_count FROM runs ORDER BY run_id").fetchall()
    merged = con.execute("SELECT case_id, \"repeat\", status, passed FROM results WHERE run_id = 'nightly-102-1' "
                         "ORDER BY case_id").fetchall()
    con.close()
    assert runs == [("nightly-101-1", "finished", 4), ("nightly-102-1", "finished", 4)]

    # exactly the rows of one unsharded run of the same suites against the same server
    write_suite(tmp_path / "one" / "suites", "polarity.yaml", polarity_suite(60))
    code, out, err = cli("run", str(tmp_path / "one" / "suites"), "--models", wf["env"]["MODEL"], "--base-url",
                         worse.base_url, "--db", str(tmp_path / "one" / "e.duckdb"), "--no-progress")
    assert code == 0, out + err
    con = duckdb.connect(str(tmp_path / "one" / "e.duckdb"), read_only=True)
    one = con.execute("SELECT case_id, \"repeat\", status, passed FROM results ORDER BY case_id").fetchall()
    con.close()
    assert merged == one and sum(not p for *_, p in one) == 20
