"""`evalseed local install|info`: the embedded offline model's build."""

from __future__ import annotations


import typer

from .common import local_app, guard as _guard


@local_app.command("install")
def local_install(
    rebuild: bool = typer.Option(False, "--rebuild", help="Build again even when evalseed's cache has the wheel."),
) -> None:
    """Build llama.cpp (llama-cpp-python) without native CPU tuning and install it here."""
    from ..local_build import install

    def say(line: str) -> None:
        typer.echo(f"evalseed: {line}", err=True)

    raise typer.Exit(_guard(lambda: install(rebuild=rebuild, say=say) and 0))


@local_app.command("info")
def local_info(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Which llama.cpp build is installed, what this CPU needs, and what the build was compiled with."""
    import json

    from ..local_build import installed, mismatch, profile, system_info

    have, want = installed(), profile()
    info = {"installed_version": have.version, "installed_from": have.origin, "built_for": have.profile,
            "this_cpu": want.name, "portable_build_args": list(want.cmake_args),
            "problem": mismatch(have, want), "system_info": system_info() if have.version else None}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            typer.echo(f"{key:>20}: {' '.join(value) if isinstance(value, list) else value}")
    raise typer.Exit(0)
