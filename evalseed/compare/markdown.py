"""A Comparison as GitHub-flavoured Markdown, sized for a step summary."""

from __future__ import annotations

import json
import re

from .cells import acc_cell, delta_text, diff_cell, left_out_text, mdd_cell, models_text
from .cells import p_text, pct_text, unanswered_cell, unit_rows
from .result import Comparison

_FLIPS_SHOWN_MARKDOWN = 25
# GitHub refuses a step summary over 1 MiB; flipped-case tables stop being added past this.
MARKDOWN_BUDGET = 900_000

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
    for u in unit_rows(cmp):
        name = f"**{_md_escape(u.name)}**" if u.failed else _md_escape(u.name)
        lines.append(
            f"| {name} | {_md_escape(models_text(u))} | {u.n_pairs} | {acc_cell(u, 'base')} | {acc_cell(u, 'cand')} "
            f"| {diff_cell(u)} | {u.worse} / {u.better} | {p_text(u.p_holm)} | {mdd_cell(u)} | {unanswered_cell(u)} | {delta_text(u.cost)} "
            f"| {delta_text(u.latency_p50)} | {delta_text(u.latency_p95)} | {delta_text(u.ttft_p50)} "
            f"| {'❌ regression' if u.failed else ('⚠ infrastructure' if u.infra_failed else ('⬆ improved' if u.verdict == 'improvement' else 'ok'))} |"
        )
    lines.append("")
    for u in unit_rows(cmp):
        if u.failed or u.infra_failed:
            for r in u.reasons:
                lines.append(f"- **{_md_escape(u.name)}**: {_md_escape(r)}")
        if (lo := left_out_text(u)):
            lines.append(f"- {_md_escape(u.name)}: {_md_escape(lo)}")
        if (u.power or {}).get("warning"):
            lines.append(f"- ⚠ {_md_escape(u.power['warning'])}")
        if not u.failed:
            for t in u.metric_tests:
                lines.append(f"- {_md_escape(u.name)} {_md_escape(t['metric'])} {pct_text(t['base'])} → "
                             f"{pct_text(t['cand'])}: {_md_escape(t['reason'])}")
        for side, n in u.noise.items():
            if n:
                lines.append(f"- {_md_escape(u.name)}: {side} model disagrees with itself on "
                             f"{n.unstable_cases} of {n.cases} repeated cases "
                             f"(pairwise disagreement {pct_text(n.pairwise_disagreement)}).")
    for new in cmp.new_suites:
        if new["failed"]:
            lines.append(f"- **{_md_escape(new['suite'])}**: {_md_escape(new['reason'])}")
    for note in cmp.notes:
        lines.append(f"- note: {_md_escape(note)}")
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
