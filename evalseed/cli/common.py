"""The command line's root: the Typer apps, the options several commands share, and the plumbing
that turns a command body's result or exception into an exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from ..errors import EvalseedError

_DEBUG = False


class _RootGroup(TyperGroup):
    """The root command: `--debug` is taken anywhere on the line (before a `--`), also after the
    subcommand, where a newcomer puts it."""

    def parse_args(self, ctx, args):
        global _DEBUG
        end = args.index("--") if "--" in args else len(args)
        _DEBUG = "--debug" in args[:end]
        args = [a for i, a in enumerate(args) if not (a == "--debug" and i < end)]
        return super().parse_args(ctx, args)


# -h everywhere; the subcommands inherit it from the root's context.
CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="evalseed",
    help="Evaluate, compare and route ByteDance Seed models over OpenAI-compatible APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_RootGroup,
    context_settings=CONTEXT,
)
route_app = typer.Typer(help="Learn which model to use per task, evaluate it, and pick.", no_args_is_help=True)
import_app = typer.Typer(help="Bring external data in: BFCL files as suites, outcome tables as runs.", no_args_is_help=True)
app.add_typer(route_app, name="route")
local_app = typer.Typer(help="The embedded offline model: build llama.cpp for this machine, show the build.",
                        no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(local_app, name="local")

DB_OPTION = typer.Option("evalseed.duckdb", "--db", help="The DuckDB file.")
RUNS_OPTION = typer.Option(None, "--runs", help="Run ids (or prefixes, or latest), comma-separated.")
SINCE_OPTION = typer.Option(None, "--since", help="Also every run started on or after this date (2026-11-01).")
# The gate's options shared by `compare` and `run --gate`: one definition each.
MAX_ERROR_RATE_OPTION = typer.Option(0.02, "--max-error-rate", help="Share of the candidate's rows that may go "
                                     "unanswered (error or skipped) before a significant rise is an infrastructure failure (exit 3).")
ALLOW_PARTIAL_OPTION = typer.Option(False, "--allow-partial", help="Compare the cases both runs hold even when the "
                                    "candidate lacks some of the base's or a run did not finish (every output says so).")


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"evalseed {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks (also accepted after the subcommand)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    global _DEBUG
    _DEBUG = _DEBUG or debug



# ---- plumbing ---------------------------------------------------------------------------------


def fail(code: int, message: str) -> None:
    typer.echo(f"evalseed: {message}", err=True)
    raise typer.Exit(code)


# What to do next, added to a routing error that does not say it (the router's own messages).
ROUTE_HINTS = {
    "results for one model only": "name runs of other models too: --runs A,B or --since DATE (`evalseed runs` "
                                  "lists them with their models)",
}


def hinted(fn, hints: dict):
    """`fn` whose UsageErrors containing a key of `hints` end with that next step."""
    from ..errors import UsageError

    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UsageError as e:
            text = str(e)
            for needle, hint in hints.items():
                if needle in text and hint not in text:
                    raise UsageError(f"{text.rstrip('.')}; {hint}.") from e
            raise

    return call


def guard(fn, *args, **kwargs) -> int:
    """Call a command body; turn our exceptions into one line on stderr and an exit code."""
    try:
        result = fn(*args, **kwargs)
    except EvalseedError as e:
        if _DEBUG:
            raise
        typer.echo(f"evalseed: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        typer.echo("evalseed: interrupted; finished cases are stored (resume with --resume RUN_ID).", err=True)
        return 130
    return int(result or 0)


def json_to_stdout(json_out: Optional[str], body) -> int:
    """Run `body(json_path)`; with `--json -`, into a temporary file whose JSON then goes to
    stdout alone, the command's human output to stderr."""
    if json_out != "-":
        return body(json_out or None)
    import contextlib
    import tempfile

    with tempfile.TemporaryDirectory(prefix="evalseed-json-") as tmp:
        path = str(Path(tmp) / "out.json")
        with contextlib.redirect_stdout(sys.stderr):
            code = body(path)
        if Path(path).exists():
            sys.stdout.write(Path(path).read_text(encoding="utf-8").rstrip("\n") + "\n")
    return code


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)
