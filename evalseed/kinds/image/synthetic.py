"""Synthetic image rows for the report's tests and benchmark (seeded, not measurements). Each row
claims one image file under `row.image_dir` (the report's gallery tests write them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...report.synthetic import SyntheticRow


def suite(cases_per_suite: int) -> dict:
    return {"name": "posters", "hash": "feedbeef0042", "cases": max(1, cases_per_suite // 10)}


def fill(row: SyntheticRow) -> None:
    rng, ok = row.rng, row.ok
    expected = {"count": 1, "min_width": 1024, "min_height": 1024}
    w = 2048 if ok else 512
    problems = [] if ok else [f"width {w} < 1024", f"height {w} < 1024"]
    folder = row.image_dir or "runs/" + row.run_id + "/images"
    imgs = [{"index": 0, "path": f"{folder}/{row.case_id}-{row.repeat}-0.jpg",
             "format": "JPEG", "width": w, "height": w, "bytes": rng.randint(200_000, 900_000),
             "variance": 1200.5, "ok": ok, "problems": problems}]
    row.details.update(expected=expected, images=imgs, count=1)
    row.images = 1
    row.output = None
    row.input_text = f"A poster for event {row.i} with <em>bold</em> type"
    row.cost = 0.04
    # An image call has no chat timings or prompt tokens.
    row.completion_tokens = row.reasoning_tokens = row.prompt_tokens = row.cached_tokens = None
    row.ttft = None
