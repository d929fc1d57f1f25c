"""`cases_from:`: a suite's cases read from a data file beside it (JSON lines, CSV or Parquet),
through DuckDB's own readers, and mapped to case objects (`id`, `vars`, `expected`, `tags` and
the kind's other case keys) before the kind's own models validate them, so a suite of 10,000
cases is one YAML file plus one data file and every kind's checks apply to each row.

```yaml
cases_from: tickets.jsonl              # shorthand: columns named like case keys go there, the rest are vars
cases_from:
  path: tickets.csv
  id: ticket_id                        # a column; default `id` when the file has one, else row-N
  vars: {message: body, channel: src}  # var -> column; a list of columns keeps their names; default: the rest
  expected: label                      # a column; default `expected` when the file has one
  tags: tags                           # a column (a list, or text split at commas); default `tags`
  fields: {question: q}                # other case keys of the kind -> column
```

Rows are numbered from 1 in file order (for CSV the header is not a row); a problem in one is
reported as `tickets.csv row 17 expected: ...`.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .paths import check_relative_path

#: The readers, by file suffix. `.json` is a JSON array or JSON lines (DuckDB tells which).
SUFFIXES = {".jsonl": "json", ".ndjson": "json", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
#: More rows than any suite should hold in one file; past it the file is refused, not truncated.
MAX_ROWS = 1_000_000
#: A key a JSON record lacks (unlike null, which it holds).
_MISSING: Any = object()
#: Case keys every kind has; `fields` maps the others.
_COMMON = ("id", "vars", "expected", "tags")


class CasesFrom(BaseModel):
    """The `cases_from:` mapping as written. A plain string is `{path: ...}`."""

    model_config = ConfigDict(extra="forbid")
    path: str
    id: str | None = None
    vars: dict[str, str] | list[str] | None = None
    expected: str | None = None
    tags: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"path": v} if isinstance(v, str) else v

    @field_validator("path")
    @classmethod
    def _suffix(cls, v: str) -> str:
        if Path(v).suffix.lower() not in SUFFIXES:
            raise ValueError(f"{v!r}: give a .jsonl, .json, .csv, .tsv or .parquet file")
        return v

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if key in _COMMON:
                raise ValueError(f"{key}: map {key} with cases_from.{key}, not under fields")
        return v


@dataclass
class DataFile:
    """What a data file gave: the case dicts (before validation), where it is, and its digest."""

    display: str  # the path as problems show it (the suite's folder joined with the file's path)
    cases: list[dict[str, Any]] = field(default_factory=list)
    digest: str = ""


class DataFileError(ValueError):
    """A problem with the data file or the mapping: `key` is where in `cases_from` (or ""), `row`
    the 1-based row when one row is at fault."""

    def __init__(self, message: str, key: str = "", row: int | None = None):
        super().__init__(message)
        self.key = key
        self.row = row
        self.display = ""  # the data file, as problems name it


def load_cases(raw: Any, suite_dir: str, case_keys: set[str]) -> DataFile:
    """Read and map the file `raw` (`cases_from:`'s value) names. `case_keys` are the keys the
    kind's case model takes. Raises pydantic's ValidationError for a bad mapping, DataFileError
    for a file that cannot be read or does not fit the mapping."""
    spec = CasesFrom.model_validate(raw)
    try:
        check_relative_path(spec.path, suite_dir)
    except ValueError as e:
        raise DataFileError(str(e), "path") from None
    path = (Path(suite_dir) / spec.path)
    display = str(path)
    try:
        columns, rows = _read(path, display)
        out = DataFile(display=display, digest=_digest(path))
        out.cases = map_rows(spec, columns, rows, display, case_keys,
                             empty_text=path.suffix.lower() in (".csv", ".tsv"))
    except DataFileError as e:
        e.display = display
        raise
    return out


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read(path: Path, display: str) -> tuple[list[str], list[tuple]]:
    """The file's column names and rows, in file order, through DuckDB's reader for its suffix.
    CSV cells stay text exactly as written (no type guessing: an id `007` stays `007`); JSON is
    parsed by Python from each record's text, so objects keep exactly their own keys (DuckDB's
    typed reader would give every object the union of all rows' keys)."""
    import duckdb

    reader = SUFFIXES[path.suffix.lower()]
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET preserve_insertion_order = true")
        if reader == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            rel = con.execute(
                "SELECT * FROM read_csv(?, header = true, all_varchar = true, delim = ?, quote = '\"', "
                "escape = '\"', strict_mode = true)", [str(path), sep])
        elif reader == "parquet":
            rel = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        else:
            rel = con.execute("SELECT json FROM read_json_objects(?, format = 'auto')", [str(path)])
        columns = [d[0] for d in rel.description or []]
        rows = rel.fetchmany(MAX_ROWS + 1)
    except duckdb.Error as e:
        what = {"csv": "CSV with a header line", "parquet": "Parquet", "json": "JSON lines (one object a line)"}[reader]
        message = " ".join(str(e).split())
        raise DataFileError(f"{display}: cannot be read as {what}: {message[:300]}", "path") from None
    finally:
        con.close()
    if len(rows) > MAX_ROWS:
        raise DataFileError(f"{display} has more than {MAX_ROWS:,} rows; split it into several suites", "path")
    if reader == "json":
        return _json_rows(rows)
    return columns, rows


def _json_rows(rows: list[tuple]) -> tuple[list[str], list[tuple]]:
    records = []
    for i, (text,) in enumerate(rows, 1):
        try:
            value = json.loads(text)
        except ValueError as e:
            raise DataFileError(f"not valid JSON ({e})", row=i) from None
        if not isinstance(value, dict):
            raise DataFileError(f"a record must be an object with column names as keys, not {type(value).__name__}",
                                row=i)
        records.append(value)
    columns: dict[str, None] = {}
    for r in records:
        columns.update(dict.fromkeys(r))
    names = list(columns)
    return names, [tuple(r.get(c, _MISSING) for c in names) for r in records]


def plain(v: Any) -> Any:
    """A value as JSON holds it: what DuckDB gives for dates, decimals, UUIDs and blobs made
    JSON-ready (results store `expected` and the request as JSON)."""
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (_dt.date, _dt.datetime, _dt.time)):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        raise ValueError("holds binary data; give text")
    return str(v)


def map_rows(spec: CasesFrom, columns: list[str], rows: list[tuple], display: str,
             case_keys: set[str], empty_text: bool = False) -> list[dict[str, Any]]:
    """Rows to case dicts, by the mapping (`CasesFrom`): pure, so it is tested on its own.
    `empty_text`: a null var is the empty text (a CSV's empty cell), not null."""
    index = {c: i for i, c in enumerate(columns)}

    def need(column: str, key: str) -> int:
        if column not in index:
            shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
            raise DataFileError(f"no column {column!r} in {display} (its columns: {shown})", key)
        return index[column]

    def default(name: str, given: str | None, key: str) -> int | None:
        if given is not None:
            return need(given, key)
        return index.get(name)

    id_col = default("id", spec.id, "id")
    expected_col = default("expected", spec.expected, "expected")
    tags_col = default("tags", spec.tags, "tags")
    fields: dict[str, int] = {}
    for key, column in spec.fields.items():
        if key not in case_keys:
            raise DataFileError(f"{key!r} is not a case key of this kind (it takes {', '.join(sorted(case_keys))})",
                                f"fields.{key}")
        fields[key] = need(column, f"fields.{key}")
    if spec.fields == {} and spec.vars is None:
        # The shorthand: a column named like one of the kind's case keys is that key.
        for c in columns:
            if c in case_keys and c not in _COMMON:
                fields[c] = index[c]
    used = {i for i in (id_col, expected_col, tags_col, *fields.values()) if i is not None}
    whole_vars = index.get("vars") if spec.vars is None else None
    if whole_vars is not None:
        used.add(whole_vars)
    var_cols: list[tuple[str, int]]
    if isinstance(spec.vars, dict):
        var_cols = [(name, need(column, f"vars.{name}")) for name, column in spec.vars.items()]
    elif isinstance(spec.vars, list):
        var_cols = [(column, need(column, "vars")) for column in spec.vars]
    else:
        var_cols = [(c, i) for i, c in enumerate(columns) if i not in used]

    cases: list[dict[str, Any]] = []
    for n, row in enumerate(rows, 1):
        try:
            case = _case(row, n, id_col, expected_col, tags_col, fields, whole_vars, var_cols, empty_text)
        except ValueError as e:
            raise DataFileError(str(e), row=n) from None
        cases.append(case)
    return cases


def _present(v: Any) -> bool:
    return v is not None and v is not _MISSING


def _case(row: tuple, n: int, id_col: int | None, expected_col: int | None, tags_col: int | None,
          fields: dict[str, int], whole_vars: int | None, var_cols: list[tuple[str, int]],
          empty_text: bool) -> dict[str, Any]:
    case: dict[str, Any] = {}
    if id_col is None:
        case["id"] = f"row-{n}"
    elif _present(row[id_col]):
        case["id"] = plain(row[id_col])
    if expected_col is not None and _present(row[expected_col]):
        case["expected"] = _value(row[expected_col], "expected")
    if tags_col is not None and _present(row[tags_col]):
        tags = row[tags_col]
        case["tags"] = [t.strip() for t in tags.split(",") if t.strip()] if isinstance(tags, str) else plain(tags)
    for key, i in fields.items():
        if _present(row[i]):
            case[key] = _value(row[i], key)
    variables: dict[str, Any] = {}
    if whole_vars is not None and _present(row[whole_vars]):
        given = plain(row[whole_vars])
        if not isinstance(given, dict):
            raise ValueError("vars: the vars column must hold an object")
        variables.update(given)
    for name, i in var_cols:
        v = row[i]
        if not _present(v):
            # An empty CSV cell is the empty text; a JSON null stays null; a key a JSON record
            # lacks is left out (the template then says which variable is undefined).
            if v is None:
                variables[name] = "" if empty_text else None
            continue
        variables[name] = _value(v, f"vars.{name}")
    case["vars"] = variables
    return case


def _value(v: Any, key: str) -> Any:
    try:
        return plain(v)
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None
