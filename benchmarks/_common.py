"""Shared pieces of the benchmarks: the stub server as a separate process, the generated
classification suite, whole-process timing, and medians.

Every benchmark measures its baseline in the same run and prints ratios: the machine is shared
(2 cores, other jobs), so absolute seconds move by tens of percent between runs while ratios of
interleaved runs move much less.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LABELS = ("positive", "negative", "neutral")
# The stub answers by substring of the last message: each review carries one of these words.
CUE = {"positive": "wonderful", "negative": "broken", "neutral": "delivered"}


def machine() -> str:
    """One line naming the machine, for the figures' context."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def write_suite(folder: Path, n: int, name: str = "bench-cls") -> tuple[Path, Path]:
    """A classification suite of `n` cases and the stub's answers file; returns (suite, answers)."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    filler = ("the box was fine and the manual is short; it does what the listing says, "
              "no more and no less, and the colour matches the photos.")
    cases = []
    for i in range(n):
        label = LABELS[i % 3]
        # Reviews of a few hundred bytes, like real ones; the variation keeps requests distinct.
        text = f"Review {i}: it arrived {CUE[label]}. " + filler[: 40 + (i * 37) % len(filler)]
        cases.append({"id": f"case-{i:05d}", "vars": {"text": text}, "expected": label})
    suite = {
        "name": name,
        "kind": "classification",
        "description": "Generated for benchmarks.",
        "labels": list(LABELS),
        "params": {"temperature": 0, "max_tokens": 8},
        "messages": [
            {"role": "system", "content": "Classify the sentiment of the review. Answer with one word: "
                                          "positive, negative or neutral."},
            {"role": "user", "content": "Review: {{ text }}\nSentiment:"},
        ],
        "cases": cases,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False, allow_unicode=True), encoding="utf-8")
    answers = folder / "answers.json"
    answers.write_text(json.dumps({cue: label for label, cue in CUE.items()}), encoding="utf-8")
    return path, answers


def suite_prompts(n: int) -> list[tuple[str, str, str]]:
    """(system, user, expected) for the same `n` cases as `write_suite`, for non-evalseed loops."""
    filler = ("the box was fine and the manual is short; it does what the listing says, "
              "no more and no less, and the colour matches the photos.")
    system = "Classify the sentiment of the review. Answer with one word: positive, negative or neutral."
    out = []
    for i in range(n):
        label = LABELS[i % 3]
        text = f"Review {i}: it arrived {CUE[label]}. " + filler[: 40 + (i * 37) % len(filler)]
        out.append((system, f"Review: {text}\nSentiment:", label))
    return out


class StubProcess:
    """`python -m evalseed.testing.stub_server` in its own process (it must not share our GIL)."""

    def __init__(self, delay_ms: float = 0.0, answers: Path | None = None, extra: list[str] | None = None):
        cmd = [PYTHON, "-m", "evalseed.testing.stub_server", "--port", "0", "--delay-ms", str(delay_ms),
               "--answer", "neutral"]
        if answers:
            cmd += ["--answers", str(answers)]
        self.cmd = cmd + (extra or [])
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> "StubProcess":
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=str(ROOT))
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"stub server did not start: {line!r} {self.proc.stderr.read()[:500]}")
        self.base_url = line.split("listening on ", 1)[1]
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Timed:
    wall: float  # seconds, process start to exit
    cpu: float  # user + system seconds of the child (and its children)
    max_rss_mb: float
    stdout: str
    stderr: str


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | None = None, timeout: float = 1800) -> Timed:
    """Run a whole process: wall time from fork to exit; CPU seconds and peak RSS of exactly that
    process (os.wait4's rusage, not RUSAGE_CHILDREN, which would mix in the stub server).

    Raises RuntimeError on a non-zero exit or a timeout: a benchmark that timed a crash measured
    nothing, and must say so loudly."""
    import tempfile

    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, text=True, env=env, cwd=cwd)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                fe.seek(0)
                raise RuntimeError(f"timed out after {timeout:g} s: {' '.join(cmd)[:200]}\n{fe.read()[-2000:]}")
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    if code != 0:
        raise RuntimeError(f"exit {code}: {' '.join(cmd)[:300]}\n{err[-3000:]}")
    return Timed(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, out, err)


def check_db(db: Path, n: int) -> None:
    """An evalseed run's database holds `n` rows, all answered and passed: a fast run that
    scored nothing would be a benchmark measuring nothing."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        total, ok, passed = con.execute(
            "SELECT count(*), count(*) FILTER (status = 'ok'), count(*) FILTER (passed) FROM results").fetchone()
    finally:
        con.close()
    if (total, ok, passed) != (n, n, n):
        raise RuntimeError(f"{db}: expected {n} ok and passed rows, found total={total} ok={ok} passed={passed}")


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def fmt_s(x: float) -> str:
    return f"{x:.2f} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def run_main(name: str, main) -> None:
    """Run a benchmark's `main()` and exit with its code; a RuntimeError (a crashed or wrong
    measurement) is one line naming the benchmark and exit 1."""
    try:
        sys.exit(main())
    except RuntimeError as e:
        print(f"{name} FAILED: {e}", file=sys.stderr)
        sys.exit(1)
