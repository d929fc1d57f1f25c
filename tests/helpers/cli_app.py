"""The command line as data: every command of the Typer app by its full name (`route train`), for
tests that walk the interface and the docs."""

from __future__ import annotations

from typing import Any, Iterator


def walk(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(cmd, "commands"):
            yield from walk(cmd, full + " ")
        else:
            yield full, cmd


def commands() -> dict[str, Any]:
    """Full command name -> its click command."""
    import typer.main

    from evalseed.cli import app

    return dict(walk(typer.main.get_command(app)))


def train_router(folder: Any, header: list[str], rows: list[list[str]], prices: list[str]) -> Any:
    """A router trained through the CLI on an outcome table (`import outcomes`, `route train`);
    returns its file."""
    import csv

    from typer.testing import CliRunner

    from evalseed.cli import app

    with (folder / "o.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    runner = CliRunner()
    price_args = [a for p in prices for a in ("--price", p)]
    for args in (["import", "outcomes", str(folder / "o.csv"), "--db", str(folder / "o.duckdb"), *price_args],
                 ["route", "train", "--db", str(folder / "o.duckdb"), "-o", str(folder / "r.json")]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
    return folder / "r.json"
