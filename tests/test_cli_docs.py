"""Every command of the Typer app is in README's command table and in docs/design.md's "Command
line" block, with every one of its options (issue 20's leftovers): a new command or option that
is not documented fails here."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from helpers.cli_app import commands

COMMANDS = commands()


def _options(cmd) -> list[list[str]]:
    """Each option's long names (any one of them documents it); --help left out."""
    out = []
    for p in cmd.params:
        names = [o for o in list(getattr(p, "opts", [])) + list(getattr(p, "secondary_opts", [])) if o.startswith("--")]
        if names and type(p).__name__ != "TyperArgument" and "--help" not in names:
            out.append(names)
    return out


def _names_match(words: list[str], name: str) -> bool:
    """`evalseed route train|eval|pick ...` documents `route train`; `evalseed run PATH...` `run`."""
    parts = name.split()
    if len(words) < 1 + len(parts) or words[0] != "evalseed":
        return False
    return all(part in words[1 + i].split("|") for i, part in enumerate(parts))


def _readme_rows() -> list[tuple[list[str], str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| command | what it does |"):]
    table = table[:table.index("\n\n")]
    rows = []
    for line in table.splitlines()[2:]:
        cells = re.split(r"(?<!\\)\|", line)
        head = cells[1].strip().strip("`").replace("\\|", "|")
        rows.append((head.split(), line.replace("\\|", "|")))
    return rows


def _design_entries() -> list[tuple[list[str], str]]:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text[text.index("## Command line"):]
    block = section[section.index("```\n") + 4:]
    block = block[:block.index("```")]
    entries: list[tuple[list[str], str]] = []
    for line in block.splitlines():
        if line.startswith("evalseed "):
            entries.append((line.split(), line))
        elif entries and line.startswith(" "):  # a continuation of the entry above
            entries[-1] = (entries[-1][0], entries[-1][1] + "\n" + line)
    return entries


def _documented(entries, name: str) -> str:
    return "\n".join(text for words, text in entries if _names_match(words, name))


def test_the_app_has_the_commands_this_test_expects():
    assert {"run", "init", "merge", "export", "plan-gate", "judge-pair", "route serve", "route pick"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_readme_command_table_lists_the_command_and_its_options(name):
    text = _documented(_readme_rows(), name)
    assert text, f"README's command table has no row for `evalseed {name}`"
    missing = [o[0] for o in _options(COMMANDS[name]) if not any(re.search(re.escape(n) + r"(?![\w-])", text)
                                                                 for n in o)]
    assert not missing, f"README's row for `evalseed {name}` does not name {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_design_command_line_lists_the_command_and_its_options(name):
    text = _documented(_design_entries(), name)
    assert text, f"docs/design.md's Command line block has no line for `evalseed {name}`"
    missing = [o[0] for o in _options(COMMANDS[name]) if not any(re.search(re.escape(n) + r"(?![\w-])", text)
                                                                 for n in o)]
    assert not missing, f"docs/design.md's line for `evalseed {name}` does not name {missing}"
