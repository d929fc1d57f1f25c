"""A recognisable fake key goes through everything evalseed does (run streamed and not, error
messages that echo it, an auth failure, cassettes recorded and replayed, report, compare, --debug
tracebacks), then every file written and everything printed is searched for it."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

from evalseed.testing.stub_server import Reply, StubServer

from helpers import run_evalseed
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


def _isolated(work: Path, home: Path, key: str) -> dict[str, str]:
    """A working folder and a private HOME (so every file evalseed writes is under the test's
    eyes), and the environment that names them, with the fake key in EVALSEED_FAKE_KEY."""
    work.mkdir()
    home.mkdir()
    env = {**os.environ, "EVALSEED_FAKE_KEY": key, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    env.pop("OPENAI_API_KEY", None)
    return env


def _read_back(evalseed, ids: dict) -> None:
    """Every command that reads the runs `first`, `replayed` and `recorded` back."""
    evalseed("report", ids["first"], "-o", "reports", expect=0)
    evalseed("report", ids["first"], ids["replayed"], "-o", "reports", expect=0)
    evalseed("runs", expect=0)
    evalseed("compare", ids["first"], ids["replayed"], "--junit", "j.xml", "--markdown", "m.md", "--json", "c.json")
    evalseed("rescore", ids["recorded"], expect=0)


def test_the_key_is_never_written_anywhere(tmp_path, fake_key):
    work = tmp_path / "work"
    home = tmp_path / "home"
    env = _isolated(work, home, fake_key)
    printed: list[str] = []

    def evalseed(*args, expect=None):
        proc = run_evalseed(*args, cwd=work, env=env, timeout=240)
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
    _read_back(evalseed, ids)

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
        proc = run_evalseed("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", tmp_path / "n.duckdb",
                            "--no-progress", env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
    import duckdb

    con = duckdb.connect(str(tmp_path / "n.duckdb"), read_only=True)
    outputs = {o for (o,) in con.execute("SELECT output_text FROM results").fetchall()}
    con.close()
    assert outputs == {"positive: no-key needed"}


# ---- a key in any spelling ---------------------------------------------------------------------
#
# A server chooses how it writes the key it echoes, and every later reader decodes: JSON turns
# `\u0073k-...` (or `\/`) back into the key, a browser `&#115;k-...`, a URL `%73k-...`, an eye a
# full-width or upper-cased key. The artefacts are searched the way those readers would read them.


def hostile_key() -> str:
    # A '/' and a '+' so that JSON's `\/` spelling and both base64 alphabets are exercised.
    return f"sk-evalseed-FAKE-{secrets.token_hex(12)}/{secrets.token_hex(4)}+{secrets.token_hex(4)}"


def _decoded_views(text: str) -> list[str]:
    """`text` as JSON, HTML, URL decoding (nested, as a JSON string inside a JSON file) and a
    reader's eye (NFKC, invisible characters dropped) would give it, lower-cased."""
    import html
    import re
    import unicodedata
    from urllib.parse import unquote

    views = [text]
    v = text
    for _ in range(4):
        v = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), v)
        v = re.sub(r"\\(.)", r"\1", v)
        v = unquote(html.unescape(v), errors="replace")
        views.append(v)
    try:
        eye = unicodedata.normalize("NFKC", v)
    except ValueError:
        eye = v
    views.append("".join(c for c in eye if unicodedata.category(c) != "Cf"))
    return [x.lower() for x in views]


def _base64_cores(secret: str) -> list[str]:
    import base64

    out = []
    raw = secret.encode()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode()
        core = enc[4 * ((k + 2) // 3): 4 * ((k + len(raw)) // 3)]
        out += [core[:24], core[-24:], core.replace("+", "-").replace("/", "_")[:24]]
    return out


def key_forms_in(text: str, key: str) -> list[str]:
    """Which forms of `key` (whole, its random part, the first 16 characters of that) `text`
    holds in any decoded view, in base64 or in hex."""
    random_part = key.split("FAKE-", 1)[1]
    found = []
    views = _decoded_views(text)
    for name, needle in (("key", key), ("random part", random_part), ("random prefix", random_part[:16])):
        if any(needle.lower() in v for v in views):
            found.append(name)
    if any(core in text for core in _base64_cores(key)):
        found.append("base64")
    if key.encode().hex() in text.lower():
        found.append("hex")
    return found


HOSTILE_FORMS = {
    "json-unicode": None,  # the answer's JSON written with every character as \uXXXX
    "json-solidus": None,  # ... with '/' as '\/'
    "html-entities": lambda k: "".join(f"&#{ord(c)};" for c in k),
    "percent": lambda k: "".join(f"%{b:02X}" for b in k.encode()),
    "base64": lambda k: __import__("base64").b64encode(f"Bearer {k}".encode()).decode(),
    "upper": lambda k: k.upper(),
    "full-width": lambda k: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in k),
    "zero-width": lambda k: "\u200b".join(k),
    "hex": lambda k: k.encode().hex(),
    # JavaScript-style escapes in the answer's text: the '-' before the key's hex escaped alone.
    "escaped-hyphens": lambda k: k.replace("-", "\\u002d"),
}


def test_the_oracle_sees_every_hostile_form():
    # The search below must find each form the server will use, or finding nothing proves nothing.
    key = hostile_key()
    for name, spell in HOSTILE_FORMS.items():
        if spell is not None:
            assert key_forms_in(f"answer: {spell(key)} end", key), name
    assert key_forms_in("".join(f"\\u{ord(c):04x}" for c in key), key)
    assert key_forms_in(key.replace("/", "\\/"), key)
    assert not key_forms_in("nothing of it here: sk-evalseed-FAKE-", key)


def _grep_all(roots: list[Path], key: str) -> list[str]:
    hits = []
    for root in roots:
        for p in root.rglob("*"):
            if not p.is_file() or p.is_symlink():
                continue
            data = p.read_bytes()
            for text in (data.decode("utf-8", "replace"), data.decode("latin-1"),
                         data.decode("utf-16-le", "replace"), data.decode("utf-16-be", "replace")):
                forms = key_forms_in(text, key)
                if forms:
                    hits.append(f"{p}: {forms}")
                    break
    return hits


def _database_texts(db: Path) -> list[tuple[str, str]]:
    """Every value of every table, as text: a compressed column would hide from a byte grep."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        out = []
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()]
            for col in cols:
                for (value,) in con.execute(f'SELECT CAST("{col}" AS VARCHAR) FROM "{table}"').fetchall():
                    if value:
                        out.append((f"{table}.{col}", value))
        return out
    finally:
        con.close()


def test_a_key_in_any_spelling_never_reaches_an_artefact(tmp_path):
    """The server echoes the key in every spelling above, in answers, reasoning, response ids,
    error codes, error types, error params and stream error events, streamed and not; the run is
    recorded to cassettes, replayed with the key variable unset, reported and compared. No file,
    no database value and nothing printed holds any form of the key."""
    from urllib.parse import quote

    key = hostile_key()
    work, home = tmp_path / "work", tmp_path / "home"
    env = _isolated(work, home, key)
    printed: list[str] = []

    def evalseed(*args, expect=None, environ=None):
        proc = run_evalseed(*args, cwd=work, env=environ or env, timeout=240)
        printed.append(proc.stdout + proc.stderr)
        if expect is not None:
            assert proc.returncode == expect, proc.stderr[-2000:]
        return proc

    forms = list(HOSTILE_FORMS)
    served: set[str] = set()

    def responder(body, ctx):
        k = ctx.headers.get("authorization", "")[7:]
        text = str(body.get("messages"))
        i = int(text.split("review ")[1].split(":")[0])
        usage = {"prompt_tokens": 20, "completion_tokens": 4}
        if i < len(forms):
            form = forms[i]
            served.add(form)
            spell = HOSTILE_FORMS[form]
            if spell is None:
                return Reply(content=f"positive {k}", reasoning_content=f"so {k}",
                             spelling="unicode" if form == "json-unicode" else "solidus")
            return Reply(content=f"positive {spell(k)}", reasoning_content=f"because {spell(k)}")
        served.add(f"case {i}")
        if i == len(forms):  # every field of an error body, escaped
            return Reply(fault="400", error_code=k, error_message=f"bad key {k}", spelling="unicode",
                         error_extra={"type": k, "param": quote(k, safe="")})
        if i == len(forms) + 1:  # the key as the answer's id, model and an unknown field, escaped
            if body.get("stream"):
                return Reply(spelling="unicode", raw_chunks=[
                    {"id": k, "model": k, "choices": [{"index": 0, "delta": {"content": "negative"},
                                                       "finish_reason": "stop"}], "extra": {k: k}},
                    {"id": k, "choices": [], "usage": usage}])
            return Reply(spelling="unicode", raw_body={
                "id": k, "object": "chat.completion", "model": k, "extra": {k: [k]}, "usage": usage,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "negative"},
                             "finish_reason": "stop"}]})
        if i == len(forms) + 2 and body.get("stream"):  # an error event inside the stream
            return Reply(spelling="solidus", raw_chunks=[{"error": {"code": k, "message": f"key {k} refused"}}])
        return Reply(content="positive" if "love" in text else "negative")

    n = len(forms) + 4
    with StubServer(responder=responder) as srv:
        streamed = big_suite(work / "suites", n)
        plain = big_suite(work / "suites-plain", n, stream=False, name="plain")
        common = ["--base-url", srv.base_url, "--models", FLASH, "--api-key-env", "EVALSEED_FAKE_KEY",
                  "--no-progress", "--max-attempts", "2", "--timeout", "20"]
        evalseed("run", streamed, plain, *common, "--label", "first", expect=0)
        evalseed("run", streamed, plain, *common, "--cassettes", "record", "--label", "recorded", expect=0)
        assert {r.headers.get("authorization") for r in srv.requests} == {f"Bearer {key}"}
    assert set(forms) <= served, served

    # Replayed with the key variable unset: whatever the cassettes hold goes back into the database.
    no_key = {k: v for k, v in env.items() if k != "EVALSEED_FAKE_KEY"}
    evalseed("run", streamed, plain, "--base-url", "http://127.0.0.1:9/v1", "--models", FLASH, "--no-progress",
             "--max-attempts", "2", "--cassettes", "replay", "--label", "replayed", expect=0, environ=no_key)

    # A revoked key, echoed escaped in the 401's code and message: exit 3, with and without --debug.
    with StubServer(responder=lambda body, ctx: Reply(
            fault="401", spelling="unicode", error_code=ctx.headers.get("authorization", "")[7:],
            error_message=f"Invalid key {ctx.headers.get('authorization', '')}")) as srv:
        common = ["--base-url", srv.base_url, "--models", FLASH, "--api-key-env", "EVALSEED_FAKE_KEY", "--no-progress"]
        evalseed("run", streamed, *common, expect=3)
        evalseed("--debug", "run", streamed, *common)
        assert srv.count() >= 2

    import duckdb

    db = work / "evalseed.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    ids = dict(con.execute("SELECT label, run_id FROM runs WHERE label IS NOT NULL").fetchall())
    rows = con.execute("SELECT run_id, case_id, status, error, output_text FROM results").fetchall()
    con.close()
    _read_back(evalseed, ids)

    # The hostile answers were stored (scrubbed), not dropped: the replayed run has them too.
    by_run = {}
    for run_id, case_id, status, error, output in rows:
        by_run.setdefault(run_id, {})[case_id] = (status, error, output)
    for label in ("first", "recorded", "replayed"):
        got = by_run[ids[label]]
        assert len(got) == n, (label, len(got))
        # The engine marks what it removed `***`; a cassette, `REDACTED` (then replayed as such).
        status, _, output = got["c0000"]
        assert status == "ok" and re.fullmatch(r"positive (\*\*\*|REDACTED)", output), got["c0000"]
        status, error, _ = got[f"c{len(forms):04d}"]
        assert status == "error" and re.fullmatch(r"HTTP400 (\*\*\*|REDACTED): bad key (\*\*\*|REDACTED)", error), error

    hits = _grep_all([work, home], key)
    hits += [f"{where}: {found}" for where, value in _database_texts(db) if (found := key_forms_in(value, key))]
    hits += [f"printed: {found}: {text[-500:]}" for text in printed if (found := key_forms_in(text, key))]
    assert not hits, "\n".join(hits)
