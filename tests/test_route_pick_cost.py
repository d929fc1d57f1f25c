"""`route pick` prints a cost the router never learned as unknown, not `$0.000000` (issue 20,
item 9), on the fast path (evalseed.entry) and through Typer alike."""

from __future__ import annotations

import json
import os
import random

import pytest
from conftest import ROOT
from helpers import run_evalseed
from helpers.cli_app import train_router


@pytest.fixture(scope="module")
def half_priced_router(tmp_path_factory):
    rng = random.Random(1)
    # `unpriced` is always right, so every pick is it; `cheap` has a price, it has none.
    rows = [[f"d{i % 3}", f"question {i} on topic {i % 3}", str(rng.random() < 0.3), "True"] for i in range(120)]
    d = tmp_path_factory.mktemp("pick-cost")
    train_router(d, ["domain", "prompt", "cheap", "unpriced"], rows, ["cheap=0.1,0.1"])
    spec = json.loads((d / "r.json").read_text())
    assert spec["training"]["models"]["unpriced"]["cost_usd"] is None  # what the test is about
    assert spec["training"]["models"]["cheap"]["cost_usd"] is not None
    return d / "r.json"


def _fast(*args):
    return run_evalseed(*args, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)


def test_route_pick_prints_an_unknown_cost_as_unknown(half_priced_router, cli):
    args = ["route", "pick", "--router", str(half_priced_router), "--suite", "d1", "question 7 on topic 1"]
    fast = _fast(*args)
    code, out, err = cli(*args)
    assert fast.returncode == 0 and code == 0, fast.stderr + err
    assert fast.stdout == out
    model, quality, cost, latency = out.rstrip("\n").split("\t")
    assert model == "unpriced" and cost == "cost unknown", out
    assert "$0.000000" not in out

    fast = _fast(*args, "--json")
    code, out, err = cli(*args, "--json")
    assert fast.returncode == 0 and code == 0 and json.loads(fast.stdout) == json.loads(out)
    got = json.loads(out)
    assert got["model"] == "unpriced" and got["cost_usd"] is None
    assert got["predictions"]["unpriced"]["cost_usd"] is None
    assert got["predictions"]["cheap"]["cost_usd"] > 0

