"""Files a suite names (documents, haystacks, data files, images): relative to the suite file and
never outside its folder. Suites are input we did not write."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path


def check_relative_path(raw: str, suite_dir: str | None) -> str:
    """`raw` if it names an existing file inside `suite_dir`; ValueError saying why otherwise.
    A path may not leave the suite's folder: `../`, absolute paths and symlinks pointing out are
    refused."""
    if not raw or not raw.strip():
        raise ValueError("the path is empty")
    if "\x00" in raw:
        raise ValueError("the path holds a NUL character")
    norm = posixpath.normpath(raw.replace("\\", "/"))
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise ValueError(f"{raw!r} is an absolute path; give a path relative to the suite file")
    if norm == ".." or norm.startswith("../"):
        raise ValueError(f"{raw!r} leads outside the suite's folder; put the file beside the suite or below it")
    if suite_dir is not None:
        try:
            base = Path(suite_dir).resolve()
            target = (base / norm).resolve()  # follows symlinks: a link out of the folder is refused too
            if target != base and base not in target.parents:
                raise ValueError(f"{raw!r} leads outside the suite's folder (via a link); copy the file beside the suite")
            if not target.is_file():
                raise ValueError(f"{raw!r}: no such file beside the suite ({target})")
        except OSError as e:  # a name too long for the file system, a permission: is_file() raises those
            raise ValueError(f"{raw[:80]!r}: cannot be read ({e.strerror or e})") from None
    return raw


def resolve_in(raw: str, suite_dir: str) -> Path:
    """The file `raw` names inside `suite_dir`, checked as `check_relative_path` does."""
    check_relative_path(raw, suite_dir)
    return (Path(suite_dir).resolve() / posixpath.normpath(raw.replace("\\", "/"))).resolve()
