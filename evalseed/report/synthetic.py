"""Synthetic runs of the `results` contract shape, for report tests, the report benchmark and demos.

Rows go through `store.insert_run` + `store.ResultWriter`, exactly like a real run, so the report
is exercised against the real schema. The numbers are random but seeded; nothing here is claimed
as a measurement of any model.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Escaping canaries: if any of these ever reached the page as markup, the <html> element would get
# a data-pwned attribute (the browser test looks for it) and the <img> would fail to load "x".
SCRIPT_ANSWER = '<script>document.documentElement.setAttribute("data-pwned","script")</script>neg'
HOSTILE = ('<img src=x onerror="document.documentElement.setAttribute(\'data-pwned\',\'img\')">'
           '</script><script>document.documentElement.setAttribute("data-pwned","tag")</script>')

MODELS = {
    # name: (skill, cost per 1k tokens-ish factor, median latency ms)
    "seed-1-6-250915": (0.86, 1.0, 900.0),
    "seed-1-6-flash-250715": (0.78, 0.15, 350.0),
    "seed-1-8-251228": (0.90, 1.0, 1400.0),
}
IMAGE_MODEL = "seedream-4-5-251128"


@dataclass
class SyntheticRow:
    """One synthetic row while it is made: the shared figures are drawn first, then the kind fills
    its part in place (`Kind.synthetic_row`); `rng` is the run's one seeded generator."""

    rng: random.Random
    run_id: str
    suite: str
    case_id: str
    i: int
    model: str
    repeat: int
    skill: float
    image_dir: str | None
    ok: bool
    score: float | None
    details: dict[str, Any]
    input_text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None
    cost: float | None
    ttft: float | None
    output: str | None = ""
    status: str = "ok"
    error: str | None = None
    images: int | None = None
    cached_tokens: int | None = 0


def _suites(cases_per_suite: int) -> list[tuple[Any, dict]]:
    """(kind, its synthetic suite) for every registered kind that makes one, in registry order."""
    from ..kinds import all_kinds

    out = []
    for kind in all_kinds():
        s = kind.synthetic_suite(cases_per_suite)
        if s is not None:
            out.append((kind, {**s, "kind": kind.name}))
    return out


def build_run(
    con,
    run_id: str = "run-synth-1",
    *,
    cases_per_suite: int = 12,
    models: list[str] | None = None,
    seed: int = 7,
    skill_shift: float = 0.0,
    started_at: datetime | None = None,
    image_dir: str | None = None,
    repeats: int = 1,
) -> dict:
    """Insert one finished run with rows of every kind that makes synthetic rows (`Kind.synthetic_suite`);
    returns {"run_id", "rows"}.

    Row 0 of every suite carries the escaping canaries where its kind shows text (`Kind.synthetic_hostile`).
    `image_dir`, when given, is where the image rows claim their files live (tests write them).
    """
    from .. import store

    rng = random.Random(seed)
    models = list(models or MODELS)
    suites = _suites(cases_per_suite)
    t0 = started_at or datetime(2026, 11, 26, 9, 0, 0)
    config = {
        "models": models + [IMAGE_MODEL],
        "suites": [{"name": s["name"], "kind": s["kind"], "hash": s["hash"], "path": f"suites/{s['name']}.yaml"}
                   for _, s in suites],
        "provider": "stub",
        "params": {},
        "synthetic": True,
    }
    store.insert_run(con, run_id, label="synthetic report data " + HOSTILE, git_sha="deadbeef", version="0.1.0", config=config)
    con.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", [t0, run_id])
    prices: dict[str, Any] = {"as_of": "2026-11-26", "models": {
        "seed-1-6-250915": {"input": 0.25, "cached_input": 0.05, "output": 2.0},
        "seed-1-6-flash-250715": {"input": 0.075, "cached_input": 0.015, "output": 0.30},
        "seed-1-8-251228": {"input": 0.25, "cached_input": 0.05, "output": 2.0},
        IMAGE_MODEL: {"per_image": 0.04},
    }}
    prices["models"] = {m: p for m, p in prices["models"].items() if m in models or m == IMAGE_MODEL}
    store.insert_prices(con, run_id, prices)
    writer = store.ResultWriter(con, run_id, batch_rows=5000)
    n = 0
    for kind, s in suites:
        suite_models = [IMAGE_MODEL] if "image" in kind.model_kinds else models
        for i in range(s["cases"]):
            case_id = f"{s['name'][:4]}-{i:05d}"
            tags = ["short" if i % 3 else "long", "hardware" if i % 2 else "software"]
            for model in suite_models:
                for rep in range(repeats):
                    row = _row(rng, run_id, kind, s, case_id, i, model, rep, tags, t0, skill_shift, image_dir)
                    writer.add(row)
                    n += 1
    writer.flush()
    if image_dir:
        _write_images(con, run_id)
    store.finish_run(con, run_id, "finished")
    con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [t0 + timedelta(seconds=42 + n / 50), run_id])
    return {"run_id": run_id, "rows": n}


def _row(rng: random.Random, run_id: str, kind: Any, s: dict, case_id: str, i: int, model: str, rep: int,
         tags: list[str], t0: datetime, shift: float, image_dir: str | None) -> dict[str, Any]:
    skill, price, lat = MODELS.get(model, (0.8, 0.5, 800.0))
    skill = min(0.99, max(0.01, skill + shift))
    latency: float | None = lat * rng.lognormvariate(0, 0.45)
    ttft = latency * rng.uniform(0.15, 0.4) if latency is not None else None
    prompt_tokens = rng.randint(40, 400)
    completion_tokens = rng.randint(2, 200)
    reasoning_tokens = rng.randint(0, 300) if "flash" not in model else 0
    cost = (prompt_tokens * 0.25 + (completion_tokens + reasoning_tokens) * 2.0) * price / 1e6
    ok = rng.random() < skill
    row = SyntheticRow(rng=rng, run_id=run_id, suite=s["name"], case_id=case_id, i=i, model=model, repeat=rep,
                       skill=skill, image_dir=image_dir, ok=ok, score=1.0 if ok else 0.0, details={"tags": tags},
                       input_text=f"Case {case_id}: input for {s['name']} #{i}", prompt_tokens=prompt_tokens,
                       completion_tokens=completion_tokens, reasoning_tokens=reasoning_tokens, cost=cost, ttft=ttft)
    kind.synthetic_row(row)
    if row.status == "ok" and rng.random() < 0.03:
        row.status, row.error = "error", "APIStatusError: 500 InternalServiceError"
    if i == 0:
        row.input_text += " " + HOSTILE
        row.details["tags"] = tags + [HOSTILE]
        kind.synthetic_hostile(row, HOSTILE)
        if row.status == "error":
            row.error = (row.error or "") + " " + HOSTILE
    if row.status != "ok":
        row.ok, row.score, row.output = False, None, None
        row.cost = None if row.status == "skipped" else row.cost
        if row.status == "skipped":
            latency = row.ttft = None
    response: dict[str, Any] = {"role": "assistant", "content": row.output}
    if row.reasoning_tokens:
        response["reasoning_content"] = f"Let me think about case {i}... <i>maybe</i> it is {row.output!s:.30}" + (
            HOSTILE if i == 0 else "")
    started = t0 + timedelta(milliseconds=i * 10)
    ttft, tokens_out = row.ttft, row.completion_tokens
    return {
        "run_id": run_id, "suite": s["name"], "case_id": case_id, "kind": kind.name, "model": model,
        "provider": "stub", "repeat": rep, "status": row.status, "error": row.error, "input_text": row.input_text,
        "request": {"model": model, "messages": [{"role": "user", "content": row.input_text}]},
        "response": response if row.status == "ok" else None, "output_text": row.output, "score": row.score,
        "passed": bool(row.ok) if row.status == "ok" else False, "details": row.details,
        "latency_ms": latency, "ttft_ms": ttft,
        "output_tps": (tokens_out / max(latency - (ttft or 0.0), 1.0) * 1000) if (latency and tokens_out) else None,
        "prompt_tokens": row.prompt_tokens, "completion_tokens": tokens_out,
        "reasoning_tokens": row.reasoning_tokens, "cached_tokens": row.cached_tokens,
        "images": row.images, "cost_usd": row.cost, "attempts": 1, "replayed": False,
        "started_at": started, "finished_at": started + timedelta(milliseconds=latency or 0),
    }


def _write_images(con, run_id: str) -> None:
    """Small real JPEG files where the image rows say their files are (for gallery tests)."""
    import json
    from pathlib import Path

    from PIL import Image

    for (raw,) in con.execute("SELECT details->'images' FROM results WHERE run_id = ? "
                              "AND json_type(details->'images') = 'ARRAY'", [run_id]).fetchall():
        for i, im in enumerate(json.loads(raw) if raw else []):
            path = Path(im["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            hue = (hash(path.name) % 200) + 30
            Image.new("RGB", (96, 64), (hue, 120, 255 - hue)).save(path, "JPEG")
