"""The baseline evalseed is measured against: a plain `openai.AsyncOpenAI` loop with a semaphore,
run as a whole process, doing the work a harness cannot skip and nothing more.

    python benchmarks/raw_loop.py --base-url URL --n 2000 --concurrency 64 --mode stream|plain

`stream` (what evalseed does by default): `stream=True` with `stream_options.include_usage`, the
SDK's own chunk iterator, content assembled, time to first token and latency taken, usage read.
`plain`: one non-streamed request per case, the SDK's parsed ChatCompletion. In both, the answer
is compared with the expected label (normalised: case and trailing punctuation), so the loop
does the scoring a harness does, but stores nothing. Prints one JSON line of counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import suite_prompts  # noqa: E402


async def main(base_url: str, n: int, concurrency: int, mode: str) -> dict:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    sem = asyncio.Semaphore(concurrency)
    cases = suite_prompts(n)

    async def one(system: str, user: str, expected: str) -> tuple[bool, int]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        async with sem:
            t0 = time.perf_counter()
            if mode == "stream":
                stream = await client.chat.completions.create(
                    model="seed-1-6-flash-250715", messages=messages, temperature=0, max_tokens=8,
                    stream=True, stream_options={"include_usage": True},
                )
                parts, ttft, usage = [], None, None
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = chunk.usage
                    if chunk.choices and chunk.choices[0].delta.content:
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                        parts.append(chunk.choices[0].delta.content)
                text = "".join(parts)
            else:
                resp = await client.chat.completions.create(
                    model="seed-1-6-flash-250715", messages=messages, temperature=0, max_tokens=8,
                )
                text, usage = resp.choices[0].message.content or "", resp.usage
            _latency = time.perf_counter() - t0
        tokens = usage.completion_tokens if usage is not None else 0
        return text.strip().strip(".!").lower() == expected, tokens

    results = await asyncio.gather(*(one(*c) for c in cases))
    await client.close()
    return {"n": len(results), "correct": sum(ok for ok, _ in results), "completion_tokens": sum(t for _, t in results)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--mode", choices=("stream", "plain"), default="stream")
    a = ap.parse_args()
    print(json.dumps(asyncio.run(main(a.base_url, a.n, a.concurrency, a.mode))))
