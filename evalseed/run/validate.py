"""`evalseed validate`: check suite files without running them, as text or JSON."""

from __future__ import annotations

import sys

from ..config import load_config
from .plan import undocumented_note


def validate_command(paths: list[str], config: str | None, as_json: bool = False) -> int:
    from ..kinds import get_kind
    from ..suites.loader import validate_paths

    load_config(config)
    good, problems = validate_paths(paths)
    if as_json:
        import json

        print(json.dumps({
            "suites": [{"path": s.path, "name": s.name, "kind": s.kind, "cases": sum(1 for _ in get_kind(s.kind).cases(s)),
                        "undocumented_params": s.undocumented_params} for s in good],
            "problems": [{"file": p.file, "line": p.line, "key": p.path, "message": p.message} for p in problems],
        }, indent=2))
        return 2 if problems else 0
    for s in good:
        n = sum(1 for _ in get_kind(s.kind).cases(s))
        print(f"ok  {s.path}  {s.name} ({s.kind}, {n} cases)")
        if s.undocumented_params:
            print(f"evalseed: warning: {undocumented_note(s)}", file=sys.stderr)
    for p in problems:
        print(f"evalseed: {p}", file=sys.stderr)
    return 2 if problems else 0
