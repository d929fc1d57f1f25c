"""`{type: python, value: ...}`: a check scored by your own function (docs/design.md).

`value` is either `FILE.py:FUNCTION`, a Python file beside the suite (or below its folder: the
path is confined as long-context documents are), or the name of an installed entry point in the
group `evalseed.scorers` (a package's `[project.entry-points."evalseed.scorers"]`). The function
is called as `fn(case, answer, response)`: the case as a plain dict (`id`, `vars`, `reference`,
`tags`, ...), the answer text (`""` when there is none) and the whole response body. It returns a
dict `{"score": 0..1, "passed": bool, "reason": "...", "details": {...}}` (`pass` is taken for
`passed`; without a verdict the check passes when the score is 1; without a score it is 1 or 0
from the verdict) or a tuple `(score, passed[, details])`.

A function that raises, or returns something else, is the case's scorer error: the row is kept
with its answer as an `error` row `ScorerError: ...`, and `evalseed rescore` scores it again once
the function is fixed. The code runs in the evalseed process: run only suites you trust.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable

ENTRY_POINT_GROUP = "evalseed.scorers"
_FILE_REF = re.compile(r"^(?P<file>.+\.py):(?P<func>[A-Za-z_][A-Za-z0-9_]*)$")
_ENTRY_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
# (absolute file, modification time, function) -> the function; entry point name -> the function.
_LOADED: dict[tuple, Callable] = {}


class CustomScorerError(Exception):
    """A custom scorer raised or returned something that is no verdict."""


def check_scorer_ref(value: str, suite_dir: str | None) -> None:
    """Refuse at load time what could never be called: a malformed reference, a file outside the
    suite's folder or missing, an entry point not installed. The file is not imported here."""
    m = _FILE_REF.match(value)
    if m:
        from ..long_context.spec import check_relative_path

        check_relative_path(m["file"], suite_dir)
        return
    if ":" in value or not _ENTRY_NAME.match(value):
        raise ValueError(f"value: {value!r} is neither FILE.py:FUNCTION (a file beside the suite) nor the name of "
                         f"an entry point in the group {ENTRY_POINT_GROUP}")
    if _entry_point(value) is None:
        raise ValueError(f"value: no installed entry point {value!r} in the group {ENTRY_POINT_GROUP}")


def _entry_point(name: str) -> Any:
    from importlib.metadata import entry_points

    return next((ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name), None)


def load_scorer(value: str, suite_path: str) -> Callable:
    """The function a `python` check names, imported once per file version."""
    m = _FILE_REF.match(value)
    if m is None:
        fn = _LOADED.get(("ep", value))
        if fn is None:
            ep = _entry_point(value)
            if ep is None:
                raise CustomScorerError(f"no installed entry point {value!r} in the group {ENTRY_POINT_GROUP}")
            fn = _LOADED[("ep", value)] = ep.load()
        return fn
    from ..long_context.spec import check_relative_path

    base = Path(suite_path).parent if suite_path else Path(".")
    try:
        check_relative_path(m["file"], str(base))  # again: the file may have moved since loading
    except ValueError as e:
        raise CustomScorerError(str(e)) from None
    path = (base / m["file"]).resolve()
    key = (str(path), path.stat().st_mtime_ns, m["func"])
    fn = _LOADED.get(key)
    if fn is None:
        name = "evalseed_scorer_" + hashlib.sha1(f"{path}:{key[1]}".encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise CustomScorerError(f"{m['file']}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(name, None)
            raise CustomScorerError(f"importing {m['file']} raised {type(e).__name__}: {e}") from e
        fn = getattr(module, m["func"], None)
        if not callable(fn):
            raise CustomScorerError(f"{m['file']} has no function {m['func']}")
        _LOADED[key] = fn
    return fn


def run_scorer(value: str, suite_path: str, case: dict, answer: str, response: Any) -> tuple[float, bool, str, Any]:
    """(score, passed, reason, details) from the function `value` names; CustomScorerError when it
    raises or returns no verdict."""
    fn = load_scorer(value, suite_path)
    try:
        out = fn(case, answer, response)
    except Exception as e:
        raise CustomScorerError(f"{value} raised {type(e).__name__}: {e}"[:500]) from e
    details: Any = None
    reason: str | None = None
    if isinstance(out, dict):
        score = out.get("score")
        passed = out.get("passed", out.get("pass"))
        details = out.get("details")
        reason = out.get("reason") if isinstance(out.get("reason"), str) else None
    elif isinstance(out, tuple) and len(out) in (2, 3):
        score, passed = out[0], out[1]
        details = out[2] if len(out) == 3 else None
    else:
        raise CustomScorerError(f"{value} returned {type(out).__name__}; return a dict with score and passed, "
                                "or a tuple (score, passed[, details])")
    if passed is not None and not isinstance(passed, bool):
        raise CustomScorerError(f"{value} returned passed={passed!r}; it must be true or false")
    if score is None and passed is None:
        raise CustomScorerError(f"{value} returned neither a score nor a verdict")
    if score is None:
        score = 1.0 if passed else 0.0
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score) \
            or not 0.0 <= score <= 1.0:
        raise CustomScorerError(f"{value} returned score={score!r}; it must be a number between 0 and 1")
    if passed is None:
        passed = score >= 1.0
    if details is not None:
        import json

        try:
            json.dumps(details, allow_nan=False, default=None)
        except (TypeError, ValueError) as e:
            raise CustomScorerError(f"{value} returned details that are not JSON ({e})") from None
    name = value.rsplit(":", 1)[-1]
    reason = " ".join(reason.split())[:200] if reason else f"{name}: score {float(score):.3f}, " + \
        ("passed" if passed else "failed")
    return float(score), passed, reason, details
