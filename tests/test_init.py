"""`evalseed init`: the starter project validates, runs against the stub server, refuses to
overwrite; docs/first-suite.md has one complete example per kind, the same suites init writes,
and every one validates."""

from __future__ import annotations

import json
import re

import yaml

from conftest import ROOT
from helpers import run_evalseed, run_id_of


def _evalseed(*args, cwd):
    return run_evalseed(*args, cwd=cwd)


def test_init_writes_a_project_that_validates_and_runs(cli, stub, tmp_path, monkeypatch):
    from evalseed.kinds import KINDS

    proj = tmp_path / "proj"
    code, out, err = cli("init", proj)
    assert code == 0, err
    assert "Next steps" in out and "evalseed validate suites/" in out
    suites = sorted((proj / "suites").glob("*.yaml"))
    assert len(suites) == len(KINDS)
    for s in suites:
        assert s.read_text().startswith("#"), f"{s.name} explains itself in comments"
    assert (proj / "evalseed.yaml").is_file()
    wf = yaml.safe_load((proj / ".github" / "workflows" / "evalseed.yml").read_text())
    assert set(wf["jobs"]) == {"baseline", "gate"}
    action_inputs = set(yaml.safe_load((ROOT / "action.yml").read_text())["inputs"])
    for job in wf["jobs"].values():
        for step in job["steps"]:
            if "evalseed@" in str(step.get("uses", "")):
                assert set(step["with"]) <= action_inputs

    r = _evalseed("validate", "--json", "suites/", cwd=proj)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["problems"] == []
    assert sorted(s["kind"] for s in report["suites"]) == sorted(KINDS)
    assert all(not s["undocumented_params"] for s in report["suites"])

    # The model sets of evalseed.yaml are real: `current` is what the workflow runs.
    r = _evalseed("models", "--json", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["model_sets"]["current"] == ["seed-1-6-250915"]

    # A run of every suite, text and image, against the stub server, with the project's evalseed.yaml.
    srv = stub()
    r = _evalseed("run", "suites/", "--models", "seed-1-6-250915,seedream-4-5-251128", "--base-url", srv.base_url,
                  "--db", "e.duckdb", "--no-progress", cwd=proj)
    assert r.returncode == 0, r.stdout + r.stderr
    run_id = run_id_of(r.stdout)
    r = _evalseed("runs", run_id, "--json", "--db", "e.duckdb", cwd=proj)
    ran = {(x["suite"], x["model"]) for x in json.loads(r.stdout)["results"]}
    assert len(ran) == len(KINDS)
    assert ("shop-banners", "seedream-4-5-251128") in ran


def test_init_refuses_to_overwrite(cli, tmp_path):
    proj = tmp_path / "p"
    (proj / "suites").mkdir(parents=True)
    mine = proj / "evalseed.yaml"
    mine.write_text("provider: ark\n")
    code, out, err = cli("init", proj)
    assert code == 2
    assert err.count("\n") == 1 and "evalseed.yaml already exists" in err and "nothing was written" in err
    assert mine.read_text() == "provider: ark\n"
    assert list((proj / "suites").iterdir()) == []
    # Other files in the folder are fine.
    mine.unlink()
    (proj / "notes.txt").write_text("x")
    assert cli("init", proj)[0] == 0


def test_init_action_option_fills_the_workflow(cli, tmp_path):
    code, out, _ = cli("init", tmp_path / "q", "--action", "acme/evalseed@v1")
    assert code == 0
    text = (tmp_path / "q" / ".github" / "workflows" / "evalseed.yml").read_text()
    assert "uses: acme/evalseed@v1" in text and "OWNER" not in text and "OWNER" not in out


def test_first_suite_guide_has_one_valid_example_per_kind(tmp_path):
    from evalseed.kinds import KINDS, get_kind

    text = (ROOT / "docs" / "first-suite.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if re.search(r"^kind:", b, re.M)]
    kinds = [yaml.safe_load(b)["kind"] for b in blocks]
    assert sorted(kinds) == sorted(KINDS), "one complete example per kind"
    folder = tmp_path / "suites"
    folder.mkdir()
    for b, kind in zip(blocks, kinds):
        assert b == get_kind(kind).starter(), f"the guide's {kind} example is what `evalseed init` writes"
        (folder / f"{kind}.yaml").write_text(b, encoding="utf-8")
    r = _evalseed("validate", "--json", folder, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["problems"] == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/first-suite.md" in readme
