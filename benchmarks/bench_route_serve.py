"""The latency `evalseed route serve` adds to a request (issue 21, item 8; goal: p99 under 2 ms
beyond the pick itself).

The stub server and the proxy run as separate processes (as in production, neither shares this
client's GIL); the client sends N sequential non-streamed chat requests over one kept-alive
connection: first straight to the stub, then through the proxy with a fixed model (the proxy's
own cost), then with model `router` (proxy + pick). Prints p50/p99 of each and the differences.

    python benchmarks/bench_route_serve.py [--n 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _spawn(args: list[str]) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    line = p.stdout.readline() if p.stdout else ""
    for word in line.split():
        if word.startswith("http://"):
            return p, word
    p.kill()
    raise SystemExit(f"could not start {args}: {line}")


def _router_file(folder: str) -> str:
    from evalseed.files import json_safe
    from evalseed.router.data import Outcomes
    from evalseed.router.fit import train_router

    n = 300
    rng = np.random.default_rng(0)
    words = ["refund", "order", "kettle", "broken", "parcel", "where", "cancel", "plan", "works", "great"]
    texts = [" ".join(rng.choice(words, 12)) + f" #{i}" for i in range(n)]
    suites = ["a" if i % 2 else "b" for i in range(n)]
    Q = rng.integers(0, 2, (n, 2)).astype(float)
    C = np.tile([0.0001, 0.001], (n, 1))
    spec = train_router(Outcomes(["seed-1-6-flash-250715", "seed-1-8-251228"], suites, [str(i) for i in range(n)],
                                 suites, texts, [[] for _ in range(n)], Q, C, np.zeros_like(Q), ["r"]),
                        policy="logistic", test_fraction=0.0)
    path = os.path.join(folder, "router.json")
    Path(path).write_text(json.dumps(json_safe(spec)))
    return path


def _timed(base: str, model: str, n: int) -> np.ndarray:
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "where is my parcel, it was an order"}],
                       "max_tokens": 4}).encode()
    out = []
    for i in range(n + 50):
        t0 = time.perf_counter()
        conn.request("POST", u.path + "/chat/completions", body=body, headers={"content-type": "application/json"})
        r = conn.getresponse()
        r.read()
        if i >= 50:  # warm-up
            out.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, r.status
    conn.close()
    return np.array(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        stub, stub_url = _spawn(["-m", "evalseed.testing.stub_server", "--port", "0"])
        proxy = None
        try:
            proxy, proxy_url = _spawn(["-m", "evalseed", "route", "serve", "--router", _router_file(d), "--upstream",
                                       stub_url, "--port", "0"])
            direct = _timed(stub_url, "seed-1-8-251228", a.n)
            fixed = _timed(proxy_url, "seed-1-8-251228", a.n)
            routed = _timed(proxy_url, "router", a.n)
        finally:
            for p in (proxy, stub):
                if p is not None:
                    p.terminate()
                    p.wait(10)
    pc = lambda x, q: float(np.percentile(x, q))  # noqa: E731
    print(f"{a.n} sequential requests each, ms: p50 / p99")
    for name, x in (("direct to the stub", direct), ("proxy, fixed model", fixed), ("proxy, model router", routed)):
        print(f"  {name:<22} {pc(x, 50):7.3f} / {pc(x, 99):7.3f}")
    print(f"added by the proxy (fixed model): p50 {pc(fixed, 50) - pc(direct, 50):+.3f} ms, "
          f"p99 {pc(fixed, 99) - pc(direct, 99):+.3f} ms")
    print(f"added by proxy + pick (router):   p50 {pc(routed, 50) - pc(direct, 50):+.3f} ms, "
          f"p99 {pc(routed, 99) - pc(direct, 99):+.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
