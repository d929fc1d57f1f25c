"""What a hostile server can make a run fetch, decode or hold (issue 16), through the real CLI in
its own process against servers on 127.0.0.1:

- links in answers lead only to public addresses, the run's own server, or networks the user
  allowed: a link (or a redirect) to another loopback port, `localhost`, an IPv4-mapped, decimal
  or unspecified spelling of it, or the link-local metadata address is refused and nothing is
  sent there;
- a download larger than its cap is refused from its Content-Length, unread;
- a decompression-bomb PNG is refused from its header, before a pixel is decoded;
- an answer keeps at most --max-answer-bytes: streamed, cut and flagged (the stream is still read
  for its usage); plain, refused unread past the cap; the process stays small.

Memory is the peak resident size of the evalseed process alone (`run_measured`).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

from evalseed.testing.stub_server import Reply, StubServer, make_image

from helpers import select, write_suite
from test_reliability_faults import FLASH, big_suite

SEEDREAM = "seedream-4-5-251128"


# The peak is read inside the process (VmHWM of its own memory map) as it exits: the rusage
# figure of a child also counts the memory of the process that forked it (pytest, here, holding
# the stub server's 60 MB answers).
_LAUNCH = """
import atexit, runpy, sys
report = sys.argv[1]
def peak():
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    with open(report, "w") as out:
        out.write(str(kb))
atexit.register(peak)
sys.argv = ["evalseed", *sys.argv[2:]]
runpy.run_module("evalseed", run_name="__main__", alter_sys=True)
"""


def run_measured(*args, timeout: float = 240, env: dict | None = None) -> tuple[int, str, str, int]:
    """`evalseed ARGS` in its own process: exit code, stdout, stderr, and its peak resident
    memory in bytes."""
    full_env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1", **(env or {})}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "peak"
        proc = subprocess.run([sys.executable, "-c", _LAUNCH, str(report), *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, env=full_env)
        peak = int(report.read_text()) * 1024
    return proc.returncode, proc.stdout, proc.stderr, peak


def _rows(db: Path, *cols: str) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in select(db, f"SELECT case_id, {', '.join(cols)} FROM results")}


# ---- links in answers ---------------------------------------------------------------------------------


def _link_suite(folder: Path, ids: list[str]) -> Path:
    cases = "\n".join(f"  - {{id: {i}, prompt: 'picture {i}'}}" for i in ids)
    return write_suite(folder, "links.yaml", f"""
name: links
kind: image
models: [{SEEDREAM}]
params: {{size: 64x64, response_format: url}}
cases:
{cases}
""")


def test_links_to_private_addresses_are_not_fetched(tmp_path):
    # The "admin" server stands for anything on the machine or its network that the model's
    # server cannot reach itself: before the guard, its page was fetched, saved and linked from
    # the report.
    with StubServer() as admin, StubServer() as srv:
        admin.files["admin.png"] = (make_image(64, 64, "png"), "image/png")
        secret = f"127.0.0.1:{admin.port}/files/admin.png"
        links = {
            "own-server": None,  # the run's own server: allowed
            "loopback-other-port": f"http://{secret}",
            "localhost": f"http://localhost:{admin.port}/files/admin.png",
            "mapped-v6": f"http://[::ffff:127.0.0.1]:{admin.port}/files/admin.png",
            "decimal": f"http://2130706433:{admin.port}/files/admin.png",
            "unspecified": f"http://0.0.0.0:{admin.port}/files/admin.png",
            "metadata": "http://169.254.169.254/latest/meta-data/iam/",
            "redirect": f"{srv.root_url}/files/hop",  # allowed first hop, refused second
        }
        srv.redirect_file("hop", f"http://{secret}")

        def responder(body):
            case = body["prompt"].split()[-1]
            return Reply(image_urls=[links[case]] if links[case] else None)

        srv.responder = responder
        suite = _link_suite(tmp_path / "suites", list(links))
        db = tmp_path / "l.duckdb"
        code, _, err, _ = run_measured("run", suite, "--base-url", srv.base_url, "--db", db, "--no-progress",
                                       "--out-dir", tmp_path / "runs", "--timeout", "10", "--max-attempts", "2")
        assert code == 0, err
        assert admin.count() == 0, [r.path for r in admin.requests]
        rows = _rows(db, "status", "details")
        for case in links:
            status, details = rows[case]
            image = json.loads(details)["images"][0]
            assert status == "ok"
            if case == "own-server":
                assert image["ok"], image
                continue
            assert not image["ok"] and "path" not in image, (case, image)
            assert image["error"]["message"].startswith("RefusedAddress: not fetched: "), (case, image)
        loopback = json.loads(rows["loopback-other-port"][1])["images"][0]["error"]["message"]
        assert "127.0.0.1 is a loopback address" in loopback and "--allow-download-from 127.0.0.1/32" in loopback
        assert "169.254.169.254 is a link-local address" in json.loads(rows["metadata"][1])["images"][0]["error"]["message"]
        saved = {p.name for p in (tmp_path / "runs").rglob("*.png")} | {p.name for p in (tmp_path / "runs").rglob("*.jpg")}
        assert len(saved) == 1

        # Allowed on purpose, the same links are fetched: the refusal above was the guard's.
        db2 = tmp_path / "l2.duckdb"
        code, _, err, _ = run_measured("run", suite, "--base-url", srv.base_url, "--db", db2, "--no-progress",
                                       "--out-dir", tmp_path / "runs2", "--timeout", "10", "--max-attempts", "2",
                                       "--allow-download-from", "127.0.0.0/8")
        assert code == 0, err
        rows = _rows(db2, "details")
        for case in ("loopback-other-port", "localhost", "decimal", "redirect"):
            assert json.loads(rows[case][0])["images"][0]["ok"], case
        assert admin.count() >= 4


def test_a_bad_allowed_network_is_a_usage_error(tmp_path):
    suite = _link_suite(tmp_path, ["a"])
    code, _, err, _ = run_measured("run", suite, "--base-url", "http://127.0.0.1:9/v1", "--db", tmp_path / "x.duckdb",
                                   "--allow-download-from", "not-a-network")
    assert code == 2 and "--allow-download-from 'not-a-network'" in err and "Traceback" not in err


def test_a_download_over_its_byte_cap_is_refused_unread(tmp_path):
    # 70 MB behind a link, over the 64 MB an image may be: refused from its Content-Length.
    with StubServer() as srv:
        srv.files["huge.png"] = (b"\x89PNG\r\n\x1a\n" + bytes(70 * 1024 * 1024), "image/png")
        srv.responder = lambda body: Reply(image_urls=[f"{srv.root_url}/files/huge.png"])
        suite = _link_suite(tmp_path / "suites", ["huge"])
        db = tmp_path / "h.duckdb"
        code, _, err, rss = run_measured("run", suite, "--base-url", srv.base_url, "--db", db, "--no-progress",
                                         "--out-dir", tmp_path / "runs")
    assert code == 0, err
    image = json.loads(_rows(db, "details")["huge"][0])["images"][0]
    assert image["error"]["message"].startswith("TooLarge: the file is 73,400,328 bytes, larger than 64 MB"), image
    assert rss < 400 * 1024 * 1024, f"{rss / 2**20:.0f} MB"


# ---- decompression bombs ----------------------------------------------------------------------------


def png_bomb(width: int, height: int) -> bytes:
    """A valid all-black RGB PNG: a few hundred KB that decode into width x height x 4 bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + 3 * width)
    packer = zlib.compressobj(9)
    parts = [packer.compress(row) for _ in range(height)]
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [13_000, 7_000], ids=["over-twice-the-limit", "over-the-limit"])
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    # 13,000 x 13,000 is under Pillow's own default error threshold (it only warned): before the
    # cap, each such image took about 700 MB to decode. 7,000 x 7,000 is over our limit and under
    # twice it, where Pillow only warns even at our limit: the warning must refuse it too.
    bomb = png_bomb(side, side)
    assert len(bomb) < 1_000_000
    with StubServer(responder=lambda body: Reply(image_bytes=bomb)) as srv:
        suite = write_suite(tmp_path / "suites", "bomb.yaml", f"""
name: bomb
kind: image
models: [{SEEDREAM}]
params: {{size: 64x64, response_format: b64_json}}
cases:
  - {{id: bomb, prompt: a black square}}
""")
        db = tmp_path / "b.duckdb"
        code, _, err, rss = run_measured("run", suite, "--base-url", srv.base_url, "--db", db, "--no-progress",
                                         "--out-dir", tmp_path / "runs")
    assert code == 0, err
    assert rss < 400 * 1024 * 1024, f"{rss / 2**20:.0f} MB"
    status, passed, details = _rows(db, "status", "passed", "details")["bomb"]
    image = json.loads(details)["images"][0]
    assert status == "ok" and not passed
    assert image["decode_error"].startswith("DecompressionBomb") and f"{side * side} pixels" in image["decode_error"], image
    # The limit is twice Seedream's largest image (Pillow names twice that when it errors).
    assert ("67108864" if side == 13_000 else "33554432") in image["decode_error"]


# ---- answers of any size ----------------------------------------------------------------------------


ANSWER_MB = 60


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "plain"])
def test_an_answer_keeps_at_most_its_byte_cap(tmp_path, stream):
    # Three 100 MB answers took a run to 1.9 GB. Streamed, each is cut at the cap and flagged,
    # and still read to its end for its usage (one of them arrives as a single 60 MB line, which
    # is skipped without being held); plain, it is refused unread past the cap.
    huge = "positive " + "x" * (ANSWER_MB * 1024 * 1024)

    def responder(body):
        text = str(body.get("messages"))
        one_line = "review 2:" in text
        return Reply(content=huge, chunk_chars=len(huge) if one_line else 1024 * 1024,
                     usage={"completion_tokens": 4})

    with StubServer(responder=responder) as srv:
        suite = big_suite(tmp_path, 3, stream=stream)
        suite.write_text(suite.read_text(encoding="utf-8").replace(
            "temperature: 0", "temperature: 0\n  thinking: {type: disabled}"), encoding="utf-8")
        db = tmp_path / "a.duckdb"
        code, _, err, rss = run_measured("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db,
                                         "--no-progress", "--concurrency", "3", "--timeout", "120",
                                         "--max-attempts", "1")
    assert code == 0, err
    assert rss < 400 * 1024 * 1024, f"{rss / 2**20:.0f} MB"
    rows = _rows(db, "status", "error", "output_text", "cost_usd", "details")
    assert len(rows) == 3
    cap = 4 * 1024 * 1024
    for case_id, (status, error, output, cost, details) in rows.items():
        if not stream:
            assert status == "error" and error.startswith("AnswerTooLarge: "), (case_id, error)
            assert f"{cap:,}" in error and "--max-answer-bytes" in error
            continue
        cut = json.loads(details)["flags"]["answer_cut"]
        assert status == "ok" and cost is not None and cost > 0, case_id
        if case_id == "c0002":  # the single line: nothing of it kept
            assert output is None and cut["oversized_lines"] == 1, cut
        else:
            assert output.startswith("positive xxx") and len(output.encode()) == cap, len(output)
            assert cut["kept_bytes"] == cap and cut["kept_bytes"] + cut["dropped_bytes"] == len(huge.encode())


def test_the_answer_cap_is_configurable(tmp_path):
    with StubServer(responder=lambda body: Reply(content="positive " + "y" * 300_000, usage={"completion_tokens": 4})) as srv:
        suite = big_suite(tmp_path, 1)
        db = tmp_path / "c.duckdb"
        code, _, err, _ = run_measured("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db,
                                       "--no-progress", "--max-answer-bytes", "100000")
    assert code == 0, err
    [(output, details)] = _rows(db, "output_text", "details").values()
    assert len(output) == 100_000 and json.loads(details)["flags"]["answer_cut"]["limit"] == 100_000


@pytest.mark.parametrize("fault", ["400", "503"])
def test_an_error_body_of_any_size_is_not_held(tmp_path, fault):
    # The SDK reads an error's whole body before raising, and the message went into the row
    # whole: three 100 MB error bodies. Read to 1 MB, then the attempt fails as its status says
    # (a 400 is final, a 503 retried).
    big = "x" * (100 * 1024 * 1024)
    with StubServer(responder=lambda body: Reply(fault=fault, error_message=big)) as srv:
        suite = big_suite(tmp_path, 3)
        db = tmp_path / "e.duckdb"
        code, _, err, rss = run_measured("run", suite, "--base-url", srv.base_url, "--models", FLASH, "--db", db,
                                         "--no-progress", "--concurrency", "3", "--max-attempts", "2")
        served = srv.count("/chat/completions")
    assert code == 0, err
    assert rss < 400 * 1024 * 1024, f"{rss / 2**20:.0f} MB"
    rows = _rows(db, "status", "error", "attempts")
    assert served == sum(r[2] for r in rows.values()) == (3 if fault == "400" else 6)
    for status, error, attempts in rows.values():
        assert status == "error" and len(error) < 500, error[:300]
        assert error.startswith(f"HTTP{fault}: the error body is over 1,048,576 bytes: not read further"), error[:300]
