"""The `evalseed` program's entry point. `evalseed route pick` is meant to be called from shell
scripts and CI steps once per prompt, so its common forms skip Typer altogether (Typer 0.29
builds pydantic adapters to coerce parameters: about 0.3 s before any work); anything else, and
any form of `route pick` this parser does not know (`-h`, a bad value, an unknown option), goes
to the Typer app in evalseed.cli, which says what is wrong as usual."""

from __future__ import annotations

import sys

# route pick's options: name -> (parameter, type); keep in step with evalseed.cli.route.route_pick.
_PICK_OPTIONS = {"--router": ("router_path", str), "--kind": ("kind", str), "--suite": ("suite", str),
                 "--tags": ("tags", str), "--lambda": ("lam", float), "--mu": ("mu", float),
                 "--slo-ms": ("slo_ms", float)}


def parse_pick(args: list[str]) -> dict | None:
    """`route pick` arguments as pick_command's, or None for anything to leave to Typer."""
    out: dict = {"router_path": "router.json", "text": None, "kind": None, "suite": None, "tags": None,
                 "lam": None, "mu": None, "slo_ms": None, "as_json": False, "debug": False}
    i = 0
    rest_positional = False
    while i < len(args):
        a = args[i]
        i += 1
        if rest_positional or a == "-" or not a.startswith("-"):
            if out["text"] is not None:
                return None
            out["text"] = a
            continue
        if a == "--":
            rest_positional = True
            continue
        if a in ("--json", "--debug"):
            out["as_json" if a == "--json" else "debug"] = True
            continue
        name, eq, value = a.partition("=")
        if name not in _PICK_OPTIONS:
            return None
        if not eq:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
        key, typ = _PICK_OPTIONS[name]
        if typ is float:
            try:
                number = float(value)
            except ValueError:
                return None
            if not number >= 0:  # min=0 in the CLI, NaN refused too
                return None
            out[key] = number
        else:
            out[key] = value
    return out if out["text"] is not None else None


def fast_pick(args: list[str]) -> int | None:
    opts = parse_pick(args)
    if opts is None:
        return None
    from .errors import EvalseedError
    from .router.commands import pick_command

    debug = opts.pop("debug")
    try:
        return int(pick_command(opts.pop("router_path"), opts.pop("text"), **opts) or 0)
    except EvalseedError as e:
        if debug:
            raise
        print(f"evalseed: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


def main() -> None:
    argv = sys.argv[1:]
    if argv[:2] == ["route", "pick"]:
        try:
            code = fast_pick(argv[2:])
        except BrokenPipeError:
            sys.exit(0)
        if code is not None:
            sys.exit(code)
    from .cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
