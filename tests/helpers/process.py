"""evalseed's command line in a process of its own (`python -m evalseed`), for tests that need
one: a crash, a signal, resource limits, the GIL kept free for the server under test."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

# The line `evalseed run` ends with: its run id.
RUN_LINE = re.compile(r"^run (\S+) stored in ", re.M)


def run_evalseed(*args: Any, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess:
    """`python -m evalseed ARGS...` run to its end, its output captured as text; other keyword
    arguments (cwd, env, preexec_fn...) go to subprocess.run."""
    return subprocess.run([sys.executable, "-m", "evalseed", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def run_id_of(stdout: str) -> str:
    """The run id `evalseed run` printed."""
    m = RUN_LINE.search(stdout)
    assert m, stdout[-2000:]
    return m.group(1)
