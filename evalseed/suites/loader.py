"""Load and validate suite files. Every problem becomes one line naming the file, the line and
the key path, e.g. `suites/sentiment.yaml:14 cases[3].expected: field required`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import SuiteError, UsageError
from ..kinds import KINDS, get_kind
from .spec import BaseSuite

SUITE_SUFFIXES = (".yaml", ".yml")
_MAX_MESSAGE = 400
# Aliases let a few YAML lines expand exponentially ("billion laughs"); no real suite comes near.
_MAX_VALUES = 1_000_000
# Checked before parsing: PyYAML takes about a second and 25 MB of memory per MB of suite, and a
# 52 MB file took 55 s and 1.4 GB before the value count refused it (issue 16).
MAX_SUITE_BYTES = 8 * 1024 * 1024
_PLAIN_KEY = re.compile(r"^[A-Za-z_][\w-]*$")
_PATH_PREFIX = re.compile(r"^((?:[A-Za-z_][\w-]*|\[\d+\])(?:\.[A-Za-z_][\w-]*|\[\d+\])*): (.*)$", re.S)


@dataclass(frozen=True)
class SuiteProblem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        # One line, and short: a message may quote a value, and a value may be huge or multi-line.
        message = " ".join(self.message.splitlines())
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE // 2] + " ... " + message[-_MAX_MESSAGE // 3:]
        return f"{where} {self.path}: {message}" if self.path else f"{where}: {message}"


def suite_files(paths: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix in SUITE_SUFFIXES and f.is_file())
            if not found:
                raise UsageError(f"{p}: no *.yaml or *.yml suite files in this folder.")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such file or folder.")
    seen: set[Path] = set()
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique


def _yaml_loader():
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, file: str) -> tuple[Any, dict[tuple, int]]:
    """The document and a map from key path to 1-based line. Duplicate keys are an error: YAML
    would silently keep the last one, and a suite must not lose a setting to a typo."""
    import yaml

    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise UsageError(f"{file}: the file is empty; a suite needs at least name, kind and cases.")
        _expanded_size(node, file, {}, set())
        lines: dict[tuple, int] = {}
        _walk(node, (), lines, file, set())
        data = loader.construct_document(node)
    except RecursionError:
        raise UsageError(f"{file}: the YAML is nested too deeply to be a suite; flatten it.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UsageError(f"{file}{line}: not valid YAML ({problem}); fix the syntax at that line.") from None
    finally:
        loader.dispose()
    return data, lines


def _expanded_size(node, file: str, memo: dict[int, int], active: set[int]) -> int:
    """How many values the document holds once aliases are expanded, counted without expanding
    them; a node that contains an alias to itself is refused (it cannot be a suite)."""
    import yaml

    nid = id(node)
    if nid in memo:
        return memo[nid]
    if nid in active:
        raise UsageError(
            f"{file}:{node.start_mark.line + 1}: an alias refers to a value that contains it; a suite must not be recursive."
        )
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    active.add(nid)
    total = 1 + sum(_expanded_size(c, file, memo, active) for c in children)
    active.discard(nid)
    if total > _MAX_VALUES:
        cause = "aliases expand this suite to" if _has_alias(node) else "this suite holds"
        raise UsageError(
            f"{file}:{node.start_mark.line + 1}: {cause} more than {_MAX_VALUES:,} values; "
            "write it without nested aliases or split it into several suites."
        )
    memo[nid] = total
    return total


def _has_alias(node) -> bool:
    """True when a node is reached twice below `node` (that is what an alias is, once composed)."""
    import yaml

    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            return True
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            stack.extend(x for pair in n.value for x in pair)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return False


def _walk(node, path: tuple, lines: dict[tuple, int], file: str, visited: set[int]) -> None:
    import yaml

    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in visited:
        return  # an alias: checked where its anchor is; errors below it point at the alias line
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                dotted = _dotted(path + (key,))
                raise UsageError(
                    f"{file}:{line} {dotted}: duplicate key (first at line {seen[key]}); keep only one."
                )
            seen[key] = line
            lines[path + (key,)] = line
            _walk(value_node, path + (key,), lines, file, visited)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _walk(item, path + (i,), lines, file, visited)


def _dotted(path: Iterable) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(str(part)):  # `$` in match() would let a trailing newline through
            out += ("." if out else "") + str(part)
        else:  # quoted, so a key holding a newline or a dot still reads as one key on one line
            out += f"[{str(part)!r}]"
    return out


def _parse_dotted(text: str) -> tuple:
    parts: list[Any] = []
    for m in re.finditer(r"([A-Za-z_][\w-]*)|\[(\d+)\]", text):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return tuple(parts)


def _line_for(path: tuple, lines: dict[tuple, int]) -> int | None:
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return lines.get(())


@dataclass(frozen=True)
class _Rows:
    """Where the cases from a data file start in `cases` (after the inline ones), and its name."""

    display: str
    first: int

    def problem(self, loc: tuple, message: str) -> SuiteProblem | None:
        """The problem at `loc` as one of the data file's rows (1-based), or None when `loc` is
        not in a case that came from the file."""
        if len(loc) > 1 and loc[0] == "cases" and isinstance(loc[1], int) and loc[1] >= self.first:
            key = _dotted(loc[2:])
            where = f"row {loc[1] - self.first + 1}"
            return SuiteProblem(self.display, None, f"{where} {key}" if key else where, message)
        return None


def _pydantic_problems(err, file: str, lines: dict[tuple, int], model: type,
                       rows: _Rows | None = None) -> list[SuiteProblem]:
    out = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if isinstance(x, (int, str)))
        msg = _pydantic_message(e)
        etype = e["type"]
        m = _PATH_PREFIX.match(msg)
        if m and etype == "value_error":
            loc = loc + _parse_dotted(m.group(1))
            msg = m.group(2)
        in_file = rows.problem(loc, msg) if rows else None
        out.append(in_file or SuiteProblem(file, _line_for(loc, lines), _dotted(loc), msg))
    return out


def _pydantic_message(e: Any) -> str:
    msg, etype = e["msg"], e["type"]
    if etype == "missing":
        return "field required"
    if etype == "extra_forbidden":
        return "unknown key; check the spelling (the suite contract: docs/design.md, \"Suite files\")"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def load_suite_file(path: Path) -> BaseSuite:
    problems = check_suite_file(path)
    if isinstance(problems, BaseSuite):
        return problems
    first = problems[0]
    more = f" ({len(problems) - 1} more: `evalseed validate {path}` lists them)" if len(problems) > 1 else ""
    raise UsageError(f"{first}{more}")


def check_suite_file(path: Path) -> BaseSuite | list[SuiteProblem]:
    """The validated suite, or every problem found in it."""
    from pydantic import ValidationError

    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_SUITE_BYTES:
            return [SuiteProblem(file, None, "", f"the file is {size / 2**20:.1f} MB and a suite may be at most "
                                 f"{MAX_SUITE_BYTES // 2**20} MB; split its cases into several suites")]
        raw_bytes = path.read_bytes()
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return [SuiteProblem(file, None, "", "not UTF-8 text; save the suite as UTF-8")]
    except OSError as e:
        return [SuiteProblem(file, None, "", f"cannot read ({e.strerror})")]
    try:
        data, lines = parse_yaml(text, file)
    except UsageError as e:
        return [_problem_from_usage(str(e), file)]
    if not isinstance(data, dict):
        return [SuiteProblem(file, 1, "", "the top level must be a mapping with name, kind and cases")]
    kind_name = data.get("kind")
    if kind_name is None:
        return [SuiteProblem(file, _line_for((), lines), "kind", "field required; one of " + ", ".join(KINDS))]
    if not isinstance(kind_name, str) or kind_name not in KINDS:
        return [
            SuiteProblem(file, lines.get(("kind",)), "kind", f"unknown kind {kind_name!r}; use one of " + ", ".join(KINDS))
        ]
    try:
        kind = get_kind(kind_name)
    except KeyError:
        return [SuiteProblem(file, lines.get(("kind",)), "kind", f"kind {kind_name!r} is not available in this build")]
    model: type[BaseSuite] = kind.suite_model
    digest = hashlib.sha256(raw_bytes)
    rows: _Rows | None = None
    if "cases_from" in data:
        loaded = _cases_from(data, path, lines, model)
        if isinstance(loaded, list):
            return loaded
        rows, data_digest = loaded
        # The data file is part of the suite: --resume refuses a suite whose rows changed.
        digest.update(bytes.fromhex(data_digest))
    try:
        suite = model.model_validate(data, context={"suite_dir": str(path.parent), "file": file})
    except ValidationError as e:
        return _pydantic_problems(e, file, lines, model, rows)
    suite._path = file
    suite._content_hash = digest.hexdigest()[:16]
    try:
        kind.validate(suite)
    except SuiteError as e:
        loc = _parse_dotted(e.path)
        in_file = rows.problem(loc, e.message) if rows else None
        return [in_file or SuiteProblem(file, _line_for(loc, lines), e.path, e.message)]
    return suite


def _case_keys(model: type) -> set[str]:
    """The keys one case of the suite model takes (its `cases: list[XCase]`)."""
    from typing import get_args

    from .spec import BaseCase

    annotation = model.model_fields["cases"].annotation  # type: ignore[attr-defined]
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseCase):
            return set(arg.model_fields)
    return set(BaseCase.model_fields)


def _cases_from(data: dict, path: Path, lines: dict[tuple, int], model: type) -> tuple[_Rows, str] | list[SuiteProblem]:
    """Read `cases_from` into `data["cases"]`, after the inline cases; the rows' place and the data
    file's digest, or the problems with the mapping or the file."""
    from pydantic import ValidationError

    from .dataset import DataFileError, load_cases

    file = str(path)
    raw = data.pop("cases_from")
    try:
        loaded = load_cases(raw, str(path.parent), _case_keys(model))
    except ValidationError as e:
        return [SuiteProblem(file, _line_for(("cases_from",) + loc, lines), _dotted(("cases_from",) + loc), msg)
                for loc, msg in ((tuple(x for x in err["loc"] if isinstance(x, (int, str))),
                                  _pydantic_message(err)) for err in e.errors())]
    except DataFileError as e:
        if e.row is not None:
            return [SuiteProblem(e.display or file, None, f"row {e.row} {e.key}".rstrip(), str(e))]
        loc = ("cases_from",) + _parse_dotted(e.key) if e.key else ("cases_from",)
        return [SuiteProblem(file, _line_for(loc, lines), _dotted(loc), str(e))]
    inline = data.get("cases")
    if inline is None:
        inline = []
    if not isinstance(inline, list):
        return [SuiteProblem(file, lines.get(("cases",)), "cases", "must be a list of cases (cases_from adds its rows after them)")]
    data["cases"] = [*inline, *loaded.cases]
    return _Rows(loaded.display, len(inline)), loaded.digest


def _problem_from_usage(message: str, file: str) -> SuiteProblem:
    # parse_yaml already formats "file:line path: msg"; keep it whole.
    rest = message[len(file):] if message.startswith(file) else message
    m = re.match(r"^:(\d+)(?::\s*(.*)|\s+(\S+): (.*))$", rest, re.S)
    if m:
        if m.group(3):
            return SuiteProblem(file, int(m.group(1)), m.group(3), m.group(4))
        return SuiteProblem(file, int(m.group(1)), "", m.group(2))
    return SuiteProblem(file, None, "", rest.lstrip(": "))


def load_suites(paths: Iterable[str]) -> list[BaseSuite]:
    """Every suite under `paths`, validated; the first problem raises UsageError (exit 2)."""
    suites = [load_suite_file(f) for f in suite_files(paths)]
    names: dict[str, str] = {}
    for s in suites:
        if s.name in names:
            raise UsageError(f"{s.path}: suite name {s.name!r} is already used by {names[s.name]}; names are unique per run.")
        names[s.name] = s.path
    return suites


def validate_paths(paths: Iterable[str]) -> tuple[list[BaseSuite], list[SuiteProblem]]:
    """All suites that are valid and all problems of those that are not (for `evalseed validate`)."""
    good: list[BaseSuite] = []
    problems: list[SuiteProblem] = []
    names: dict[str, str] = {}
    for f in suite_files(paths):
        r = check_suite_file(f)
        if isinstance(r, BaseSuite):
            if r.name in names:
                problems.append(SuiteProblem(str(f), None, "name", f"{r.name!r} is already used by {names[r.name]}"))
                continue
            names[r.name] = r.path
            good.append(r)
        else:
            problems.extend(r)
    return good, problems
