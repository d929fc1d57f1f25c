"""`evalseed route serve` (issue 21, item 8): the openai SDK talks to the proxy, which picks the
Seed model with a trained router and forwards to the stub server, plain and streamed."""

from __future__ import annotations

import numpy as np
import pytest
from openai import OpenAI

from evalseed.router.data import Outcomes
from evalseed.router.fit import train_router
from evalseed.router.router import Router
from evalseed.router.serve import RouteProxy
from evalseed.testing.stub_server import Reply, StubServer, last_message_text

FLASH, PRO = "seed-1-6-flash-250715", "seed-1-8-251228"


def _router() -> Router:
    """Trained on two tasks: flash is right on `sentiment`, pro on `intent`; flash is cheaper."""
    n = 60
    suites = ["sentiment"] * n + ["intent"] * n
    texts = [f"review {i}: the kettle works" for i in range(n)] + [f"message {i}: refund my order" for i in range(n)]
    Q = np.r_[np.tile([1.0, 0.0], (n, 1)), np.tile([0.0, 1.0], (n, 1))]
    C = np.tile([0.0001, 0.001], (2 * n, 1))
    data = Outcomes([FLASH, PRO], suites, [str(i) for i in range(2 * n)], ["classification"] * (2 * n), texts,
                    [[] for _ in range(2 * n)], Q, C, np.zeros_like(Q), ["r"])
    return Router(train_router(data, policy="logistic", test_fraction=0.0))


def _responder(body: dict) -> Reply:
    return Reply(content=f"{body.get('model')} says hi to: {last_message_text(body)[:20]}")


@pytest.fixture(scope="module")
def router():
    return _router()


def test_plain_and_streamed_completions_through_the_openai_sdk(router, tmp_path):
    log = str(tmp_path / "route_log.duckdb")
    with StubServer(_responder) as srv, RouteProxy(router, srv.base_url, log_db=log) as proxy:
        client = OpenAI(base_url=proxy.base_url, api_key="client-key")
        raw = client.chat.completions.with_raw_response.create(
            model="router", messages=[{"role": "user", "content": "message 7: refund my order"}])
        out = raw.parse()
        assert raw.headers["x-evalseed-route"] == PRO
        assert float(raw.headers["x-evalseed-route-ms"]) >= 0
        assert out.choices[0].message.content.startswith(f"{PRO} says hi")
        rid = raw.headers["x-evalseed-request-id"]
        # streamed: the chunks come through as the provider sent them
        with client.chat.completions.with_streaming_response.create(
                model="router", stream=True,
                messages=[{"role": "user", "content": "review 3: the kettle works"}]) as resp:
            assert resp.headers["x-evalseed-route"] == FLASH
            text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
        assert text.startswith(f"{FLASH} says hi")
        # a plain model name passes through untouched; the SDK's own stream iterator works too
        chunks = list(client.chat.completions.create(model=FLASH, stream=True,
                                                     messages=[{"role": "user", "content": "x"}]))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith(FLASH)
        assert [m.id for m in client.models.list()][:2] == ["router", "router:near-best"]
        # the client reports the outcome of the first request
        import json
        import urllib.request

        req = urllib.request.Request(proxy.base_url + "/route/outcome", method="POST",
                                     data=json.dumps({"request_id": rid, "score": 1.0}).encode(),
                                     headers={"content-type": "application/json"})
        assert urllib.request.urlopen(req).status == 200
        proxy.log.flush()
        assert [b["model"] for b in srv.bodies()] == [PRO, FLASH, FLASH]
    import duckdb

    con = duckdb.connect(log, read_only=True)
    rows = con.execute("SELECT asked, picked, served, stream, status, outcome, completion_tokens FROM route_requests "
                       "ORDER BY received_at").fetchall()
    con.close()
    assert [r[:5] for r in rows] == [("router", PRO, PRO, False, 200), ("router", FLASH, FLASH, True, 200),
                                     (FLASH, None, FLASH, True, 200)]
    assert rows[0][5] == 1.0 and rows[0][6] > 0


def test_shadow_mode_logs_the_pick_and_serves_the_fixed_model(router):
    with StubServer(_responder) as srv, RouteProxy(router, srv.base_url, shadow=PRO) as proxy:
        client = OpenAI(base_url=proxy.base_url, api_key="k")
        raw = client.chat.completions.with_raw_response.create(
            model="router", messages=[{"role": "user", "content": "review 1: the kettle works"}])
        assert raw.headers["x-evalseed-route-shadow"] == FLASH
        assert raw.parse().choices[0].message.content.startswith(PRO)
        assert [b["model"] for b in srv.bodies()] == [PRO]


def test_router_objectives_and_errors(router):
    with StubServer(_responder) as srv, RouteProxy(router, srv.base_url) as proxy:
        client = OpenAI(base_url=proxy.base_url, api_key="k", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="router:cheapest", messages=[{"role": "user", "content": "message 1: refund my order"}])
        assert raw.headers["x-evalseed-route"] == FLASH
        import openai

        with pytest.raises(openai.BadRequestError, match="unknown router objective"):
            client.chat.completions.create(model="router:fastest", messages=[{"role": "user", "content": "x"}])
