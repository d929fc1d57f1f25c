"""How many requests per second the test server itself answers, so a benchmark knows its ceiling.

Starts ``python -m evalseed.testing.stub_server`` as its own process and drives it with a bare
asyncio HTTP/1.1 client over keep-alive connections (no SDK: the point is the server's cost, not
the client's)::

    python -m evalseed.testing.loadgen --requests 8000 --connections 16 [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Optional, Sequence


async def _worker(port: int, n: int, body: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    try:
        for _ in range(n):
            writer.write(head + body)
            await writer.drain()
            headers = (await reader.readuntil(b"\r\n\r\n")).lower()
            if b"transfer-encoding: chunked" in headers:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                length = int(headers.split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
    finally:
        writer.close()


async def _drive(port: int, requests: int, connections: int, stream: bool) -> float:
    body = json.dumps({"model": "seed-1-6-flash-250715", "stream": stream,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": "The battery died after two days."}]}).encode()
    per = requests // connections
    t0 = time.perf_counter()
    await asyncio.gather(*[_worker(port, per, body) for _ in range(connections)])
    return (per * connections) / (time.perf_counter() - t0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evalseed.testing.loadgen", description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=8000)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--stream", action="store_true", help="streamed answers (SSE) instead of JSON bodies")
    args = ap.parse_args(argv)
    proc = subprocess.Popen([sys.executable, "-m", "evalseed.testing.stub_server", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None  # stdout=PIPE
        line = proc.stdout.readline().strip()
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        rate = asyncio.run(_drive(port, args.requests, args.connections, args.stream))
    finally:
        proc.terminate()
        proc.wait(10)
    kind = "streamed" if args.stream else "plain"
    print(f"{rate:,.0f} requests/s ({kind}, {args.requests} requests over {args.connections} keep-alive connections)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
