"""evalseed as a pytest plugin (entry point `pytest11`, name `evalseed`).

Inert unless asked: without `--evalseed` (or `evalseed_collect = true` in the ini file) no file
is collected, and only tests marked `@pytest.mark.evalseed(...)` are touched. The module imports
nothing of evalseed at load time, so registering it costs the project's own test runs nothing.

What it does when asked:

* `pytest --evalseed suites/`: every suite file (a YAML mapping with `name` and `kind`) becomes
  one test item per (suite, model); with `--evalseed-per-case` also one item per case.
* Each item runs its suite on its model with `python -m evalseed run` (a subprocess: the engine
  patches httpx globally while it records or replays, which must not leak into the test process),
  into a session database that starts as a copy of the stored baseline, then gates it against
  that baseline's run of the same suite and model with `python -m evalseed compare`: exit 1 (a
  regression) fails the test with compare's table as the message; exit 3 (the candidate's
  infrastructure failed) and 2 fail it too, with compare's sentence.
* Cassettes replay by default (the network is never touched; a missing recording fails the test
  and says to record); `--evalseed-record` records them afresh. Suites collected from a folder use
  `--evalseed-cassette-dir` (default `cassettes/`, the command line's default); a marked test uses
  `cassettes/<module>/<test>/` beside its file, as pytest-recording does.
* The baseline is a DuckDB file (`--evalseed-baseline`, default `.evalseed/baseline.duckdb`)
  holding one run per (suite, model), labelled `evalseed-pytest baseline SUITE@MODEL`;
  `--evalseed-update-baseline` stores this session's runs there instead of gating. An item with no
  baseline run passes when its run completes and is listed as "not gated" in the summary.

The plugin talks to evalseed only through its command line (`python -m evalseed run|compare|runs
|models`) and the documented `results` table (docs/design.md), never through internal modules.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any, Optional

import pytest

from .session import EvalseedFailure, Outcome, State, last_lines, option, rooted, session_state

MARKER = "evalseed"



# ---- options --------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("evalseed", "evalseed: suites as tests, gated against a stored baseline")
    g.addoption("--evalseed", action="store_true", default=None,
                help="Collect evalseed suite files (*.yaml with name and kind) under the given paths as tests.")
    g.addoption("--evalseed-models", default=None, metavar="SET|a,b",
                help="Models to run each collected suite on (default: the suite's own `models`, else the default set).")
    g.addoption("--evalseed-per-case", action="store_true", default=None,
                help="Also one test item per case (a case that passed on the baseline and fails now fails).")
    g.addoption("--evalseed-record", action="store_true", default=False,
                help="Call the models and record the cassettes afresh (default: replay only).")
    g.addoption("--evalseed-cassettes", default=None, metavar="MODE",
                help="Cassette mode: replay (default), record, auto or off.")
    g.addoption("--evalseed-cassette-dir", default=None, metavar="DIR",
                help="Cassette folder of collected suites (default: cassettes/ under the rootdir).")
    g.addoption("--evalseed-baseline", default=None, metavar="FILE",
                help="DuckDB file holding the baseline runs (default: .evalseed/baseline.duckdb under the rootdir).")
    g.addoption("--evalseed-update-baseline", action="store_true", default=False,
                help="Store this session's runs as the baseline instead of gating against it.")
    g.addoption("--evalseed-db", default=None, metavar="FILE",
                help="Where this session's runs go (a copy of the baseline, overwritten each session; "
                     "default: a file in pytest's temporary folder).")
    g.addoption("--evalseed-run-args", default=None, metavar="ARGS",
                help='Extra `evalseed run` flags, e.g. "--base-url http://127.0.0.1:8000/v1 --concurrency 4".')
    g.addoption("--evalseed-compare-args", default=None, metavar="ARGS",
                help='Extra `evalseed compare` flags, e.g. "--min-drop 0.05 --alpha 0.01".')
    parser.addini("evalseed_collect", "Collect suite files without --evalseed.", type="bool", default=False)
    parser.addini("evalseed_models", "Default for --evalseed-models.", default="")
    parser.addini("evalseed_cassettes", "Default for --evalseed-cassettes.", default="replay")
    parser.addini("evalseed_cassette_dir", "Default for --evalseed-cassette-dir.", default="cassettes")
    parser.addini("evalseed_baseline", "Default for --evalseed-baseline.", default=".evalseed/baseline.duckdb")
    parser.addini("evalseed_run_args", "Default for --evalseed-run-args.", default="")
    parser.addini("evalseed_compare_args", "Default for --evalseed-compare-args.", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "evalseed(suite, models=None, run_args=None, cassette_dir=None): run an evalseed suite (a path "
        "relative to the test file, or a list of them) on the models and gate it against the stored baseline.")


# ---- collection: suite files as items ---------------------------------------------------------


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--evalseed") or config.getini("evalseed_collect"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix not in (".yaml", ".yml") or not _enabled(parent.config):
        return None
    head = _suite_head(file_path)
    if head is None:
        return None
    return SuiteFile.from_parent(parent, path=file_path, head=head)


def _suite_head(path: Path) -> Optional[dict]:
    """The suite's name, kind, models and case ids, or None when the file is no suite."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - a broken suite is still a suite: the run reports the problem
        text = path.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"^name:\s*(\S+)", text, re.M)
        return {"name": m.group(1), "kind": "?", "models": None, "cases": None} if m and "kind:" in text else None
    if not isinstance(data, dict) or "name" not in data or "kind" not in data:
        return None
    cases = data.get("cases")
    ids = [c.get("id") for c in cases if isinstance(c, dict)] if isinstance(cases, list) else None
    models = data.get("models")
    return {"name": str(data["name"]), "kind": str(data["kind"]),
            "models": ",".join(models) if isinstance(models, list) else models,
            "cases": ids if ids and all(isinstance(i, str) for i in ids) else None}


class SuiteFile(pytest.File):
    def __init__(self, *, head: dict, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.head = head

    def collect(self):
        st = session_state(self.config)
        spec = str(option(self.config, "--evalseed-models", "evalseed_models") or self.head["models"] or "default")
        per_case = bool(self.config.getoption("--evalseed-per-case"))
        models = st.expand_models(spec)
        fitting = [m for m in models if st.fits(m, self.head["kind"])]
        if not fitting:
            item = SuiteItem.from_parent(self, name=f"{self.head['name']}[-]", model="", suite=self.head["name"])
            item.add_marker(pytest.mark.skip(reason=f"no model of {spec!r} answers {self.head['kind']} suites"))
            yield item
        for model in fitting:
            yield SuiteItem.from_parent(self, name=f"{self.head['name']}[{model}]", model=model,
                                      suite=self.head["name"])
            if per_case and self.head["cases"]:
                for case in self.head["cases"]:
                    yield CaseItem.from_parent(self, name=f"{self.head['name']}[{model}]::{case}", model=model,
                                               suite=self.head["name"],
                                               case=case)


class SuiteItem(pytest.Item):
    """One suite on one model: the run and the gate."""

    def __init__(self, *, model: str, suite: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.suite = suite
        self.add_marker(MARKER)

    def _outcome(self) -> Outcome:
        st = session_state(self.config)
        return st.outcome(self.path, self.suite, self.model, st.cassette_dir)

    def runtest(self) -> None:
        out = self._outcome()
        self.user_properties.append(("evalseed_run", out.run_id))
        if out.base_run:
            self.user_properties.append(("evalseed_baseline", out.base_run))
        if out.failed:
            raise EvalseedFailure(out.message)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, EvalseedFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"evalseed suite {self.name}"


class CaseItem(SuiteItem):
    """One case of a suite on one model: fails when it fails now and did not on the baseline (or
    there is none); a case that fails on the baseline too is an expected failure."""

    def __init__(self, *, case: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        out = self._outcome()
        if out.run_id is None:
            raise EvalseedFailure(out.message)
        st = session_state(self.config)
        suite = self.suite
        now = st.case_rows(out.run_id, suite, self.model).get(self.case)
        if now is None:
            raise EvalseedFailure(f"case {self.case} has no row in run {out.run_id}.")
        rate, expected, answer, error, all_skipped = now
        if all_skipped:
            pytest.skip(f"skipped by the run: {error}")
        if rate is not None and rate >= 1.0:
            return
        before = st.case_rows(out.base_run, suite, self.model).get(self.case) if out.base_run else None
        what = error or f"expected {expected!r}, answered {answer!r}"
        if before is not None and (before[0] is None or before[0] < 1.0):
            pytest.xfail(f"fails on the baseline {out.base_run} too: {what}")
        raise EvalseedFailure(
            f"case {self.case} of {suite} on {self.model}: {what}"
            + (f" (passed on the baseline {out.base_run})" if before is not None else " (no baseline run)"))


# ---- @pytest.mark.evalseed(...) ----------------------------------------------------------------


class EvalseedRuns:
    """What a marked test gets as the `evalseed_run` fixture: one Outcome per (suite, model)."""

    def __init__(self, outcomes: list[Outcome], state: State) -> None:
        self.outcomes = outcomes
        self._state = state
        self.db = state.db()

    @property
    def run_ids(self) -> list[str]:
        return [o.run_id for o in self.outcomes if o.run_id]

    def summary(self, outcome: Outcome | None = None) -> list[dict]:
        """`evalseed runs RUN_ID --json`'s per suite and model records (accuracy, metrics...)."""
        o = outcome or self.outcomes[0]
        r = self._state.evalseed("runs", o.run_id or "", "--json", "--db", str(self.db))
        if r.returncode != 0:
            raise EvalseedFailure(last_lines(r.stderr))
        return json.loads(r.stdout)["results"]

    def accuracy(self, suite: str | None = None, model: str | None = None) -> float | None:
        for o in self.outcomes:
            if (suite in (None, o.suite)) and (model in (None, o.model)):
                for rec in self.summary(o):
                    if rec["suite"] == o.suite and rec["model"] == o.model:
                        return rec["accuracy"]
        return None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    for item in items:
        if isinstance(item, SuiteItem) or item.get_closest_marker(MARKER) is None:
            continue
        if "evalseed_run" not in item.fixturenames:
            item.fixturenames.append("evalseed_run")
        item.runtest = _gated(item, item.runtest)  # the gate is an assertion of the test itself


def _gated(item, runtest):
    def gated_runtest() -> None:
        runs = item.funcargs.get("evalseed_run")
        if runs is not None:
            failed = [o for o in runs.outcomes if o.failed]
            if failed:
                pytest.fail("\n\n".join(f"{o.suite} @ {o.model}:\n{o.message}" for o in failed), pytrace=False)
        runtest()

    return gated_runtest


@pytest.fixture
def evalseed_run(request: pytest.FixtureRequest) -> EvalseedRuns:
    """Runs the marked test's suites on its models (replaying cassettes from
    `cassettes/<module>/<test>/` beside the test file) and gates each against the baseline; the
    test fails with compare's table on a regression."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        raise pytest.UsageError("the evalseed_run fixture needs @pytest.mark.evalseed(suite=..., models=...).")
    kw = dict(marker.kwargs)
    suites = kw.pop("suite", None) or (marker.args[0] if marker.args else None)
    if not suites:
        raise pytest.UsageError(f"{request.node.nodeid}: @pytest.mark.evalseed needs suite=PATH.")
    suites = [suites] if isinstance(suites, (str, os.PathLike)) else list(suites)
    st = session_state(request.config)
    here = Path(request.node.path).parent
    models = kw.get("models") or str(option(request.config, "--evalseed-models", "evalseed_models") or "")
    models = ",".join(models) if isinstance(models, (list, tuple)) else models
    cdir = kw.get("cassette_dir")
    cassette_dir = (here / cdir) if cdir else here / "cassettes" / Path(request.node.path).stem / request.node.originalname
    extra = kw.get("run_args") or []
    extra = shlex.split(extra) if isinstance(extra, str) else list(extra)
    outcomes = []
    for s in suites:
        path = Path(s) if Path(s).is_absolute() else (here / s if (here / s).exists() else rooted(request.config, str(s)))
        head = _suite_head(path) if path.is_file() else None
        if head is None:
            raise pytest.UsageError(f"{request.node.nodeid}: {path} is not an evalseed suite file.")
        for model in st.expand_models(models or head["models"] or "default"):
            outcomes.append(st.outcome(path, head["name"], model, cassette_dir, extra))
    return EvalseedRuns(outcomes, st)


# ---- the terminal summary ---------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    st = getattr(config, "_evalseed_state", None)
    if st is None or not st.outcomes:
        return
    tr = terminalreporter
    tr.section("evalseed")
    for o in st.outcomes.values():
        tr.write_line(o.summary_line)
    ungated = sum(1 for o in st.outcomes.values() if not o.gated and not o.failed)
    if st.update_baseline:
        tr.write_line(f"baseline stored in {st.baseline} (cassettes: {st.cassette_mode})")
    else:
        if ungated:
            tr.write_line(f"{ungated} not gated: no baseline run in {st.baseline}; "
                          "`pytest --evalseed-update-baseline ...` stores one.")
        tr.write_line(f"runs in {st.db()}: evalseed report --db {st.db()}")
