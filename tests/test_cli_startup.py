"""Start-up (issue 20, item 6): `evalseed route pick` skips Typer for its common forms and prints
what the Typer command prints; `evalseed --help` imports nothing of evalseed's heavy parts."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from conftest import ROOT
from helpers import run_evalseed
from helpers.cli_app import train_router

from evalseed.entry import parse_pick


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    rng = random.Random(0)
    rows = [[f"d{i % 3}", f"question {i} on topic {i % 3}", str(rng.random() < 0.4 + 0.2 * (i % 3)),
             str(rng.random() < 0.7)] for i in range(120)]
    return train_router(tmp_path_factory.mktemp("pick"), ["domain", "prompt", "model-a", "model-b"], rows,
                        ["model-a=0.1,0.1", "model-b=1,2"])


def evalseed(*args, stdin=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return run_evalseed(*args, env=env, input=stdin, timeout=120)


def test_parse_pick_takes_the_common_forms_and_leaves_the_rest():
    got = parse_pick(["--router", "r.json", "--kind=classification", "--lambda", "0.5", "--json", "hi there"])
    assert got == {"router_path": "r.json", "text": "hi there", "kind": "classification", "suite": None, "tags": None,
                   "lam": 0.5, "mu": None, "slo_ms": None, "as_json": True, "debug": False}
    assert parse_pick(["-"])["text"] == "-"
    assert parse_pick(["--", "-starts-with-a-dash"])["text"] == "-starts-with-a-dash"
    for typer_says_what_is_wrong in (["-h"], ["--help"], [], ["a", "b"], ["--lambda", "-1", "x"], ["--mu", "x", "y"],
                                     ["--nope", "x"], ["--router"], ["-x"]):
        assert parse_pick(typer_says_what_is_wrong) is None, typer_says_what_is_wrong


def test_fast_pick_prints_what_the_typer_command_prints(router, cli):
    fast = evalseed("route", "pick", "--router", str(router), "--suite", "d1", "--json", "question 7 on topic 1")
    assert fast.returncode == 0, fast.stderr
    code, out, err = cli("route", "pick", "--router", router, "--suite", "d1", "--json", "question 7 on topic 1")
    assert code == 0 and json.loads(fast.stdout) == json.loads(out)
    fast = evalseed("route", "pick", "--router", str(router), "-", stdin="question 8 on topic 2")
    assert fast.returncode == 0 and fast.stdout.split("\t")[0] in ("model-a", "model-b")
    missing = evalseed("route", "pick", "--router", str(router) + ".nope", "x")
    assert missing.returncode == 2 and missing.stderr.startswith("evalseed: ") and "Traceback" not in missing.stderr
    bad = evalseed("route", "pick", "--router", str(router), "--lambda", "-1", "x")
    assert bad.returncode == 2 and "Usage" in bad.stderr  # Typer's own message for what the fast path leaves


def test_fast_pick_imports_no_typer_and_help_no_heavy_module(router):
    code = ("import sys; sys.argv = ['evalseed', 'route', 'pick', '--router', %r, 'hello']\n"
            "from evalseed.entry import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('typer', 'pydantic', 'duckdb', 'openai', 'rich') if m in sys.modules))"
            % str(router))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    assert out.strip().splitlines()[-1] == "[]", out
    code = ("import sys; sys.argv = ['evalseed', '--help']\n"
            "from evalseed.entry import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pydantic', 'duckdb', 'openai', 'numpy', 'jinja2', 'httpx', 'yaml') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    assert out.strip().splitlines()[-1] == "[]", out
