"""How the embedded llama.cpp model copes with each way of asking for JSON: a schema grammar
(`json_object` + `schema`, llama-cpp-python's dialect; it refuses OpenAI's `json_schema`), plain
`json_object`, and no response_format. One contacts-extraction case, 120 output tokens, times as
ratios against the unconstrained request measured in the same run.

    python benchmarks/local_json_modes.py
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from evalseed.config import BUILTIN_MODELS
from evalseed.kinds import get_kind
from evalseed.local_model import local_server
from evalseed.suites.loader import load_suite_file

ROOT = Path(__file__).resolve().parent.parent


def main(timeout: float = 200.0) -> None:
    suite = load_suite_file(ROOT / "suites" / "contacts-extraction.yaml")
    kind = get_kind("json_extraction")
    model = BUILTIN_MODELS["gemma-3-270m"]
    times: dict[str, float | None] = {}
    with local_server(model) as server:
        url = server.base_url
        for variant in ("none", "json_object", "json_object+schema"):
            body = kind.prepare(suite, suite.cases[1], model).request
            body.update(max_tokens=120, temperature=0)
            body.pop("response_format", None)
            if variant == "json_object":
                body["response_format"] = {"type": "json_object"}
            elif variant == "json_object+schema":
                body["response_format"] = {"type": "json_object", "schema": suite.json_schema}
            req = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            t = time.perf_counter()
            try:
                reply = json.loads(urllib.request.urlopen(req, timeout=timeout).read())
                times[variant] = time.perf_counter() - t
                text = reply["choices"][0]["message"]["content"]
            except OSError as e:  # a timeout is the finding, not a crash
                times[variant] = None
                text = f"({type(e).__name__} after {time.perf_counter() - t:.0f} s)"
            base = times.get("none")
            ratio = f"{times[variant] / base:.2f}x" if times[variant] and base else "-"
            shown = f"{times[variant]:.1f} s" if times[variant] else f"> {timeout:.0f} s"
            print(f"{variant:20} {shown:>10}  {ratio:>6}  {text[:80]!r}", flush=True)


if __name__ == "__main__":
    main()
