"""A recognisable fake key goes through everything evalseed does (run streamed and not, error
messages that echo it, an auth failure, cassettes recorded and replayed, report, compare, --debug
tracebacks), then every file written and everything printed is searched for it."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from evalseed.testing.stub_server import Reply, StubServer

from test_reliability_faults import FLASH, big_suite


@pytest.fixture
def fake_key() -> str:
    return "sk-evalseed-FAKE-" + secrets.token_hex(16)


def _needles(key: str) -> list[bytes]:
    # The whole key and its random part alone (a message cut to 120 characters, a key with its
    # prefix stripped), in the encodings a file might hold.
    random_part = key.split("FAKE-", 1)[1]
    out = []
    for s in (key, random_part, random_part[:16]):
        out += [s.encode(), s.encode("utf-16-le"), s.encode("utf-16-be")]
    import base64

    out.append(base64.b64encode(f"Bearer {key}".encode())[:24])
    return out


def _grep_tree(root: Path, key: str) -> list[str]:
    hits = []
    needles = _needles(key)
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            for n in needles:
                if n in data:
                    hits.append(f"{p} holds {n[:12]!r}...")
    return hits


def test_the_key_is_never_written_anywhere(tmp_path, fake_key):
    work = tmp_path / "work"
    home = tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = {**os.environ, "EVALSEED_FAKE_KEY": fake_key, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    env.pop("OPENAI_API_KEY", None)
    printed: list[str] = []

    def evalseed(*args, expect=None):
        proc = subprocess.run([sys.executable, "-m", "evalseed", *map(str, args)], cwd=work, env=env,
                              capture_output=True, text=True, timeout=240)
        printed.append(proc.stdout + proc.stderr)
        if expect is not None:
            assert proc.returncode == expect, proc.stderr[-2000:]
        return proc

    def responder(body, ctx):
        text = str(body.get("messages"))
        auth = ctx.headers.get("authorization", "")
        if "review 3:" in text:
            # Some APIs echo what they were given; the message then holds the key.
            return Reply(fault="400", error_message=f"Incorrect API key provided: {auth[7:]} ({auth})")
        if "review 4:" in text:
            return Reply(content=f"positive, and your key is {auth[7:]}")
        return Reply(content="positive" if "love" in text else "negative",
                     reasoning_content=f"thinking with {auth[7:]}" if "review 5:" in text else None)

    with StubServer(responder=responder) as srv:
        suite = big_suite(work / "suites", 12)
        plain = big_suite(work / "suites-plain", 6, stream=False, name="plain")
        common = ["--base-url", srv.base_url, "--models", FLASH, "--api-key-env", "EVALSEED_FAKE_KEY", "--no-progress"]
        evalseed("run", suite, plain, *common, "--label", "first", expect=0)
        evalseed("run", suite, plain, *common, "--cassettes", "record", "--label", "recorded", expect=0)
        evalseed("run", suite, plain, *common, "--cassettes", "replay", "--label", "replayed", expect=0)
        # The key really was sent: otherwise finding nothing would prove nothing.
        assert {r.headers.get("authorization") for r in srv.requests} == {f"Bearer {fake_key}"}
        assert srv.count() > 0

    # The key is revoked: the server says so, echoing the key, and the run stops (exit 3).
    with StubServer(responder=lambda body, ctx: Reply(
            fault="401", error_message=f"Invalid key {ctx.headers.get('authorization', '')[7:]}")) as srv:
        common = ["--base-url", srv.base_url, "--models", FLASH, "--api-key-env", "EVALSEED_FAKE_KEY", "--no-progress"]
        evalseed("run", suite, *common, expect=3)
        evalseed("--debug", "run", suite, *common)  # --debug output must not show it either
        assert srv.count() >= 2

    import duckdb

    con = duckdb.connect(str(work / "evalseed.duckdb"), read_only=True)
    ids = dict(con.execute("SELECT label, run_id FROM runs WHERE label IS NOT NULL").fetchall())
    con.close()
    evalseed("report", ids["first"], "-o", "reports", expect=0)
    evalseed("report", ids["first"], ids["replayed"], "-o", "reports", expect=0)
    evalseed("runs", expect=0)
    evalseed("compare", ids["first"], ids["replayed"], "--junit", "j.xml", "--markdown", "m.md", "--json", "c.json")
    evalseed("rescore", ids["recorded"], expect=0)

    written = [p for p in work.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in written)
    assert any("cassettes" in p.parts for p in written), "no cassette was recorded"
    assert any(p.suffix == ".html" for p in written), "no report was written"
    hits = _grep_tree(work, fake_key) + _grep_tree(home, fake_key)
    assert not hits, hits
    for text in printed:
        assert fake_key not in text and fake_key.split("FAKE-")[1][:16] not in text, text[-3000:]

    con = duckdb.connect(str(work / "evalseed.duckdb"), read_only=True)
    configs = [c for (c,) in con.execute("SELECT config FROM runs").fetchall()]
    errors = [e for (e,) in con.execute("SELECT error FROM results WHERE error IS NOT NULL").fetchall()]
    con.close()
    assert all('"api_key_env":"EVALSEED_FAKE_KEY"' in c.replace(" ", "") for c in configs)
    # The echoed key was scrubbed, not the error itself dropped.
    assert errors and all(e.startswith("HTTP400 InvalidParameter: Incorrect API key provided:") for e in errors)


def test_a_keyless_local_run_keeps_answers_intact(tmp_path):
    # Without a key, the SDK gets a placeholder; it is no secret and must not be scrubbed.
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with StubServer(responder=lambda body: Reply(content="positive: no-key needed")) as srv:
        suite = big_suite(tmp_path, 2)
        proc = subprocess.run([sys.executable, "-m", "evalseed", "run", str(suite), "--base-url", srv.base_url,
                               "--models", FLASH, "--db", str(tmp_path / "n.duckdb"), "--no-progress"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    import duckdb

    con = duckdb.connect(str(tmp_path / "n.duckdb"), read_only=True)
    outputs = {o for (o,) in con.execute("SELECT output_text FROM results").fetchall()}
    con.close()
    assert outputs == {"positive: no-key needed"}
