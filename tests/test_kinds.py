"""Every registered kind is whole in its package and reaches every view through the registry:
parametrised over `evalseed.kinds.KINDS`, so a new kind (one folder, one registry line) is covered
here without editing a list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from evalseed import store
from evalseed.kinds import KINDS, all_kinds, get_kind, score_name
from evalseed.kinds.base import Kind, RowDetails
from evalseed.report import data, render
from evalseed.report.synthetic import build_run

from conftest import ROOT

PACKAGE = ROOT / "evalseed"

# Kind names that may appear as string constants outside evalseed/kinds/, and why. Anything else
# is an if-chain or a table keyed by kind names, which belongs in the kind's package.
ALLOWED_OUTSIDE = {
    "importers/bfcl.py": {"tool_calling"},  # writes suites of that kind
    # "image" is also a *model* kind (ModelInfo.kind: text or image), which these test.
    "costs.py": {"image"},
    "engine/budget.py": {"image"},
    "config.py": {"image"},
    "builtin_models.py": {"image"},
    "report/synthetic.py": {"image"},
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kinds")
    db = tmp / "r.duckdb"
    con = store.open_db(db)
    build_run(con, "run-k", cases_per_suite=12, image_dir=str(tmp / "out" / "images"))
    con.close()
    return db, tmp


@pytest.mark.parametrize("name", list(KINDS))
def test_a_kind_is_one_package(name):
    kind = get_kind(name)
    assert isinstance(kind, Kind) and kind.name == name
    folder = PACKAGE / "kinds" / name
    for part in ("__init__.py", "kind.py", "details.py", "metrics.py", "report.py"):
        assert (folder / part).is_file(), f"{name}: {part} missing"
    assert (PACKAGE / "kinds" / kind.report_template).is_file()
    assert kind.title and isinstance(score_name(name), str)
    # Its commented starter suite for `evalseed init` is a suite of this kind.
    assert kind.starter_file.endswith(".yaml") and yaml.safe_load(kind.starter())["kind"] == name
    # Typed details: a TypedDict extending the common row details.
    src = (folder / "details.py").read_text(encoding="utf-8")
    assert re.search(r"class \w+Details\(RowDetails", src), f"{name}: no typed details"
    assert RowDetails.__annotations__


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_has_synthetic_rows_metrics_and_a_report_section(synth, name):
    db, tmp = synth
    kind = get_kind(name)
    assert kind.synthetic_suite(12), f"{name}: no synthetic rows, so the report tests cannot cover it"
    con = store.open_db(db, read_only=True)
    try:
        data.prepare_view(con, ["run-k"])
        figs = data.figures(con)
        mine = [m for m in figs["suites"].values() if m.kind == name]
        assert mine and all(m.counts.rows for m in mine)
        sections = data.kind_sections(con, str(tmp), figs)
        assert sections.get(name), f"{name}: no report section data"
        page = render.render_report(con, ["run-k"], tmp / "out").read_text(encoding="utf-8")
    finally:
        con.close()
    assert f'<section id="kind-{name}">' in page
    assert f"<h2>{kind.title}</h2>" in page.replace("&amp;", "&")


def test_the_report_draws_sections_in_report_order():
    kinds = all_kinds()
    order = [k.name for k in sorted(kinds, key=lambda k: k.report_order)]
    views = render.kind_views({k.name: [{"suite": "s", "maps": []}] for k in kinds})
    assert [v["name"] for v in views] == order


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings}


def test_no_module_outside_the_kinds_names_a_kind():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(("kinds/", "testing/")):
            continue
        named = (_string_constants(path) & set(KINDS)) - ALLOWED_OUTSIDE.get(rel, set())
        if named:
            found[rel] = sorted(named)
    for path in sorted((PACKAGE / "report" / "templates").glob("*.j2")):
        named = {k for k in KINDS if re.search(rf"""["'.]{k}\b""", path.read_text(encoding="utf-8"))}
        if named:
            found[path.relative_to(PACKAGE).as_posix()] = sorted(named)
    assert not found, f"kind names outside evalseed/kinds/ (move the logic into a Kind hook): {found}"
