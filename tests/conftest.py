"""Shared fixtures: a stub OpenAI-compatible server on 127.0.0.1 and a CLI invoker. Shared helpers are in
tests/helpers/, hypothesis strategies in tests/strategies.py."""

from __future__ import annotations

from pathlib import Path

import pytest

# Helpers live in tests/helpers/; these names stay importable from conftest for older tests.
from helpers import SMALL_SUITE, result_rows, write_suite  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def stub():
    """A StubServer factory: `stub(answers=..., responder=..., **options)`; stopped after the test."""
    from evalseed.testing.stub_server import StubServer

    servers = []

    def make(**kwargs):
        srv = StubServer(**kwargs).start()
        servers.append(srv)
        return srv

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def cli(monkeypatch):
    """Run the evalseed CLI in-process; returns (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from evalseed.cli import app

    def invoke(*args: str):
        runner = CliRunner()
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke
