"""The composite GitHub Action (action.yml): its inputs are what docs/ci.md shows, and its `run:`
steps, rehearsed with bash as GitHub runs them (`bash --noprofile --norc -eo pipefail`, the inputs
and step outputs GitHub would substitute, $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY files), gate a
run against a baseline on the stub server. Not rehearsed: the `uses:` steps (setup-python,
upload-artifact) and the pip install, which need GitHub or would change this venv."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT
from helpers import (
    polarity_responder,
    polarity_suite,
    run_evalseed,
    run_id_of,
    write_suite,
)

_VENV_BIN = str(Path(sys.executable).parent)
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _action() -> dict:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def _rehearse(workspace: Path, inputs: dict[str, str]) -> dict:
    """Run the action's `run:` steps in order as GitHub would; returns the step outputs, each
    step's result and the step summary."""
    action = _action()
    values = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    values.update(inputs)
    outputs: dict[str, dict[str, str]] = {}
    results: dict[str, subprocess.CompletedProcess] = {}
    summary = workspace / "step-summary.md"
    failed = False

    def expr(e: str) -> str:
        if e.startswith("inputs."):
            return values[e[len("inputs."):]]
        if e == "github.action_path":
            return str(ROOT)
        m = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", e)
        if m:
            return outputs.get(m.group(1), {}).get(m.group(2), "")
        raise AssertionError(f"the rehearsal does not know the expression {e!r}")

    def condition(step: dict) -> bool:
        cond = step.get("if")
        if cond is None:
            return not failed
        cond = _EXPR.sub(lambda m: m.group(1), str(cond)).strip()
        assert cond.startswith("!cancelled()"), cond  # every conditional run step runs after a failure
        return True

    for step in action["runs"]["steps"]:
        if "uses" in step or step["name"] == "Install evalseed" or not condition(step):
            continue
        assert step["shell"] == "bash"
        assert "${{" not in step["run"], "inputs go through env:, never into the script text"
        out_file = workspace / f".github-output-{step.get('id', 'x')}"
        out_file.write_text("")
        env = dict(os.environ, PATH=f"{_VENV_BIN}:{os.environ.get('PATH', '')}", GITHUB_SHA="0123abcd",
                   GITHUB_OUTPUT=str(out_file), GITHUB_STEP_SUMMARY=str(summary))
        env.pop("COLUMNS", None)
        env.update({k: _EXPR.sub(lambda m: expr(m.group(1)), str(v)) for k, v in (step.get("env") or {}).items()})
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=workspace,
                           env=env, capture_output=True, text=True, timeout=300)
        results[step["name"]] = r
        if "id" in step:
            outputs[step["id"]] = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
        failed = failed or r.returncode != 0
    return {"outputs": outputs, "results": results,
            "summary": summary.read_text() if summary.exists() else "", "exit": results[
                "Exit with the gate's code"].returncode if "Exit with the gate's code" in results else None}


def _baseline(stub, ws: Path) -> Path:
    """The baseline workflow of docs/ci.md, in short: a run, its database and run-id.txt."""
    good = stub(responder=polarity_responder(set()))
    base = ws / "baseline"
    base.mkdir(parents=True)
    r = run_evalseed("run", "suites/", "--models", "seed-1-6-250915", "--db", base / "evalseed.duckdb", "--no-progress",
                     "--base-url", good.base_url, cwd=ws)
    assert r.returncode == 0, r.stderr
    (base / "run-id.txt").write_text(run_id_of(r.stdout) + "\n")
    return base


def test_action_is_composite_with_the_documented_inputs():
    action = _action()
    assert action["runs"]["using"] == "composite"
    assert {"suites", "models", "baseline", "budget", "shards"} <= set(action["inputs"])
    names = [s.get("uses", s.get("name")) for s in action["runs"]["steps"]]
    assert "actions/upload-artifact@v4" in names and names[-1] == "Exit with the gate's code"
    install = next(s for s in action["runs"]["steps"] if s.get("name") == "Install evalseed")
    assert "pip install" in install["run"] and install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    # docs/ci.md shows it with inputs it has.
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yml\n(.*?)```", text, re.S)]
    uses = [s for b in blocks if isinstance(b, dict) for job in b.get("jobs", {}).values() for s in job["steps"]
            if "evalseed@" in str(s.get("uses", ""))]
    assert uses, "docs/ci.md shows the action"
    for s in uses:
        assert set(s["with"]) <= set(action["inputs"]), set(s["with"]) - set(action["inputs"])


def test_action_rehearsal_gates_a_regression(stub, tmp_path):
    ws = tmp_path / "repo"
    write_suite(ws / "suites", "polarity.yaml", polarity_suite())
    base = _baseline(stub, ws)
    worse = stub(responder=polarity_responder(set(range(15))))
    done = _rehearse(ws, {"models": "seed-1-6-260301", "baseline": str(base),
                          "run-args": f"--base-url {worse.base_url}"})
    gate = done["results"]["Run and gate"]
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert done["outputs"]["gate"]["exit-code"] == "1", gate.stdout + gate.stderr
    assert done["outputs"]["gate"]["baseline-run-id"] == (base / "run-id.txt").read_text().strip()
    assert done["exit"] == 1
    assert "REGRESSION" in gate.stdout
    assert "## evalseed" in done["summary"] and "❌ regression" in done["summary"]
    out = ws / "evalseed-out"
    assert (out / "junit.xml").is_file() and json.loads((out / "compare.json").read_text())["units"][0]["worse"] == 15
    assert list((out / "report").glob("*-vs-*.html"))
    assert (ws / "evalseed.duckdb").is_file()
    # The cassettes were recorded (cassettes: auto): a second run replays them, and passes the
    # same verdict without a server.
    sent = worse.count()
    worse.stop()
    (ws / "evalseed.duckdb").unlink()
    again = _rehearse(ws, {"models": "seed-1-6-260301", "baseline": str(base),
                           "run-args": f"--base-url {worse.base_url}"})
    assert again["exit"] == 1 and worse.count() == sent


def test_action_rehearsal_passes_an_equal_model_and_budget(stub, tmp_path):
    ws = tmp_path / "repo"
    write_suite(ws / "suites", "polarity.yaml", polarity_suite())
    base = _baseline(stub, ws)
    same = stub(responder=polarity_responder(set()))
    # A DuckDB file as the baseline: its newest run is the baseline.
    done = _rehearse(ws, {"models": "seed-1-6-260301", "baseline": str(base / "evalseed.duckdb"), "budget": "5",
                          "cassettes": "off", "run-args": f"--base-url {same.base_url}"})
    gate = done["results"]["Run and gate"]
    assert done["outputs"]["gate"]["exit-code"] == "0", gate.stdout + gate.stderr
    assert done["exit"] == 0 and "✅" in done["summary"]


def test_action_rehearsal_without_baseline_runs_only(stub, tmp_path):
    ws = tmp_path / "repo"
    write_suite(ws / "suites", "polarity.yaml", polarity_suite(6))
    srv = stub(responder=polarity_responder(set()))
    done = _rehearse(ws, {"models": "seed-1-6-250915", "run-args": f"--base-url {srv.base_url}"})
    assert done["exit"] == 0
    assert "not gated (no baseline given)" in done["summary"]
    assert list((ws / "evalseed-out" / "report").glob("*.html"))


def test_action_refuses_a_bad_shards_value(tmp_path):
    for bad in ("0", "two", "65", "-1"):
        done = _rehearse(tmp_path, {"models": "seed-1-6-250915", "shards": bad})
        check = done["results"]["Check the inputs"]
        assert check.returncode == 2 and "shards must be a whole number" in check.stderr, (bad, check.stderr)
        assert "Run and gate" not in done["results"] and done["exit"] is None


def _rows(db: Path, run_id: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute('SELECT suite, case_id, model, "repeat", status, passed, output_text FROM results '
                           'WHERE run_id = ? ORDER BY suite, case_id, model, "repeat"', [run_id]).fetchall()
    finally:
        con.close()


def test_action_rehearsal_runs_shards_merges_and_gates_the_merged_run(stub, tmp_path):
    ws = tmp_path / "repo"
    write_suite(ws / "suites", "polarity.yaml", polarity_suite())
    write_suite(ws / "suites", "polarity-2.yaml", polarity_suite(12).replace("name: polarity", "name: polarity-2"))
    base = _baseline(stub, ws)
    worse = stub(responder=polarity_responder(set(range(15))))
    done = _rehearse(ws, {"models": "seed-1-6-260301", "baseline": str(base), "shards": "3", "budget": "6",
                          "run-args": f"--base-url {worse.base_url}"})
    gate = done["results"]["Run and gate"]
    assert gate.returncode == 0, gate.stdout + gate.stderr
    out = ws / "evalseed-out"
    for i in (1, 2, 3):  # three shard processes, each its own run of the group with a third of the budget
        assert f"--- shard {i}/3 (exit 0)" in gate.stdout, gate.stdout + gate.stderr
        assert (out / "shards" / f"shard-{i}.duckdb").is_file()
        assert list((ws / "cassettes" / f"shard-{i}-of-3").rglob("*.json")), "each shard records its own cassettes"
    cand = done["outputs"]["gate"]["run-id"]
    assert cand.startswith("action-local-1-")
    # The gate ran on the merged run: cases 0-14 of each suite went wrong (all 12 of polarity-2).
    assert done["outputs"]["gate"]["exit-code"] == "1" and done["exit"] == 1, gate.stdout + gate.stderr
    cmp = json.loads((out / "compare.json").read_text())
    units = {u["suite"]: u for u in cmp["units"]}
    assert units["polarity"]["worse"] == 15 and units["polarity"]["n_pairs"] == 40
    assert units["polarity-2"]["worse"] == 12 and units["polarity-2"]["n_pairs"] == 12
    assert "❌ regression" in done["summary"]
    assert list((out / "report").glob("*-vs-*.html"))
    import duckdb

    con = duckdb.connect(str(ws / "evalseed.duckdb"), read_only=True)
    status, shard_count, config = con.execute("SELECT status, shard_count, config FROM runs WHERE run_id = ?",
                                              [cand]).fetchone()
    con.close()
    assert status == "finished" and shard_count == 3
    budgets = {s["config"]["options"]["budget_usd"] for s in json.loads(config)["shards"]}
    assert budgets == {2.0}, budgets
    # The merged run holds exactly the rows of one unsharded run of the same suites and server.
    one = tmp_path / "one.duckdb"
    r = run_evalseed("run", "suites/", "--models", "seed-1-6-260301", "--db", one, "--no-progress",
                     "--base-url", worse.base_url, "--json", cwd=ws)
    assert r.returncode == 0, r.stderr
    single = _rows(one, json.loads(r.stdout)["run_id"])
    assert _rows(ws / "evalseed.duckdb", cand) == single and len(single) == 52
    # Again with the cassettes recorded: every shard replays its own, no request reaches the server.
    sent = worse.count()
    worse.stop()
    (ws / "evalseed.duckdb").unlink()
    again = _rehearse(ws, {"models": "seed-1-6-260301", "baseline": str(base), "shards": "3",
                           "run-args": f"--base-url {worse.base_url}"})
    assert again["exit"] == 1 and worse.count() == sent
    assert again["outputs"]["gate"]["run-id"] != cand
