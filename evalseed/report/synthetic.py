"""Synthetic runs of the `results` contract shape, for report tests, the report benchmark and demos.

Rows go through `store.insert_run` + `store.ResultWriter`, exactly like a real run, so the report
is exercised against the real schema. The numbers are random but seeded; nothing here is claimed
as a measurement of any model.
"""

from __future__ import annotations

import random
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
LABELS = ["positive", "negative", "neutral"]


def _suites(cases_per_suite: int) -> list[dict]:
    return [
        {"name": "sentiment", "kind": "classification", "hash": "a1b2c3d4e5f6", "cases": cases_per_suite},
        {"name": "invoices", "kind": "json_extraction", "hash": "0f1e2d3c4b5a", "cases": cases_per_suite},
        {"name": "weather-tools", "kind": "tool_calling", "hash": "9988776655aa", "cases": cases_per_suite},
        {"name": "needles", "kind": "long_context", "hash": "1234abcd5678", "cases": cases_per_suite},
        {"name": "posters", "kind": "image", "hash": "feedbeef0042", "cases": max(1, cases_per_suite // 10)},
    ]


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
    """Insert one finished run with rows of all five kinds; returns {"run_id", "rows"}.

    Row 0 of the classification suite carries a `<script>` answer (escaping tests look for it).
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
                   for s in suites],
        "provider": "stub",
        "params": {},
        "synthetic": True,
    }
    store.insert_run(con, run_id, label="synthetic report data " + HOSTILE, git_sha="deadbeef", version="0.1.0", config=config)
    con.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", [t0, run_id])
    prices = {"as_of": "2026-11-26", "models": {
        "seed-1-6-250915": {"input": 0.25, "cached_input": 0.05, "output": 2.0},
        "seed-1-6-flash-250715": {"input": 0.075, "cached_input": 0.015, "output": 0.30},
        "seed-1-8-251228": {"input": 0.25, "cached_input": 0.05, "output": 2.0},
        IMAGE_MODEL: {"per_image": 0.04},
    }}
    prices["models"] = {m: p for m, p in prices["models"].items() if m in models or m == IMAGE_MODEL}
    store.insert_prices(con, run_id, prices)
    writer = store.ResultWriter(con, run_id, batch_rows=5000)
    n = 0
    for s in suites:
        suite_models = [IMAGE_MODEL] if s["kind"] == "image" else models
        for i in range(s["cases"]):
            case_id = f"{s['name'][:4]}-{i:05d}"
            tags = ["short" if i % 3 else "long", "hardware" if i % 2 else "software"]
            for model in suite_models:
                for rep in range(repeats):
                    row = _row(rng, run_id, s, case_id, i, model, rep, tags, t0, skill_shift, image_dir)
                    writer.add(row)
                    n += 1
    writer.flush()
    if image_dir:
        _write_images(con, run_id)
    store.finish_run(con, run_id, "finished")
    con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [t0 + timedelta(seconds=42 + n / 50), run_id])
    return {"run_id": run_id, "rows": n}


def _row(rng: random.Random, run_id: str, s: dict, case_id: str, i: int, model: str, rep: int,
         tags: list[str], t0: datetime, shift: float, image_dir: str | None) -> dict[str, Any]:
    kind = s["kind"]
    skill, price, lat = MODELS.get(model, (0.8, 0.5, 800.0))
    skill = min(0.99, max(0.01, skill + shift))
    latency = lat * rng.lognormvariate(0, 0.45)
    ttft = latency * rng.uniform(0.15, 0.4)
    prompt_tokens = rng.randint(40, 400)
    completion_tokens = rng.randint(2, 200)
    reasoning_tokens = rng.randint(0, 300) if "flash" not in model else 0
    cost = (prompt_tokens * 0.25 + (completion_tokens + reasoning_tokens) * 2.0) * price / 1e6
    status = "ok"
    error = None
    ok = rng.random() < skill
    details: dict[str, Any] = {"tags": tags}
    output = ""
    input_text = f"Case {case_id}: input for {s['name']} #{i}"
    score = 1.0 if ok else 0.0
    images = None
    if kind == "classification":
        expected = LABELS[i % 3]
        if ok:
            predicted = expected
        else:
            predicted = rng.choice([lab for lab in LABELS if lab != expected] + [None])
        output = predicted or "I think it is sort of mixed?"
        details.update(expected=expected, predicted=predicted, unparsed=predicted is None)
        input_text = f"Review #{i}: the battery {'died after two days' if i % 3 == 1 else 'is fine'}. <b>bold?</b>"
        if i == 0:
            # The escaping canary: a hostile answer must show as text in the report.
            output = SCRIPT_ANSWER
            details.update(predicted=None, unparsed=True)
            ok, score = False, 0.0
    elif kind == "json_extraction":
        expected = {"vendor": f"ACME {i}", "total": 10.5 + i, "currency": "EUR",
                    "lines": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}]}
        paths = ["vendor", "total", "currency", "lines[0].sku", "lines[0].qty", "lines[1].sku", "lines[1].qty"]
        parsed = ok or rng.random() < 0.8
        wrong = [] if ok else [p for p in paths if rng.random() < 0.4]
        right = len(paths) - len(wrong) if parsed else 0
        f1 = right / len(paths)
        score = f1
        details.update(expected=expected, parsed=parsed, fenced=rng.random() < 0.1, degraded="flash" in model,
                       schema_valid=parsed and (ok or rng.random() < 0.5), precision=f1, recall=f1, f1=f1,
                       fields_expected=len(paths), fields_correct=right,
                       mismatches=[{"path": p, "expected": "x", "got": "y"} for p in wrong[::2]],
                       missing=wrong[1::2])
        output = '{"vendor": "ACME", "total": 10.5}' if parsed else "Sure! Here is the JSON you asked for"
    elif kind == "tool_calling":
        expected = [{"get_weather": {"city": ["Paris"], "unit": ["", "celsius"]}}]
        failure = None if ok else rng.choice(
            ["no_call", "wrong_function", "wrong_arguments", "extra_call", "invalid_json_arguments"])
        details.update(expected=expected, reason=failure, steps=rng.randint(1, 3), passed=ok,
                       failure={"reason": failure, "message": f"{failure} at call 0"} if failure else None)
        output = "" if failure == "no_call" else '[get_weather(city="Paris")]'
    elif kind == "long_context":
        grid_tokens = [1000, 4000, 16000, 64000]
        depths = [0.0, 0.25, 0.5, 0.75, 1.0]
        target = grid_tokens[i % len(grid_tokens)]
        depth = depths[(i // len(grid_tokens)) % len(depths)]
        p = skill - (0.25 * depth * (target / 64000))
        ok = rng.random() < p
        score = 1.0 if ok else rng.uniform(0, 0.5)
        expected = "the blue key is under the mat"
        details.update(expected=expected, target_tokens=target, depth=depth, contains=ok, token_f1=score)
        output = expected if ok else "I could not find it."
        prompt_tokens = target
        if target > 32000 and "flash" in model and rng.random() < 0.3:
            status, error = "skipped", f"case needs {target} tokens; model window is 32768"
    else:  # image
        expected = {"count": 1, "min_width": 1024, "min_height": 1024}
        w = 2048 if ok else 512
        problems = [] if ok else [f"width {w} < 1024", f"height {w} < 1024"]
        imgs = [{"index": 0, "path": f"{image_dir or 'runs/' + run_id + '/images'}/{case_id}-{rep}-0.jpg",
                 "format": "JPEG", "width": w, "height": w, "bytes": rng.randint(200_000, 900_000),
                 "variance": 1200.5, "ok": ok, "problems": problems}]
        details.update(expected=expected, images=imgs, count=1)
        images = 1
        output = None
        input_text = f"A poster for event {i} with <em>bold</em> type"
        cost = 0.04
        completion_tokens = None
        reasoning_tokens = None
    if status == "ok" and rng.random() < 0.03:
        status, error = "error", "APIStatusError: 500 InternalServiceError"
    if i == 0:
        input_text += " " + HOSTILE
        details["tags"] = tags + [HOSTILE]
        if kind == "tool_calling":
            ok, score = False, 0.0
            details["reason"] = "bad_call " + HOSTILE
        if kind == "json_extraction":
            details["expected"][HOSTILE] = "x"
        if status == "ok" and kind != "classification":
            output = (output or "") + HOSTILE
        if status == "error":
            error += " " + HOSTILE
    if status != "ok":
        ok, score, output, cost = False, None, None, None if status == "skipped" else cost
        if status == "skipped":
            latency = ttft = None
    response = {"role": "assistant", "content": output}
    if reasoning_tokens:
        response["reasoning_content"] = f"Let me think about case {i}... <i>maybe</i> it is {output!s:.30}" + (
            HOSTILE if i == 0 else "")
    started = t0 + timedelta(milliseconds=i * 10)
    return {
        "run_id": run_id, "suite": s["name"], "case_id": case_id, "kind": kind, "model": model,
        "provider": "stub", "repeat": rep, "status": status, "error": error, "input_text": input_text,
        "request": {"model": model, "messages": [{"role": "user", "content": input_text}]},
        "response": response if status == "ok" else None, "output_text": output, "score": score,
        "passed": bool(ok) if status == "ok" else False, "details": details,
        "latency_ms": latency, "ttft_ms": ttft if kind != "image" else None,
        "output_tps": (completion_tokens / max(latency - ttft, 1.0) * 1000) if (latency and completion_tokens) else None,
        "prompt_tokens": prompt_tokens if kind != "image" else None, "completion_tokens": completion_tokens,
        "reasoning_tokens": reasoning_tokens, "cached_tokens": 0 if kind != "image" else None,
        "images": images, "cost_usd": cost, "attempts": 1, "replayed": False,
        "started_at": started, "finished_at": started + timedelta(milliseconds=latency or 0),
    }


def _write_images(con, run_id: str) -> None:
    """Small real JPEG files where the image rows say their files are (for gallery tests)."""
    import json
    from pathlib import Path

    from PIL import Image

    for (raw,) in con.execute("SELECT details->'images' FROM results WHERE run_id = ? AND kind = 'image'",
                              [run_id]).fetchall():
        for i, im in enumerate(json.loads(raw) if raw else []):
            path = Path(im["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            hue = (hash(path.name) % 200) + 30
            Image.new("RGB", (96, 64), (hue, 120, 255 - hue)).save(path, "JPEG")
