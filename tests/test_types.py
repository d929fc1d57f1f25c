"""The type checker over evalseed/ (issue 14): every module, the test server included, with no
per-module overrides in pyproject.toml. A new module is checked from its first commit."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_passes_on_evalseed(tmp_path):
    api = pytest.importorskip("mypy.api", reason="mypy is in the dev extra")
    out, err, code = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"),
                              "--no-error-summary", str(ROOT / "evalseed")])
    assert code == 0, out + err


def test_the_package_says_it_is_typed():
    assert (ROOT / "evalseed" / "py.typed").is_file()


def test_no_module_is_left_out_of_the_type_check():
    assert "[[tool.mypy.overrides]]" not in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
