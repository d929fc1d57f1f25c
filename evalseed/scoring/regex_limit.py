"""`re.search` with a time limit, for patterns that suites write and answers that models write.

Python's `re` backtracks, and a pattern such as `(a+)+$` on a 40-character answer that does not
match takes longer than the universe is old; `re` holds the GIL and cannot be interrupted, so a
thread cannot stop it either. The search therefore runs in one small helper process (the same
Python, `-I -S`, only `re`, `json` and `struct` imported), reused for every search and killed and
replaced when a search overruns its time: the run loses that check's verdict (a scored failure
that says why), never the run.

The standard library only: the third-party `regex` module has a `timeout` argument, but its
syntax and case folding differ from `re` in corners (nested sets, full case folding), and a
suite's pattern means what `re` makes of it (docs/scoring.md). One round trip to the helper costs
tens of microseconds; the helper starts once per process (about 20 ms).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time

#: Seconds one search may take. Generous: a linear search of a 4 MiB answer takes milliseconds.
TIMEOUT_S = 2.0
#: Characters of the matched text sent back (for the reason line).
_MATCH_CHARS = 200

_WORKER = r"""
import json, re, struct, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
cache = {}
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    (n,) = struct.unpack(">I", head)
    pattern, text = json.loads(inp.read(n).decode("utf-8"))
    try:
        rx = cache.get(pattern)
        if rx is None:
            rx = cache[pattern] = re.compile(pattern)
        m = rx.search(text)
        res = [m is not None, m.group(0)[:%d] if m is not None else None, None]
    except Exception as e:
        res = [False, None, "%%s: %%s" %% (type(e).__name__, e)]
    data = json.dumps(res).encode("utf-8")
    out.write(struct.pack(">I", len(data)) + data)
    out.flush()
""" % _MATCH_CHARS


class RegexTimeout(Exception):
    """The search took longer than its limit; the helper that ran it was killed."""


class _Helper:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _WORKER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True)
        return self.proc

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None:
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()  # type: ignore[union-attr]
                except OSError:
                    pass

    def search(self, pattern: str, text: str, timeout: float) -> tuple[bool, str | None]:
        payload = json.dumps([pattern, text]).encode("utf-8")
        with self.lock:
            for attempt in (0, 1):  # a helper that died between searches is started again once
                proc = self._start()
                try:
                    proc.stdin.write(struct.pack(">I", len(payload)) + payload)  # type: ignore[union-attr]
                    proc.stdin.flush()  # type: ignore[union-attr]
                    head = self._read(proc, 4, time.monotonic() + timeout)
                    (n,) = struct.unpack(">I", head)
                    body = self._read(proc, n, time.monotonic() + 5.0)
                    break
                except RegexTimeout:
                    self.kill()
                    raise
                except (BrokenPipeError, EOFError, OSError):
                    self.kill()
                    if attempt:
                        raise
        matched, group, error = json.loads(body.decode("utf-8"))
        if error:
            raise ValueError(error)
        return bool(matched), group

    @staticmethod
    def _read(proc: subprocess.Popen, n: int, deadline: float) -> bytes:
        fd = proc.stdout.fileno()  # type: ignore[union-attr]
        parts, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise RegexTimeout
            chunk = os.read(fd, n - got)
            if not chunk:
                raise EOFError("the regex helper exited")
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)


_HELPER = _Helper()
atexit.register(_HELPER.kill)


def search(pattern: str, text: str, timeout: float | None = None) -> tuple[bool, str | None]:
    """(whether `re.search(pattern, text)` finds a match, the first 200 characters of the match),
    computed in the helper process. Raises RegexTimeout after `timeout` seconds (default
    TIMEOUT_S), ValueError when the pattern does not compile."""
    return _HELPER.search(pattern, text, TIMEOUT_S if timeout is None else timeout)
