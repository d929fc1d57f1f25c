"""The plugin's session state: its settings (options over ini keys), the session database, and
every talk with evalseed through its command line (`run`, `compare`, `runs`, `models`). Imports
nothing of evalseed at load time, like the plugin itself."""

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

LABEL_PREFIX = "evalseed-pytest"
_RUN_LINE = re.compile(r"^run (\S+) stored in ", re.M)


# ---- settings and the session's state ---------------------------------------------------------


def option(config: pytest.Config, name: str, ini: str) -> Any:
    v = config.getoption(name)
    return v if v not in (None, "") else config.getini(ini)


def rooted(config: pytest.Config, p: str) -> Path:
    path = Path(os.path.expanduser(p))
    return path if path.is_absolute() else Path(config.rootpath) / path


def _path_opt(config: pytest.Config, name: str, ini: str) -> Path:
    """A path option: relative to where pytest was started when given on the command line, to
    the rootdir when it comes from the ini file."""
    v = config.getoption(name)
    if v not in (None, ""):
        path = Path(os.path.expanduser(str(v)))
        return path if path.is_absolute() else Path(config.invocation_params.dir) / path
    return rooted(config, str(config.getini(ini)))


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
class State:
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
        return str(option(self.config, "--evalseed-cassettes", "evalseed_cassettes") or "replay")

    @property
    def cassette_dir(self) -> Path:
        return _path_opt(self.config, "--evalseed-cassette-dir", "evalseed_cassette_dir")

    def run_args(self) -> list[str]:
        return shlex.split(str(option(self.config, "--evalseed-run-args", "evalseed_run_args") or ""))

    def compare_args(self) -> list[str]:
        return shlex.split(str(option(self.config, "--evalseed-compare-args", "evalseed_compare_args") or ""))

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
        root = str(Path(__file__).resolve().parents[2])
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
        from ..kinds import get_kind

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
                raise EvalseedFailure(f"evalseed could not read the baseline {self.baseline}: {last_lines(r.stderr)}")
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
            out.message = f"evalseed run exited {r.returncode}: {last_lines(r.stderr)}{hint}"
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
            out.message = (f"evalseed compare exited {r.returncode}: {last_lines(r.stderr)}"
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


def session_state(config: pytest.Config) -> State:
    st = getattr(config, "_evalseed_state", None)
    if st is None:
        st = State(config)
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


def last_lines(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no message)"
