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
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

MARKER = "evalseed"
LABEL_PREFIX = "evalseed-pytest"
_RUN_LINE = re.compile(r"^run (\S+) stored in ", re.M)


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


# ---- settings and the session's state ---------------------------------------------------------


def _opt(config: pytest.Config, name: str, ini: str) -> Any:
    v = config.getoption(name)
    return v if v not in (None, "") else config.getini(ini)


def _rooted(config: pytest.Config, p: str) -> Path:
    path = Path(os.path.expanduser(p))
    return path if path.is_absolute() else Path(config.rootpath) / path


def _path_opt(config: pytest.Config, name: str, ini: str) -> Path:
    """A path option: relative to where pytest was started when given on the command line, to
    the rootdir when it comes from the ini file."""
    v = config.getoption(name)
    if v not in (None, ""):
        path = Path(os.path.expanduser(str(v)))
        return path if path.is_absolute() else Path(config.invocation_params.dir) / path
    return _rooted(config, str(config.getini(ini)))


@dataclass
class Outcome:
    """One (suite, model) run and its gate."""

    suite: str
    model: str
    run_id: Optional[str] = None
    base_run: Optional[str] = None
    code: int = 0                  # compare's exit code (0 without a gate)
    message: str = ""              # compare's table, or the sentence that explains a failure
    failed: bool = False
    gated: bool = False
    run_output: str = ""

    @property
    def summary_line(self) -> str:
        what = (f"gated against {self.base_run}" if self.gated else "not gated (no baseline run)")
        return f"{self.suite} @ {self.model}: run {self.run_id or '-'}, {what}"


@dataclass
class _State:
    config: pytest.Config
    work_db: Optional[Path] = None
    outcomes: dict = field(default_factory=dict)   # (suite path, model, cassette dir) -> Outcome
    model_sets: Optional[dict] = None
    model_kinds: dict = field(default_factory=dict)  # model name -> text | image
    baseline_runs: Optional[dict] = None            # label -> run id (newest finished)

    # -- paths and modes --
    @property
    def update_baseline(self) -> bool:
        return bool(self.config.getoption("--evalseed-update-baseline"))

    @property
    def baseline(self) -> Path:
        return _path_opt(self.config, "--evalseed-baseline", "evalseed_baseline")

    @property
    def cassette_mode(self) -> str:
        if self.config.getoption("--evalseed-record"):
            return "record"
        return str(_opt(self.config, "--evalseed-cassettes", "evalseed_cassettes") or "replay")

    @property
    def cassette_dir(self) -> Path:
        return _path_opt(self.config, "--evalseed-cassette-dir", "evalseed_cassette_dir")

    def run_args(self) -> list[str]:
        return shlex.split(str(_opt(self.config, "--evalseed-run-args", "evalseed_run_args") or ""))

    def compare_args(self) -> list[str]:
        return shlex.split(str(_opt(self.config, "--evalseed-compare-args", "evalseed_compare_args") or ""))

    def db(self) -> Path:
        """The database this session's runs go to: the baseline file itself when updating it, else
        a copy of it made once per session (so compare sees both runs in one file and the
        baseline is never modified)."""
        if self.update_baseline:
            self.baseline.parent.mkdir(parents=True, exist_ok=True)
            return self.baseline
        if self.work_db is None:
            given = self.config.getoption("--evalseed-db")
            if given:
                db = Path(self.config.invocation_params.dir) / os.path.expanduser(given)
                db.parent.mkdir(parents=True, exist_ok=True)
            else:
                factory = getattr(self.config, "_tmp_path_factory", None)  # absent with -p no:tmpdir
                if factory is not None:
                    db = factory.mktemp("evalseed") / "evalseed.duckdb"
                else:
                    import tempfile

                    db = Path(tempfile.mkdtemp(prefix="evalseed-pytest-")) / "evalseed.duckdb"
            for stale in (db, db.with_name(db.name + ".wal")):
                if stale.exists():
                    stale.unlink()
            if self.baseline.is_file():
                shutil.copyfile(self.baseline, db)
            self.work_db = db
        return self.work_db

    # -- talking to evalseed --
    def evalseed(self, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        try:  # compare's table cuts its own headers below about 160 columns
            env["COLUMNS"] = str(max(160, int(env.get("COLUMNS") or 0)))
        except ValueError:
            env["COLUMNS"] = "160"
        root = str(Path(__file__).resolve().parent.parent)
        if "site-packages" not in root and "dist-packages" not in root:
            # A source checkout: the subprocess runs the evalseed this plugin came from.
            env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        return subprocess.run([sys.executable, "-m", "evalseed", *args], capture_output=True, text=True,
                              env=env, timeout=timeout, cwd=str(self.config.rootpath))

    def expand_models(self, spec: str) -> list[str]:
        """`a,b` or a model set's name into model names (variants' brackets kept whole)."""
        names = _split_models(spec)
        if self.model_sets is None and any("[" not in n for n in names):
            args = self.run_args()
            cfg = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--config"]
            r = self.evalseed("models", "--json", *(["--config", cfg[-1]] if cfg else []))
            data = json.loads(r.stdout) if r.returncode == 0 else {}
            self.model_sets = data.get("model_sets", {})
            self.model_kinds = {m["name"]: m.get("kind") for m in data.get("models", [])}
        out: list[str] = []
        for n in names:
            for m in (self.model_sets or {}).get(n, [n]):
                if m not in out:
                    out.append(m)
        return out

    def fits(self, model: str, suite_kind: str) -> bool:
        """Whether a model answers suites of this kind (image suites go to image models only); a
        model evalseed's table does not know is given the benefit of the doubt."""
        from .kinds import get_kind

        kind = self.model_kinds.get(model.split("[")[0])
        try:
            wanted = get_kind(suite_kind).model_kinds
        except KeyError:  # an unknown kind: the run itself says so
            return True
        return kind is None or kind in wanted

    def baseline_run(self, label: str) -> Optional[str]:
        if self.update_baseline or not self.baseline.is_file():
            return None
        if self.baseline_runs is None:
            r = self.evalseed("runs", "--json", "--db", str(self.baseline), "--limit", "1000000")
            if r.returncode != 0:
                raise EvalseedFailure(f"evalseed could not read the baseline {self.baseline}: {_last(r.stderr)}")
            self.baseline_runs = {}
            for run in json.loads(r.stdout):        # newest first
                if run.get("status") == "finished" and run.get("label"):
                    self.baseline_runs.setdefault(run["label"], run["run_id"])
        return self.baseline_runs.get(label)

    def outcome(self, suite_path: Path, suite: str, model: str, cassette_dir: Path,
                run_args: list[str] | None = None) -> Outcome:
        """Run (once per session) and gate one suite on one model."""
        key = (str(suite_path), model, str(cassette_dir))
        if key in self.outcomes:
            return self.outcomes[key]
        out = self.outcomes[key] = Outcome(suite, model)
        base_label = f"{LABEL_PREFIX} baseline {suite}@{model}"
        db = self.db()
        r = self.evalseed(
            "run", str(suite_path), "--models", model, "--db", str(db), "--cassettes", self.cassette_mode,
            "--cassette-dir", str(cassette_dir), "--no-progress",
            "--label", base_label if self.update_baseline else f"{LABEL_PREFIX} {suite}@{model}",
            *self.run_args(), *(run_args or []))
        out.run_output = r.stdout
        m = _RUN_LINE.search(r.stdout)
        out.run_id = m.group(1) if m else None
        if r.returncode != 0 or not out.run_id:
            out.failed, out.code = True, r.returncode
            hint = ""
            if self.cassette_mode == "replay" and ("record" in r.stderr or "cassette" in r.stderr):
                hint = "\nRecord the cassettes with: pytest --evalseed-record ..."
            out.message = f"evalseed run exited {r.returncode}: {_last(r.stderr)}{hint}"
            return out
        if self.update_baseline:
            if self.baseline_runs is not None:
                self.baseline_runs[base_label] = out.run_id
            return out
        out.base_run = self.baseline_run(base_label)
        if out.base_run is None:
            return out
        out.gated = True
        r = self.evalseed("compare", out.base_run, out.run_id, "--db", str(db), "--base-model", model,
                          "--cand-model", model, *self.compare_args())
        out.code = r.returncode
        if r.returncode == 0:
            out.message = r.stdout
        elif r.returncode == 1:
            out.failed, out.message = True, r.stdout
        else:
            out.failed = True
            out.message = (f"evalseed compare exited {r.returncode}: {_last(r.stderr)}"
                           + (f"\n{r.stdout}" if r.stdout.strip() else ""))
        return out

    def case_rows(self, run_id: str, suite: str, model: str) -> dict:
        """case_id -> (pass rate over asked rows, expected, answer) from the documented `results`
        table, read-only."""
        import duckdb

        con = duckdb.connect(str(self.db()), read_only=True)
        try:
            rows = con.execute(
                """SELECT case_id, avg(CASE WHEN passed THEN 1.0 ELSE 0.0 END) FILTER (status <> 'skipped'),
                          any_value(json_extract_string(details, '$.expected')), any_value(output_text),
                          any_value(error), bool_and(status = 'skipped')
                   FROM results WHERE run_id = ? AND suite = ? AND model = ? GROUP BY case_id""",
                [run_id, suite, model]).fetchall()
        finally:
            con.close()
        return {r[0]: r[1:] for r in rows}


class EvalseedFailure(Exception):
    """A failed gate or run: reported with its message only, no traceback."""


def _state(config: pytest.Config) -> _State:
    st = getattr(config, "_evalseed_state", None)
    if st is None:
        st = _State(config)
        config._evalseed_state = st  # type: ignore[attr-defined]
    return st


def _split_models(spec: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in spec:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return [m for m in out if m]


def _last(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no message)"


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
        st = _state(self.config)
        spec = str(_opt(self.config, "--evalseed-models", "evalseed_models") or self.head["models"] or "default")
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
        st = _state(self.config)
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
        st = _state(self.config)
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

    def __init__(self, outcomes: list[Outcome], state: _State) -> None:
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
            raise EvalseedFailure(_last(r.stderr))
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
    st = _state(request.config)
    here = Path(request.node.path).parent
    models = kw.get("models") or str(_opt(request.config, "--evalseed-models", "evalseed_models") or "")
    models = ",".join(models) if isinstance(models, (list, tuple)) else models
    cdir = kw.get("cassette_dir")
    cassette_dir = (here / cdir) if cdir else here / "cassettes" / Path(request.node.path).stem / request.node.originalname
    extra = kw.get("run_args") or []
    extra = shlex.split(extra) if isinstance(extra, str) else list(extra)
    outcomes = []
    for s in suites:
        path = Path(s) if Path(s).is_absolute() else (here / s if (here / s).exists() else _rooted(request.config, str(s)))
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
