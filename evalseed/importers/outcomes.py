"""`evalseed import outcomes FILE.csv`: a wide outcome table from elsewhere, stored as a run.

The common wide format: one row per prompt, a prompt column, one correctness column per model
(True/False, 1/0, or a score in 0..1), optionally a cost column per model (`<model>_cost` or
`cost_<model>`), a response column per model (`<model>_response`), and a task or domain column.
Each (prompt, model) becomes one `results` row of a new run with provider `imported`.

Identity: a case is (suite, case_id) with case_id the file's id column when it has one
(`--id-col`, or a column named id, prompt_id, question_id, case_id, uid), else `p` + the first 16
hex digits of the SHA-256 of the prompt text. So the same prompt imported from two files is one
case (its rows are pooled, and the import says how many), and two different prompts are never
one case: an id that names different prompt texts (in the file, or against the database) is
refused before anything is written.

Costs, when the file has none: token counts are estimated from the text (`costs.rough_tokens`:
about four characters a token) and priced with `--price MODEL=IN,OUT` (USD per million tokens)
or the list prices below for the models of RouteLLM's public files. The output side uses the
model's response text when the file has it, else `--completion-tokens` (default 1: a
multiple-choice letter).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..errors import UsageError

# List prices (USD per million input / output tokens) at the time RouteLLM's data was made:
# gpt-4-1106-preview from OpenAI's price page; Mixtral-8x7B at common hosts (one price both ways).
KNOWN_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4-1106-preview": (10.0, 30.0),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.6, 0.6),
}
PROMPT_COLUMNS = ("prompt", "question", "input", "text", "query")
TASK_COLUMNS = ("task", "kind")
ID_COLUMNS = ("id", "prompt_id", "question_id", "case_id", "uid")
DOMAIN_COLUMNS = ("domain", "category", "subject", "dataset")
_TRUE = {"true", "1", "1.0", "yes", "t", "y"}
_FALSE = {"false", "0", "0.0", "no", "f", "n"}


def _quality(v: str) -> float | None:
    s = v.strip().lower()
    if s in _TRUE:
        return 1.0
    if s in _FALSE:
        return 0.0
    if s == "":
        return None
    try:
        x = float(s)
    except ValueError:
        raise ValueError(s) from None
    if not 0.0 <= x <= 1.0:
        raise ValueError(s)
    return x


def _is_outcome_column(values: list[str]) -> bool:
    seen = False
    for v in values:
        try:
            q = _quality(v)
        except ValueError:
            return False
        seen = seen or q is not None
    return seen


def parse_prices(items: list[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for it in items or []:
        model, sep, rest = it.rpartition("=")
        parts = rest.split(",")
        try:
            if not sep or not model or len(parts) not in (1, 2):
                raise ValueError
            vals = [float(p) for p in parts]
        except ValueError:
            raise UsageError(f"--price {it!r}: expected MODEL=IN,OUT in USD per million tokens, e.g. gpt-4=10,30.") from None
        out[model] = (vals[0], vals[-1])
    return out


def _exclusions(path: str | None) -> set[str]:
    """Prompts to leave out: a JSONL file of objects with `eval_prompt` or `prompt` (RouteLLM's
    contaminated-prompt files), or plain text lines."""
    if not path:
        return set()
    p = Path(path)
    if not p.exists():
        raise UsageError(f"--exclude {path}: no such file.")
    out = set()
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                raise UsageError(f"{path}:{n}: not valid JSON; give one JSON object (or one prompt) per line.") from None
            v = d.get("eval_prompt", d.get("prompt"))
            if not isinstance(v, str):
                raise UsageError(f"{path}:{n}: the object has no 'eval_prompt' or 'prompt' string.")
            out.add(v)
        else:
            out.add(line)
    return out


def prompt_id(text: str) -> str:
    """The stable case id of a prompt without an id column: a hash of its text."""
    return "p" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_table(path: str, *, prompt_col: str | None = None, task_col: str | None = None,
               domain_col: str | None = None, models: list[str] | None = None, id_col: str | None = None) -> dict:
    """Parse and check the whole file before anything is written. Returns the layout and rows."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file.")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = list(reader)
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; save the table as UTF-8 CSV.") from None
    except csv.Error as e:
        raise UsageError(f"{path}: not a readable CSV file ({e}).") from None
    if not header:
        raise UsageError(f"{path}: the file is empty; expected a header row and one row per prompt.")
    header = [h.strip() for h in header]
    col = {h: i for i, h in enumerate(header)}
    for n, r in enumerate(rows, 2):
        if len(r) != len(header):
            raise UsageError(f"{path}:{n}: {len(r)} fields where the header has {len(header)}; check the quoting.")

    def find(given, names, what):
        if given:
            if given not in col:
                raise UsageError(f"{path}: no column {given!r} for the {what}; the columns are {', '.join(header)}.")
            return given
        low = {h.lower(): h for h in header}
        return next((low[n] for n in names if n in low), None)

    pcol = find(prompt_col, PROMPT_COLUMNS, "prompt")
    if pcol is None:
        raise UsageError(f"{path}: no prompt column (looked for {', '.join(PROMPT_COLUMNS)}); name it with --prompt-col.")
    tcol = find(task_col, TASK_COLUMNS, "task")
    dcol = find(domain_col, DOMAIN_COLUMNS, "domain")
    icol = find(id_col, ID_COLUMNS, "id")
    special = {pcol, tcol, dcol, icol}
    if models:
        for m in models:
            if m not in col:
                raise UsageError(f"{path}: no column {m!r} for --model; the columns are {', '.join(header)}.")
        mcols = list(models)
    else:
        mcols = [h for h in header if h not in special and not _aux(h, header)
                 and _is_outcome_column([r[col[h]] for r in rows])]
    if len(mcols) < 1:
        raise UsageError(
            f"{path}: no model correctness column (True/False, 1/0 or 0..1 values) besides {pcol}; name them with --model."
        )
    for m in mcols:
        for n, r in enumerate(rows, 2):
            try:
                _quality(r[col[m]])
            except ValueError:
                raise UsageError(
                    f"{path}:{n}: column {m!r} holds {r[col[m]][:40]!r}, not True/False, 1/0 or a score in 0..1."
                ) from None
    costs = {m: _first(col, [f"{m}_cost", f"cost_{m}", f"{m}|cost"]) for m in mcols}
    responses = {m: _first(col, [f"{m}_response", f"response_{m}"]) for m in mcols}
    for m, c in costs.items():
        if c is None:
            continue
        for n, r in enumerate(rows, 2):
            v = r[col[c]].strip()
            if v:
                try:
                    if float(v) < 0:
                        raise ValueError
                except ValueError:
                    raise UsageError(f"{path}:{n}: cost column {c!r} holds {v[:40]!r}, not a non-negative number.") from None
    return {"path": str(p), "header": header, "col": col, "rows": rows, "prompt": pcol, "task": tcol,
            "domain": dcol, "id": icol, "models": mcols, "costs": costs, "responses": responses}


def _aux(h: str, header: list[str]) -> bool:
    hl = h.lower()
    return hl.endswith(("_response", "_cost")) or hl.startswith(("response_", "cost_")) or hl.endswith("|cost")


def _first(col: dict, names: list[str]) -> str | None:
    return next((n for n in names if n in col), None)


def import_outcomes(db: str, path: str, *, prompt_col: str | None = None, task_col: str | None = None,
                    domain_col: str | None = None, models: list[str] | None = None, prices: list[str] | None = None,
                    completion_tokens: int = 1, exclude: str | None = None, label: str | None = None,
                    force: bool = False, id_col: str | None = None, out=print) -> str:
    """Store the table as one run; returns its run id. Nothing is written unless the whole file
    parses; a failure while writing removes the partial run."""
    from .. import __version__, store
    from ..costs import rough_tokens

    t = read_table(path, prompt_col=prompt_col, task_col=task_col, domain_col=domain_col, models=models,
                   id_col=id_col)
    price = {**KNOWN_PRICES, **parse_prices(prices or [])}
    skip = _exclusions(exclude)
    data = Path(path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    stem = Path(path).stem
    col, rows = t["col"], t["rows"]
    keyed, in_file = _case_keys(t, skip, stem)
    con = store.open_db(db)
    try:
        in_db = _check_against_db(con, keyed, path, db)
        if not force:
            for run_id, c in store.run_configs(con):
                if c.get("source_sha256") == sha and c.get("excluded") == sorted(skip):
                    raise UsageError(f"{path} is already imported as run {run_id}; pass --force to import it again.")
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        run_id = store.new_run_id()
        config = {
            "provider": "imported", "source": str(Path(path).resolve()), "source_sha256": sha,
            "models": t["models"], "excluded": sorted(skip),
            "columns": {"prompt": t["prompt"], "task": t["task"], "domain": t["domain"],
                        "costs": t["costs"], "responses": t["responses"]},
            "cost_assumption": {
                "tokens": "estimated from text: about 4 characters a token (evalseed.costs.rough_tokens)",
                "completion_tokens_without_response": completion_tokens,
                "prices_usd_per_million": {m: price.get(m) for m in t["models"]},
            },
        }
        store.insert_run(con, run_id, label=label or f"import {Path(path).name}", git_sha=None,
                         version=__version__, config=config)
        writer = store.ResultWriter(con, run_id, batch_rows=20000)
        kept = 0
        try:
            for i, r in enumerate(rows):
                if keyed[i] is None:
                    continue
                kept += 1
                suite, case_id, kind, prompt, repeat = keyed[i]
                ptok = rough_tokens(prompt)
                for m in t["models"]:
                    q = _quality(r[col[m]])
                    if q is None:
                        continue
                    resp = r[col[t["responses"][m]]] if t["responses"][m] else None
                    ctok = rough_tokens(resp) if resp is not None else completion_tokens
                    cost = None
                    if t["costs"][m] and r[col[t["costs"][m]]].strip():
                        cost = float(r[col[t["costs"][m]]])
                    elif m in price:
                        cost = (ptok * price[m][0] + ctok * price[m][1]) / 1e6
                    writer.add({
                        "run_id": run_id, "suite": suite, "case_id": case_id, "kind": kind, "model": m,
                        "provider": "imported", "repeat": repeat, "status": "ok", "error": None,
                        "input_text": prompt, "request": None,
                        "response": {"text": resp} if resp is not None else None,
                        "output_text": resp, "score": q, "passed": q >= 0.5,
                        "details": {"expected": None, "source_row": i + 2, "source": Path(path).name},
                        "latency_ms": None, "ttft_ms": None, "output_tps": None,
                        "prompt_tokens": ptok, "completion_tokens": ctok, "reasoning_tokens": None,
                        "cached_tokens": None, "images": None, "cost_usd": cost, "attempts": 0,
                        "replayed": False, "started_at": now, "finished_at": now,
                    })
            writer.flush()
        except BaseException:
            store.delete_run(con, run_id)
            raise
        store.finish_run(con, run_id, "finished")
    finally:
        con.close()
    out(f"imported {kept} prompts x {len(t['models'])} models ({writer.written} results) from {path} "
        f"as run {run_id} in {db}" + (f"; left out {len(rows) - kept} excluded prompts" if len(rows) - kept else ""))
    if in_file or in_db:
        out(f"merged {in_file + in_db} rows into existing cases: {in_file} repeat a prompt earlier in the file, "
            f"{in_db} match cases already in {db} (same id and prompt); `route` pools their outcomes.")
    missing = [m for m in t["models"] if not t["costs"][m] and m not in price]
    if missing:
        out(f"note: no cost for {', '.join(missing)} (no cost column, no --price); the router will treat it as free.")
    return run_id


def _case_keys(t: dict, skip: set[str], stem: str) -> tuple[list, int]:
    """Per file row: (suite, case_id, kind, prompt, repeat), or None for an excluded prompt; and
    how many rows repeat a case earlier in the file (stored as further repeats of it). An id that
    names two different prompts is refused."""
    col, rows = t["col"], t["rows"]
    seen: dict[tuple[str, str], tuple[int, str, int]] = {}  # key -> (first line, prompt, count)
    out: list = []
    merged = 0
    for i, r in enumerate(rows):
        prompt = r[col[t["prompt"]]]
        if prompt in skip:
            out.append(None)
            continue
        task = r[col[t["task"]]].strip() if t["task"] else ""
        domain = r[col[t["domain"]]].strip() if t["domain"] else ""
        suite = domain or task or stem
        case_id = r[col[t["id"]]].strip() if t["id"] else prompt_id(prompt)
        if t["id"] and not case_id:
            raise UsageError(f"{t['path']}:{i + 2}: the id column {t['id']!r} is empty; give every row an id.")
        key = (suite, case_id)
        first = seen.get(key)
        if first is not None and first[1] != prompt:
            raise UsageError(f"{t['path']}: lines {first[0]} and {i + 2} share the id {case_id!r} in {suite!r} but hold "
                             "different prompts, so their outcomes would be averaged; give each prompt its own id.")
        repeat = first[2] if first else 0
        merged += repeat > 0
        seen[key] = (first[0] if first else i + 2, prompt, repeat + 1)
        out.append((suite, case_id, task or "imported", prompt, repeat))
    return out, merged


def _check_against_db(con, keyed: list, path: str, db: str) -> int:
    """How many of the file's cases are already in the database with the same prompt; refuses a
    case id the database holds with a different prompt text."""
    from .. import store

    mine: dict[tuple[str, str], str] = {}
    for k in keyed:
        if k is not None:
            mine.setdefault((k[0], k[1]), k[3])
    suites = sorted({s for s, _ in mine})
    if not suites:
        return 0
    merged = 0
    for suite, case_id, text, run_id in store.case_prompts(con, suites):
        p = mine.get((suite, case_id))
        if p is None:
            continue
        if p != (text or ""):
            raise UsageError(f"{path}: case {case_id!r} of suite {suite!r} is already in {db} (run {run_id}) with a "
                             "different prompt, so their outcomes would be averaged; give the file an id column with "
                             "ids of its own, or import it into another database.")
        merged += 1
    return merged


def import_outcomes_command(db: str, path: str, **kw) -> int:
    """The CLI body: import, print, exit code 0."""
    import_outcomes(db, path, **kw)
    return 0
