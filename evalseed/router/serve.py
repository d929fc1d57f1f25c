"""`evalseed route serve`: the trained router in front of an OpenAI-compatible provider.

A client (the openai SDK, or anything speaking the chat-completions wire format) sends its request
here with model `router` (the router's trained objective), `router:quality` (the best predicted
quality, lambda 0), `router:cheapest` (the cheapest predicted model) or `router:near-best`; the
router picks the model from the last user message (and the `x-evalseed-suite` / `x-evalseed-kind`
headers when the client sends them), the request goes to the provider with that model, and the
answer comes back unchanged, streamed chunk by chunk when the client asked for a stream. The pick
is in the response headers `x-evalseed-route` (the model) and `x-evalseed-route-ms` (the time the
pick took). Any other model name is forwarded as it is.

Shadow mode (`--shadow MODEL`): the router still picks and logs, but every request goes to MODEL
(the pick is then in `x-evalseed-route-shadow`), so a router can be watched on live traffic before
it decides anything.

With `--log-db F` every request is a row of `route_requests` in that DuckDB file (its own file, not
the results database): the pick, the model served, the predictions, the token usage the provider
reported, latencies, and later the outcome a client reports with `POST /v1/route/outcome`
(`{"request_id": ..., "score": 0..1}`). The proxy holds no state a second copy would need: run as
many as the load asks for behind any load balancer, each with its own log file.

Built on the standard library (ThreadingHTTPServer, http.client): one thread per client
connection, one kept-alive upstream connection per thread.
"""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ..errors import UsageError
from .router import Router

OBJECTIVES: dict[str, dict[str, Any] | None] = {"router": None, "router:near-best": {"kind": "near-best"},
              "router:quality": {"lam": 0.0}, "router:cheapest": {"lam": float("inf")}}
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection",
               "te", "trailer", "upgrade"}

LOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS route_requests (
    request_id VARCHAR PRIMARY KEY, received_at TIMESTAMP, asked VARCHAR, picked VARCHAR, served VARCHAR,
    shadow BOOLEAN, stream BOOLEAN, suite VARCHAR, kind VARCHAR, prompt_chars INTEGER,
    predicted_quality DOUBLE, predicted_cost_usd DOUBLE, pick_ms DOUBLE, upstream_ms DOUBLE,
    status INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, outcome DOUBLE
)"""


def prompt_text(body: dict) -> str:
    """What the router reads: the last user message's text (text parts joined)."""
    for m in reversed(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return "\n".join(str(p.get("text", "")) for p in c if isinstance(p, dict) and p.get("type") == "text")
    return ""


class _Log:
    """Rows to DuckDB from one writer thread, so a request never waits for the database."""

    def __init__(self, path: str | None):
        self.path = path
        self.q: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        if path:
            import duckdb

            self.con = duckdb.connect(path)
            self.con.execute(LOG_SCHEMA)
            self.thread = threading.Thread(target=self._run, name="route-log", daemon=True)
            self.thread.start()

    def put(self, kind: str, row: dict) -> None:
        if self.path:
            self.q.put((kind, row))

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                break
            kind, row = item
            try:
                if kind == "request":
                    cols = ", ".join(row)
                    self.con.execute(f"INSERT INTO route_requests ({cols}) VALUES ({', '.join('?' for _ in row)})",
                                     list(row.values()))
                else:
                    self.con.execute("UPDATE route_requests SET outcome = ? WHERE request_id = ?",
                                     [row["score"], row["request_id"]])
            except Exception:  # a log row must never take the proxy down
                pass
            self.q.task_done()

    def flush(self) -> None:
        if self.path:
            self.q.join()

    def close(self) -> None:
        if self.thread is not None:
            self.flush()
            self.q.put(None)
            self.thread.join(5)
            self.con.close()
            self.thread = None


class RouteProxy:
    """The proxy server. `with RouteProxy(router, upstream) as p: p.base_url` in tests."""

    def __init__(self, router: Router, upstream: str, *, api_key: str | None = None, shadow: str | None = None,
                 log_db: str | None = None, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 600.0):
        u = urlsplit(upstream)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise UsageError(f"--upstream {upstream!r}: expected an http(s) base URL such as https://host/api/v3.")
        self.router = router
        self.scheme, self.up_host = u.scheme, u.hostname
        self.up_port = u.port or (443 if u.scheme == "https" else 80)
        self.up_path = u.path.rstrip("/")
        self.api_key = api_key
        self.shadow = shadow
        self.timeout_s = timeout_s
        self.log = _Log(log_db)
        self.local = threading.local()
        proxy = self

        class Handler(_Handler):
            server_proxy = proxy

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1" if isinstance(host, str) else f"http://{host.decode()}:{port}/v1"

    def start(self) -> "RouteProxy":
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="route-serve", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.log.close()

    def __enter__(self) -> "RouteProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def upstream(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = cls(self.up_host, self.up_port, timeout=self.timeout_s)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.local.conn = conn
        return conn


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_proxy: RouteProxy

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm holds the
        # body until the client's delayed ACK (~40 ms a request)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the log DB is the record
        return

    def _json(self, status: int, payload: Any, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": None}})

    def do_GET(self) -> None:
        p = self.server_proxy
        if self.path.rstrip("/").endswith("/models"):
            names = list(OBJECTIVES) + p.router.models
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "evalseed"}
                                                         for m in names]})
            return
        self._error(404, f"no route for GET {self.path}")

    def do_POST(self) -> None:
        p = self.server_proxy
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            self._error(400, "the request body is not a JSON object")
            return
        if self.path.rstrip("/").endswith("/route/outcome"):
            score = body.get("score")
            if not isinstance(body.get("request_id"), str) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
                self._error(400, "expected {\"request_id\": \"...\", \"score\": 0..1}")
                return
            p.log.put("outcome", {"request_id": body["request_id"], "score": float(score)})
            self._json(200, {"ok": True})
            return
        rid = "rt-" + uuid.uuid4().hex[:16]
        asked = str(body.get("model") or "")
        extra: dict[str, str] = {"x-evalseed-request-id": rid}
        row: dict[str, Any] = {"request_id": rid, "asked": asked, "stream": bool(body.get("stream")),
                               "shadow": p.shadow is not None}
        if asked in OBJECTIVES or asked.startswith("router:"):
            if asked not in OBJECTIVES:
                self._error(400, f"unknown router objective {asked!r}; use one of {', '.join(OBJECTIVES)}")
                return
            text = prompt_text(body)
            suite = self.headers.get("x-evalseed-suite")
            kind = self.headers.get("x-evalseed-kind")
            t0 = time.perf_counter()
            opt = OBJECTIVES[asked] or {}
            if opt.get("kind") == "near-best" and (p.router.objective or {}).get("kind") != "near-best":
                opt = {}  # a router trained without tolerances keeps its own objective
            lam = opt.get("lam")
            pick = p.router.pick(text, kind=kind, suite=suite, lam=None if lam is None else float(lam))
            pick_ms = (time.perf_counter() - t0) * 1000
            extra["x-evalseed-route"] = pick.model
            extra["x-evalseed-route-ms"] = f"{pick_ms:.3f}"
            row.update(picked=pick.model, suite=suite, kind=kind, prompt_chars=len(text),
                       predicted_quality=pick.quality, predicted_cost_usd=pick.cost_usd, pick_ms=pick_ms)
            if p.shadow:
                extra["x-evalseed-route-shadow"] = pick.model
                body["model"] = p.shadow
            else:
                body["model"] = pick.model
        elif p.shadow:
            body["model"] = p.shadow
        row["served"] = body["model"]
        self._forward(body, extra, row)

    def _forward(self, body: dict, extra: dict, row: dict) -> None:
        p = self.server_proxy
        data = json.dumps(body).encode()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        headers["content-length"] = str(len(data))
        if p.api_key:
            headers["authorization"] = f"Bearer {p.api_key}"
        path = p.up_path + self.path[len("/v1"):] if self.path.startswith("/v1") else p.up_path + self.path
        t0 = time.perf_counter()
        resp = None
        for attempt in (0, 1):  # a kept-alive upstream connection the provider closed: reconnect once
            try:
                conn = p.upstream(fresh=attempt > 0)
                conn.request("POST", path, body=data, headers=headers)
                resp = conn.getresponse()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                if attempt:
                    row.update(status=502, upstream_ms=(time.perf_counter() - t0) * 1000)
                    self._log(row)
                    self._error(502, "the upstream provider could not be reached")
                    return
        assert resp is not None
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_HEADERS:
                self.send_header(k, v)
        for k, v in extra.items():
            self.send_header(k, v)
        usage = None
        if resp.getheader("content-type", "").startswith("text/event-stream") or body.get("stream"):
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            tail = b""
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                tail = (tail + chunk)[-4096:]
            self.wfile.write(b"0\r\n\r\n")
            usage = _stream_usage(tail)
        else:
            payload = resp.read()
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            try:
                usage = json.loads(payload).get("usage")
            except (ValueError, AttributeError):
                usage = None
        row.update(status=resp.status, upstream_ms=(time.perf_counter() - t0) * 1000)
        if isinstance(usage, dict):
            row.update(prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))
        self._log(row)

    def _log(self, row: dict) -> None:
        from datetime import datetime, timezone

        row["received_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
        self.server_proxy.log.put("request", row)


def _stream_usage(tail: bytes) -> dict | None:
    """The usage object of a stream's last data event, when the provider sent one."""
    for line in reversed(tail.split(b"\n")):
        line = line.strip()
        if line.startswith(b"data:") and b"usage" in line:
            try:
                u = json.loads(line[5:]).get("usage")
            except ValueError:
                continue
            if isinstance(u, dict):
                return u
    return None


def serve_command(router_path: str, upstream: str, host: str, port: int, api_key_env: str | None,
                  shadow: str | None, log_db: str | None) -> int:
    """The CLI body: serve until interrupted."""
    import os

    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise UsageError(f"--api-key-env {api_key_env}: that environment variable is empty or unset.")
    proxy = RouteProxy(Router.load(router_path), upstream, api_key=key, shadow=shadow, log_db=log_db, host=host,
                       port=port)
    print(f"routing on {proxy.base_url} (model 'router', 'router:quality', 'router:cheapest') -> {upstream}"
          + (f"; shadow: every request to {shadow}" if shadow else ""), flush=True)
    try:
        proxy.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.httpd.server_close()
        proxy.log.close()
    return 0
