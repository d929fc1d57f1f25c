"""How a Comparison is shown: a terminal table (rich), Markdown (GitHub step summary), JUnit XML
(one testcase per compared suite, plus `overall`), and JSON. Files are written whole or not at
all (temporary file, then rename), so a CI step never uploads half a report."""

from __future__ import annotations

import json
import os
import re
import sys

from .compare_result import Comparison, Delta, Unit
from .files import write_atomic as _write_atomic

_FLIPS_SHOWN_TERMINAL = 8
_FLIPS_SHOWN_MARKDOWN = 25
# GitHub refuses a step summary over 1 MiB; flipped-case tables stop being added past this.
MARKDOWN_BUDGET = 900_000


def _pts(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:+.1f}"


def _pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f}%"


def _p(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _delta_text(d: Delta) -> str:
    """Cost: change in percent of the base mean with its interval; time: change in ms."""
    if d.n == 0 or d.base is None or d.diff is None:
        return "-"
    if d.unit == "ms":
        return f"{d.diff.estimate:+.0f} ms [{d.diff.low:+.0f}, {d.diff.high:+.0f}]"
    if not d.base:
        return f"{d.diff.estimate:+.2g} $"
    k = 100 / d.base
    return f"{k * d.diff.estimate:+.1f}% [{k * d.diff.low:+.1f}, {k * d.diff.high:+.1f}]"


def _acc_cell(u: Unit, side: str) -> str:
    iv = u.base_accuracy if side == "base" else u.cand_accuracy
    if iv.estimate != iv.estimate:
        return "-"
    return f"{100 * iv.estimate:.1f}% [{100 * iv.low:.1f}, {100 * iv.high:.1f}]"


def _diff_cell(u: Unit) -> str:
    return f"{_pts(u.diff.estimate)} [{_pts(u.diff.low)}, {_pts(u.diff.high)}]"


def _rows(cmp: Comparison) -> list[Unit]:
    return cmp.units + ([cmp.overall] if cmp.overall else [])


def _models(u: Unit) -> str:
    return u.base_model if u.base_model == u.cand_model else f"{u.base_model} -> {u.cand_model}"


def _verdict_word(u: Unit) -> str:
    if u.failed:
        return "REGRESSION"
    if u.infra_failed:
        return "INFRA FAILED"
    return "improved" if u.verdict == "improvement" else "ok"


def _unanswered_cell(u: Unit) -> str:
    e = u.unanswered
    return f"{_pct(e.get('base_rate'))} → {_pct(e.get('cand_rate'))}" if e else "-"


def _mdd_cell(u: Unit) -> str:
    mdd = (u.power or {}).get("mdd")
    if mdd is None:
        return "-"
    return f"{100 * mdd:.0f} pts" + ("" if u.power.get("can_fail") else " (cannot fail)")


def _left_out_text(u: Unit) -> str | None:
    """Why cases are missing from the quality test, or None when every paired case is in it."""
    lo = {k: v for k, v in (u.left_out or {}).items() if v}
    if not lo:
        return None
    parts = [f"{v} {k.split('_')[1].replace('error', 'errors')} on the {'base' if k.startswith('base') else 'candidate'}"
             for k, v in lo.items()]
    return (f"{u.n_pairs - u.n_answered} of {u.n_pairs} cases left out of the quality test, unanswered "
            f"({', '.join(parts)}); accuracy counts errors as failures")


# ---- terminal ---------------------------------------------------------------------------------


def print_table(cmp: Comparison, file=None) -> None:
    """The comparison as a rich table plus reasons and flipped cases, to stdout (or `file`)."""
    from rich.console import Console
    from rich.table import Table

    out = file or sys.stdout
    # CI logs are not terminals: rich would squeeze the table into 80 columns.
    width = None if out.isatty() or "COLUMNS" in os.environ else 200
    console = Console(file=out, width=width, highlight=False, soft_wrap=False)
    b, c = cmp.base, cmp.cand
    console.print(f"[bold]evalseed compare[/]  base {b.run_id} ({', '.join(b.models)})  vs  "
                  f"candidate {c.run_id} ({', '.join(c.models)})")
    pairs = {(u.base_model, u.cand_model) for u in cmp.units}
    many = len(pairs) > 1
    if not many:
        console.print(f"models: {_models(cmp.units[0])}", markup=False)
    table = Table(show_lines=False, header_style="bold",
                  caption="[..] = 95% intervals; detectable = the drop caught 80% of the time at this size; "
                          "cost in % of base mean per case",
                  caption_justify="left")
    cols = [("suite", "left")] + ([("models", "left")] if many else []) + [
        ("n", "right"), ("base acc", "right"), ("cand acc", "right"), ("diff pts", "right"),
        ("worse/better", "right"), ("p Holm", "right"), ("detectable", "right"), ("unanswered", "right"), ("cost", "right"),
        ("p50 latency", "right"), ("verdict", "left")]
    for col, just in cols:
        table.add_column(col, justify=just)
    for u in _rows(cmp):
        style = "red" if u.failed else ("yellow" if u.infra_failed else ("green" if u.verdict == "improvement" else None))
        cells = [u.name] + ([_models(u)] if many else []) + [
            str(u.n_pairs), _acc_cell(u, "base"), _acc_cell(u, "cand"), _diff_cell(u),
            f"{u.worse}/{u.better}", _p(u.p_holm), _mdd_cell(u), _unanswered_cell(u), _delta_text(u.cost),
            _delta_text(u.latency_p50), _verdict_word(u)]
        table.add_row(*cells, style=style)
    console.print(table)
    for u in _rows(cmp):
        noise = [f"{side} {n.unstable_cases}/{n.cases} cases unstable, pairwise disagreement {_pct(n.pairwise_disagreement)}"
                 for side, n in u.noise.items() if n]
        if noise:
            console.print(f"  {u.name} within-model noise: " + "; ".join(noise))
        if u.failed or u.infra_failed:
            for r in u.reasons:
                console.print(f"  [red]{u.name}[/]: {r}", markup=True)
        if (lo := _left_out_text(u)):
            console.print(f"  {u.name}: {lo}", markup=False)
        if (u.power or {}).get("warning"):
            console.print(f"  [yellow]warning[/]: {u.power['warning']}", markup=True)
        if not u.failed:
            for t in u.metric_tests:
                console.print(f"  {u.name} {t['metric']} {_pct(t['base'])} -> {_pct(t['cand'])}: {t['reason']}",
                              markup=False)
        flips = u.flips["regressed"]
        if flips and (u.failed or len(flips) <= _FLIPS_SHOWN_TERMINAL):
            shown = ", ".join(f.case_id for f in flips[:_FLIPS_SHOWN_TERMINAL])
            more = f" and {len(flips) - _FLIPS_SHOWN_TERMINAL} more" if len(flips) > _FLIPS_SHOWN_TERMINAL else ""
            console.print(f"  {u.name} pass->fail: {shown}{more}", markup=False)
    for n in cmp.notes:
        console.print(f"  note: {n}", markup=False)
    for n in cmp.new_suites:
        if n["failed"]:
            console.print(f"  [red]{n['suite']}[/]: {n['reason']}", markup=True)
    if cmp.partial:
        console.print(f"[bold yellow]PARTIAL comparison[/]: {'; '.join(cmp.partial)}; "
                      "only the cases both runs hold were compared.")
    if cmp.failed:
        console.print("[bold red]verdict: REGRESSION[/] (exit 1)")
    elif cmp.infra_failed:
        console.print("[bold yellow]verdict: the candidate's infrastructure failed[/] (exit 3): too many cases went "
                      "unanswered to judge it; not a quality regression")
    else:
        console.print("[bold green]verdict: no regression[/]")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]()!#|~])")


def _md_escape(s: object) -> str:
    """Text from runs (model names, case ids, answers) as literal Markdown: no HTML, no links,
    images, emphasis, code spans or table breaks, whoever named the model."""
    # `<` starts every HTML tag; `>` alone only quotes at a line's start, which a cell never is.
    text = str(s).replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.splitlines()))


def render_markdown(cmp: Comparison) -> str:
    """GitHub-flavoured Markdown sized for a step summary: verdict, table, reasons, flipped cases."""
    b, c = cmp.base, cmp.cand
    s = cmp.settings
    lines = [
        f"## evalseed compare: {'❌ regression' if cmp.failed else ('⚠ infrastructure failure' if cmp.infra_failed else '✅ no regression')}",
        "",
        f"Base {_md_escape(b.run_id)} ({_md_escape(', '.join(b.models))}) vs candidate {_md_escape(c.run_id)} "
        f"({_md_escape(', '.join(c.models))}). "
        f"Gate: Holm-adjusted McNemar p < {s['alpha']:g} and a drop of more than {100 * s['min_drop']:g} pts"
        + (f"; mean cost up to +{100 * s['max_cost_increase']:g}%" if s["max_cost_increase"] is not None else "")
        + (f"; p50 latency up to +{100 * s['max_latency_increase']:g}%" if s["max_latency_increase"] is not None else "")
        + ".",
        "",
        *([f"> ⚠ **Partial comparison**: {_md_escape('; '.join(cmp.partial))}; "
           "only the cases both runs hold were compared.", ""] if cmp.partial else []),
        "| suite | models | n | base acc | cand acc | diff pts [95% CI] | pass→fail / fail→pass | p (Holm) "
        "| detectable drop | unanswered | cost [95% CI] | p50 latency | p95 latency | TTFT p50 | verdict |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for u in _rows(cmp):
        name = f"**{_md_escape(u.name)}**" if u.failed else _md_escape(u.name)
        lines.append(
            f"| {name} | {_md_escape(_models(u))} | {u.n_pairs} | {_acc_cell(u, 'base')} | {_acc_cell(u, 'cand')} "
            f"| {_diff_cell(u)} | {u.worse} / {u.better} | {_p(u.p_holm)} | {_mdd_cell(u)} | {_unanswered_cell(u)} | {_delta_text(u.cost)} "
            f"| {_delta_text(u.latency_p50)} | {_delta_text(u.latency_p95)} | {_delta_text(u.ttft_p50)} "
            f"| {'❌ regression' if u.failed else ('⚠ infrastructure' if u.infra_failed else ('⬆ improved' if u.verdict == 'improvement' else 'ok'))} |"
        )
    lines.append("")
    for u in _rows(cmp):
        if u.failed or u.infra_failed:
            for r in u.reasons:
                lines.append(f"- **{_md_escape(u.name)}**: {_md_escape(r)}")
        if (lo := _left_out_text(u)):
            lines.append(f"- {_md_escape(u.name)}: {_md_escape(lo)}")
        if (u.power or {}).get("warning"):
            lines.append(f"- ⚠ {_md_escape(u.power['warning'])}")
        if not u.failed:
            for t in u.metric_tests:
                lines.append(f"- {_md_escape(u.name)} {_md_escape(t['metric'])} {_pct(t['base'])} → "
                             f"{_pct(t['cand'])}: {_md_escape(t['reason'])}")
        for side, n in u.noise.items():
            if n:
                lines.append(f"- {_md_escape(u.name)}: {side} model disagrees with itself on "
                             f"{n.unstable_cases} of {n.cases} repeated cases "
                             f"(pairwise disagreement {_pct(n.pairwise_disagreement)}).")
    for n in cmp.new_suites:
        if n["failed"]:
            lines.append(f"- **{_md_escape(n['suite'])}**: {_md_escape(n['reason'])}")
    for n in cmp.notes:
        lines.append(f"- note: {_md_escape(n)}")
    size = sum(len(x.encode()) + 1 for x in lines)
    for u in cmp.units:
        for kind, arrow in (("regressed", "pass→fail"), ("improved", "fail→pass")):
            flips = u.flips[kind]
            if not flips:
                continue
            if size > MARKDOWN_BUDGET:
                lines += ["", "…more flipped cases left out to stay under GitHub's 1 MiB step-summary limit "
                              "(see the HTML report or --json)."]
                return "\n".join(lines) + "\n"
            start = len(lines)
            lines += ["", f"<details><summary>{_md_escape(u.name)}: {len(flips)} {arrow}</summary>", "",
                      "| case | base | cand | expected | base answer | cand answer |", "|---|--:|--:|---|---|---|"]
            for f in flips[:_FLIPS_SHOWN_MARKDOWN]:
                cand = f"{f.cand:.2f}" + (f" ({f.cand_status})" if f.cand_status != "ok" else "")
                base = f"{f.base:.2f}" + (f" ({f.base_status})" if f.base_status != "ok" else "")
                cand_out = f.cand_output if f.cand_output is not None else (f.cand_error or "")
                lines.append(f"| {_md_escape(f.case_id)} | {base} | {cand} | {_md_escape(_short(f.expected))} "
                             f"| {_md_escape(_short(f.base_output))} | {_md_escape(_short(cand_out))} |")
            if len(flips) > _FLIPS_SHOWN_MARKDOWN:
                lines.append(f"\n…and {len(flips) - _FLIPS_SHOWN_MARKDOWN} more (see the HTML report).")
            lines += ["", "</details>"]
            size += sum(len(x.encode()) + 1 for x in lines[start:])
    return "\n".join(lines) + "\n"


def _short(v: object, n: int = 80) -> str:
    if v is None:
        return ""
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[: n - 1] + "…"


def render_junit(cmp: Comparison) -> str:
    """JUnit XML: one <testcase> per compared suite (and `overall`); a regression is a <failure>
    whose message is the first reason and whose text lists them all and the flipped cases."""
    import xml.etree.ElementTree as ET

    rows = _rows(cmp)
    failures = sum(u.failed for u in rows) + sum(n["failed"] for n in cmp.new_suites)
    errors = sum(u.infra_failed and not u.failed for u in rows)
    tests = len(rows) + len(cmp.new_suites)
    root = ET.Element("testsuites", name="evalseed compare", tests=str(tests), failures=str(failures),
                      errors=str(errors))
    suite = ET.SubElement(root, "testsuite", name=f"evalseed compare {cmp.base.run_id} -> {cmp.cand.run_id}",
                          tests=str(tests), failures=str(failures), errors=str(errors), skipped="0")
    props = ET.SubElement(suite, "properties")
    for k, v in (("base_run", cmp.base.run_id), ("cand_run", cmp.cand.run_id),
                 *((f"setting.{k}", v) for k, v in cmp.settings.items() if v is not None)):
        ET.SubElement(props, "property", name=k, value=str(v))
    if cmp.partial:
        ET.SubElement(props, "property", name="partial", value="; ".join(cmp.partial))
    for n in cmp.new_suites:
        tc = ET.SubElement(suite, "testcase", classname="evalseed.compare", name=n["suite"], time="0")
        if n["failed"]:
            ET.SubElement(tc, "failure", message=n["reason"], type="floor").text = n["reason"]
        ET.SubElement(tc, "system-out").text = (
            f"only in the candidate ({n['model']}): {n['cases']} cases, accuracy {_pct(n['accuracy'])}")
    for u in rows:
        tc = ET.SubElement(suite, "testcase", classname="evalseed.compare", name=u.name, time="0")
        summary = (f"{_models(u)}: n={u.n_pairs}, accuracy {_pct(u.base_accuracy.estimate)} -> "
                   f"{_pct(u.cand_accuracy.estimate)}, diff {_diff_cell(u)} pts, "
                   f"{u.worse} pass->fail / {u.better} fail->pass, Holm p={_p(u.p_holm)}, "
                   f"unanswered {_unanswered_cell(u).replace('→', '->')}, "
                   f"detectable drop (80% power) {_mdd_cell(u)}")
        lo = _left_out_text(u)
        if u.failed:
            fail_reasons = u.fail_reasons or u.reasons
            body = [summary, *u.reasons]
            regressed = u.flips["regressed"]
            if regressed:
                body.append("pass->fail: " + ", ".join(f.case_id for f in regressed))
            f = ET.SubElement(tc, "failure", message=f"{u.name}: {fail_reasons[0]}", type="regression")
            f.text = "\n".join(body)
        elif u.infra_failed:
            # JUnit's <error>: the test could not be carried out, which is what happened.
            e = ET.SubElement(tc, "error", message=f"{u.name}: {u.infra_reasons[0]}", type="infrastructure")
            e.text = "\n".join([summary, *u.reasons])
        warn = (u.power or {}).get("warning")
        ET.SubElement(tc, "system-out").text = "\n".join(
            [summary, *([lo] if lo else []), *([f"warning: {warn}"] if warn else []), *u.reasons])
    if cmp.partial:
        ET.SubElement(suite, "system-out").text = (
            "PARTIAL comparison: " + "; ".join(cmp.partial))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_markdown(cmp: Comparison, path: str) -> None:
    _write_atomic(path, render_markdown(cmp))


def write_junit(cmp: Comparison, path: str) -> None:
    _write_atomic(path, render_junit(cmp))


def write_json(cmp: Comparison, path: str) -> None:
    _write_atomic(path, json.dumps(cmp.to_dict(), indent=2, ensure_ascii=False) + "\n")
