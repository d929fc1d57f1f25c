"""The pytest plugin (evalseed/pytest_plugin/), driven through pytester against the stub server:
suites as items, record then replay without a server, a passing and a failing gate, per-case items,
the marker, and that the plugin is inert when not asked."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from importlib import metadata

import pytest
import yaml

from conftest import ROOT
from helpers import polarity_responder, polarity_suite

pytest_plugins = ["pytester"]

MODEL = "seed-1-6-250915"
SYSTEM = "Answer positive or negative."


def _responder(wrong: set[int]):
    """The polarity answers as sentences ("Positive."), wrong for the case numbers in `wrong`."""
    return polarity_responder(wrong, say=lambda label: label.capitalize() + ".")


def _plugin_args() -> list[str]:
    """`-p evalseed.pytest_plugin` unless the installed entry point already loads it."""
    loaded = any(ep.name == "evalseed" for ep in metadata.entry_points(group="pytest11"))
    return [] if loaded else ["-p", "evalseed.pytest_plugin"]


@pytest.fixture
def project(pytester):
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "polarity.yaml").write_text(polarity_suite(30, SYSTEM), encoding="utf-8")
    (pytester.path / "suites" / "notes.yaml").write_text("just: a mapping\n", encoding="utf-8")  # no suite
    pytester.makeini("[pytest]\n")  # the rootdir is the scratch folder, not this repository
    return pytester


def _pytest(pytester, *args: str, url: str | None = None):
    extra = [f"--evalseed-run-args=--base-url {url}"] if url else []
    return pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider", "--evalseed-models", MODEL, *extra, *args)


def test_entry_point_is_declared():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert data["project"]["entry-points"]["pytest11"] == {"evalseed": "evalseed.pytest_plugin"}


def test_loading_the_plugin_imports_nothing_heavy():
    """Every pytest session of a project with evalseed installed loads the plugin: it must not pull
    in evalseed's command line, the engine or their libraries."""
    import subprocess
    import sys

    code = ("import sys, evalseed.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('typer', 'duckdb', 'openai', 'httpx', 'vcr', 'numpy', 'rich', 'yaml', 'jinja2') "
            "or m.startswith('evalseed.') and m.split('.')[1] != 'pytest_plugin'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_plugin_is_inert_without_its_options(project):
    project.makepyfile(test_plain="def test_one():\n    assert 1\n")
    # pytester runs in this process, where the installed plugin is already imported: pytest then warns
    # that it cannot rewrite its asserts. That line is pytest's, not the plugin's output.
    r = project.runpytest(*_plugin_args(), "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                          "suites", "test_plain.py")
    r.assert_outcomes(passed=1)
    # Installed, pytest's header lists it among the plugins; nothing else of it may show.
    lines = [ln for ln in r.stdout.lines if "evalseed" in ln and not ln.startswith("plugins:")]
    assert lines == []
    assert not (project.path / ".evalseed").exists() and not (project.path / "cassettes").exists()


def test_record_replay_and_gate(project, stub):
    good = stub(responder=_responder(set()))
    # 1. Record the cassettes and store the baseline.
    r = _pytest(project, "--evalseed", "--evalseed-record", "--evalseed-update-baseline", "suites", url=good.base_url)
    r.assert_outcomes(passed=1)
    assert f"polarity[{MODEL}] PASSED" in r.stdout.str() or "1 passed" in r.stdout.str()
    assert (project.path / ".evalseed" / "baseline.duckdb").is_file()
    cassettes = list((project.path / "cassettes").rglob("*.json"))
    assert len(cassettes) == 1 and cassettes[0].parent.name == "polarity"
    sent = good.count()
    assert sent >= 30
    good.stop()

    # 2. Replay, no server at all: gated against the baseline, passes, sends nothing.
    r = _pytest(project, "--evalseed", "-rA", "suites", url=good.base_url)
    r.assert_outcomes(passed=1)
    out = r.stdout.str()
    assert "gated against" in out and "not gated" not in out

    # 3. A regression seeded into the cassette: 10 answers flipped fail the gate with compare's table.
    data = json.loads(cassettes[0].read_text())
    flipped = 0
    for inter in data["interactions"]:
        req = inter["request"]["body"]
        m = re.search(r"review number (\d+) is (\w+)", req if isinstance(req, str) else json.dumps(req))
        if int(m.group(1)) < 10:
            body = inter["response"]["body"]["string"]
            old, new = m.group(2).capitalize(), ("Positive" if m.group(2) == "negative" else "Negative")
            assert old in body
            inter["response"]["body"]["string"] = body.replace(old, new)
            flipped += 1
    assert flipped == 10
    cassettes[0].write_text(json.dumps(data))
    r = _pytest(project, "--evalseed", "suites", url=good.base_url)
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "REGRESSION" in out and "polarity" in out and "10 pass->fail" in out
    assert "Traceback" not in out and "EvalseedFailure" not in out

    # 4. Per case: the ten flipped cases fail, the others pass; the gate item fails as before.
    r = _pytest(project, "--evalseed", "--evalseed-per-case", "suites", url=good.base_url)
    r.assert_outcomes(failed=11, passed=20)
    assert "case case-003 of polarity" in r.stdout.str() and "passed on the baseline" in r.stdout.str()


def test_failing_gate_after_recording_a_worse_model(project, stub):
    good = stub(responder=_responder(set()))
    _pytest(project, "--evalseed", "--evalseed-record", "--evalseed-update-baseline", "suites",
            url=good.base_url).assert_outcomes(passed=1)
    worse = stub(responder=_responder(set(range(12))))
    r = _pytest(project, "--evalseed", "--evalseed-record", "suites", url=worse.base_url)
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "REGRESSION" in out and "12 pass->fail" in out
    assert worse.count() >= 30
    # The baseline file was not modified by the gated session: replaying the worse recording fails again.
    _pytest(project, "--evalseed", "suites", url=worse.base_url).assert_outcomes(failed=1)


def test_replay_without_recordings_says_how_to_record(project, stub):
    srv = stub(responder=_responder(set()))
    r = _pytest(project, "--evalseed", "suites", url=srv.base_url)
    r.assert_outcomes(failed=1)
    assert "--evalseed-record" in r.stdout.str()
    assert srv.count() == 0


def test_marker_runs_a_suite_next_to_unit_tests(project, stub):
    srv = stub(responder=_responder(set()))
    project.makepyfile(test_eval=f'''
        import pytest

        @pytest.mark.evalseed(suite="suites/polarity.yaml", models="{MODEL}", run_args="--base-url {srv.base_url}")
        def test_polarity(evalseed_run):
            assert evalseed_run.accuracy("polarity", "{MODEL}") == 1.0

        @pytest.mark.evalseed(suite="suites/polarity.yaml", models="{MODEL}", run_args="--base-url {srv.base_url}")
        def test_gate_only():
            pass

        def test_unit():
            assert True
    ''')
    r = project.runpytest(*_plugin_args(), "-p", "no:cacheprovider", "--evalseed-record", "--evalseed-update-baseline",
                          "test_eval.py")
    r.assert_outcomes(passed=3)
    assert list((project.path / "cassettes" / "test_eval" / "test_polarity").rglob("polarity/*.json"))
    assert list((project.path / "cassettes" / "test_eval" / "test_gate_only").rglob("polarity/*.json"))
    srv.stop()
    r = project.runpytest(*_plugin_args(), "-p", "no:cacheprovider", "test_eval.py")
    r.assert_outcomes(passed=3)
    assert "gated against" in r.stdout.str()

    # A regression seeded into one test's cassette fails that test, with the table, and not the others.
    (cas,) = (project.path / "cassettes" / "test_eval" / "test_gate_only").rglob("*.json")
    data = json.loads(cas.read_text())
    for inter in data["interactions"][:15]:
        s = inter["response"]["body"]["string"]
        inter["response"]["body"]["string"] = s.replace("Positive", "@@").replace("Negative", "Positive").replace("@@", "Negative")
    cas.write_text(json.dumps(data))
    r = project.runpytest(*_plugin_args(), "-p", "no:cacheprovider", "test_eval.py")
    r.assert_outcomes(passed=2, failed=1)
    out = r.stdout.str()
    assert "test_gate_only" in out and "REGRESSION" in out and "15 pass->fail" in out


def _relabel(cassette: dict, labels: dict[str, str]) -> dict:
    """A copy of a streamed cassette whose answer for each case id in `labels` is that label (the
    first content delta carries it, the others are emptied; usage and timings stay as recorded)."""
    out = json.loads(json.dumps(cassette))
    for inter in out["interactions"]:
        case = inter["request"]["headers"]["x-evalseed-case"][0]
        if case not in labels:
            continue
        events, first = [], True
        for ev in inter["response"]["body"]["string"].split("\n\n"):
            if ev.startswith("data: {"):
                chunk = json.loads(ev[len("data: "):])
                for choice in chunk.get("choices", []):
                    if "content" in (choice.get("delta") or {}):
                        choice["delta"]["content"] = labels[case] if first else ""
                        first = False
                ev = "data: " + json.dumps(chunk)
            events.append(ev)
        assert not first, f"{case}: no content delta"
        inter["response"]["body"]["string"] = "\n\n".join(events)
    return out


def test_bundled_suite_replays_offline_and_a_seeded_regression_fails(pytester):
    """The bundled review-sentiment suite and its recording of the embedded model, no server and no
    llama.cpp: a baseline from the recording edited to answer every case right, then a candidate
    cassette with 15 of those answers made wrong fails the gate with compare's table."""
    suite = yaml.safe_load((ROOT / "suites" / "review-sentiment.yaml").read_text(encoding="utf-8"))
    expected = {c["id"]: c["expected"] for c in suite["cases"]}
    wrong = {cid: ("negative" if label != "negative" else "positive") for cid, label in sorted(expected.items())[:15]}
    recorded = json.loads((ROOT / "cassettes" / "local" / "review-sentiment" / "gemma-3-270m.json").read_text())
    for name, labels in (("good", expected), ("worse", {**expected, **wrong})):
        shard = pytester.path / name / "local" / "review-sentiment" / "gemma-3-270m.json"
        shard.parent.mkdir(parents=True)
        shard.write_text(json.dumps(_relabel(recorded, labels)))
    (pytester.path / "suites").mkdir()
    shutil.copy(ROOT / "suites" / "review-sentiment.yaml", pytester.path / "suites")
    pytester.makeini("[pytest]\n")
    base = [*_plugin_args(), "-p", "no:cacheprovider", "--evalseed", "--evalseed-models", "local", "suites"]
    pytester.runpytest(*base, "--evalseed-cassette-dir", "good", "--evalseed-update-baseline").assert_outcomes(passed=1)
    r = pytester.runpytest(*base, "--evalseed-cassette-dir", "worse")
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "review-sentiment" in out and "REGRESSION" in out and "15 pass->fail" in out
    # The recording as bundled (0 of 44 right) is a regression against that baseline too.
    r = pytester.runpytest(*base, "--evalseed-cassette-dir", str(ROOT / "cassettes"))
    r.assert_outcomes(failed=1)
    assert "44 pass->fail" in r.stdout.str()
