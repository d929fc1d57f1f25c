"""Writing files so that a reader never sees half of one, and JSON that every reader can parse."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: str | Path, data: str | bytes, *, errors: str = "strict", umask_mode: bool = False) -> None:
    """Write `data` to `path` whole or not at all: a uniquely named temporary file in the same
    folder (so the rename cannot cross file systems), then a rename. Text is UTF-8 with `errors`
    as its error handler. `umask_mode` gives the file the permissions a plain open() would
    (mkstemp creates it 0600)."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent or ".")
    try:
        if umask_mode:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        if isinstance(data, bytes):
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", errors=errors) as f:
                f.write(data)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_safe(v: Any) -> Any:
    """`v` with NaN and infinities (say, a latency imported from elsewhere) as None, in nested
    dicts and lists too: JSON has neither, and Python's json would write tokens others reject."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    return v
