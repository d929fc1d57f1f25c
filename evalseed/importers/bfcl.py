"""`evalseed import bfcl`: BFCL question files (and their possible-answer files) into
tool-calling suites.

BFCL data files are JSON Lines despite the `.json` name. Each question line holds `id`,
`question` (one turn: a list of messages) and `function` (BFCL function docs, whose parameter
types are BFCL's own: dict, float, tuple, any...). The possible-answer file of the same name in a
sibling `possible_answer/` folder lines up with it line by line. Categories without answers
(irrelevance) expect no call at all.

The function docs become OpenAI tool specs (JSON Schema types); the scorer reads those same specs,
so a float parameter becomes `number` (int accepted, as BFCL does) and `any` loses its type.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from ..errors import UsageError

ATTRIBUTION = (
    "Converted from the Berkeley Function Calling Leaderboard (BFCL, Gorilla project, "
    "https://github.com/ShishirPatil/gorilla, Apache-2.0)."
)

_TYPES = {"dict": "object", "float": "number", "tuple": "array", "integer": "integer", "string": "string",
          "boolean": "boolean", "array": "array", "object": "object", "number": "number", "null": "null"}
# JSON Schema keywords we carry over from BFCL docs; BFCL-only keys (`optional`) are dropped.
_KEEP = ("description", "enum", "default", "format", "maximum", "minimum", "pattern")


def convert_schema(node: Any) -> Any:
    """A BFCL parameter doc as JSON Schema."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    t = node.get("type")
    if isinstance(t, str) and t != "any":
        out["type"] = _TYPES.get(t, t)
    for k in _KEEP:
        if k in node:
            out[k] = node[k]
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: convert_schema(v) for k, v in node["properties"].items()}
        if isinstance(node.get("required"), list):
            out["required"] = list(node["required"])
    if isinstance(node.get("items"), dict):
        out["items"] = convert_schema(node["items"])
    return out


def convert_function(fn: dict) -> dict:
    """A BFCL function doc as an OpenAI tool spec (original name kept: the kind maps names that
    OpenAI would refuse, such as dotted ones, on the wire)."""
    params = convert_schema(fn.get("parameters") or {"type": "dict", "properties": {}})
    params["type"] = "object"
    params.setdefault("properties", {})
    params.setdefault("required", [])
    return {"type": "function",
            "function": {"name": fn["name"], "description": fn.get("description", ""), "parameters": params}}


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise UsageError(f"{path}:{n}: not a JSON line ({getattr(e, 'msg', e)}); BFCL files hold one JSON object per line.") from None
            if not isinstance(obj, dict):
                raise UsageError(f"{path}:{n}: expected a JSON object with id, question and function.")
            yield n, obj


def category_of(path: Path) -> str:
    """`BFCL_v4_live_simple.json` -> `live_simple`."""
    return re.sub(r"^BFCL_v\d+_", "", path.stem)


def answers_path(question_file: Path) -> Path:
    return question_file.parent / "possible_answer" / question_file.name


def convert_file(path: Path, limit: int | None = None) -> dict:
    """One BFCL question file (+ its possible answers, if any) as a tool-calling suite dict."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: file not found.")
    category = category_of(path)
    ans_file = answers_path(path)
    answers: dict[str, Any] = {}
    if ans_file.is_file():
        for n, obj in _jsonl(ans_file):
            if "id" not in obj or not isinstance(obj.get("ground_truth"), list):
                raise UsageError(f"{ans_file}:{n}: expected an object with id and a ground_truth list.")
            answers[obj["id"]] = obj["ground_truth"]
    elif "irrelevance" not in category:
        raise UsageError(f"{path}: no possible-answer file at {ans_file}; only irrelevance categories may lack one.")
    cases = []
    for n, obj in _jsonl(path):
        where = f"{path}:{n}"
        qid, turns, fns = obj.get("id"), obj.get("question"), obj.get("function")
        if not isinstance(qid, str) or not isinstance(turns, list) or not isinstance(fns, list):
            raise UsageError(f"{where}: expected keys id (text), question (list) and function (list).")
        if len(turns) != 1 or not isinstance(turns[0], list):
            raise UsageError(f"{where}: {qid} has {len(turns)} turns; only single-turn BFCL categories can be imported.")
        if answers:
            if qid not in answers:
                raise UsageError(f"{where}: {qid} has no entry in {ans_file}.")
            expected = answers[qid]
        else:
            expected = []
        messages = [{"role": m.get("role"), "content": m.get("content")} for m in turns[0]]
        cases.append({
            "id": qid,
            "tags": ["bfcl", category],
            "messages": messages,
            "tools": [convert_function(f) for f in fns],
            "expected_calls": expected,
        })
        if limit and len(cases) >= limit:
            break
    return {
        "name": "bfcl-" + category.replace("_", "-").lower(),
        "kind": "tool_calling",
        "description": f"BFCL {category} ({len(cases)} entries). {ATTRIBUTION}",
        "params": {"temperature": 0},
        # BFCL scores the first answer; no tool results are fed back.
        "max_steps": 1,
        "order": "any",
        "cases": cases,
    }


def import_bfcl(files: list[str], out_dir: str, limit: int | None = None) -> list[Path]:
    """Write one suite YAML per BFCL question file into `out_dir`; returns the paths written."""
    import yaml

    out = Path(out_dir)
    suites = [convert_file(Path(f), limit) for f in files]  # everything checked before anything is written
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for suite in suites:
            target = out / f"{suite['name']}.yaml"
            tmp = target.with_suffix(".yaml.tmp")
            tmp.write_text(yaml.dump(suite, Dumper=dumper, allow_unicode=True, sort_keys=False, width=120),
                           encoding="utf-8")
            tmp.replace(target)  # never a half-written suite
            written.append(target)
    except OSError as e:
        raise UsageError(f"{out}: cannot write the suites there ({e.strerror}); choose another --out folder.") from None
    return written


def import_bfcl_command(files: list[str], out_dir: str, limit: int | None = None) -> int:
    """`evalseed import bfcl`: convert, write, and say what was written."""
    import typer

    for path in import_bfcl(files, out_dir, limit):
        typer.echo(f"wrote {path}")
    return 0
