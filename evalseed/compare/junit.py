"""A Comparison as JUnit XML: one testcase per compared suite, plus `overall`."""

from __future__ import annotations

from .cells import diff_cell, left_out_text, mdd_cell, models_text, p_text, pct_text, unanswered_cell, unit_rows
from .result import Comparison


def render_junit(cmp: Comparison) -> str:
    """JUnit XML: one <testcase> per compared suite (and `overall`); a regression is a <failure>
    whose message is the first reason and whose text lists them all and the flipped cases."""
    import xml.etree.ElementTree as ET

    rows = unit_rows(cmp)
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
            f"only in the candidate ({n['model']}): {n['cases']} cases, accuracy {pct_text(n['accuracy'])}")
    for u in rows:
        tc = ET.SubElement(suite, "testcase", classname="evalseed.compare", name=u.name, time="0")
        summary = (f"{models_text(u)}: n={u.n_pairs}, accuracy {pct_text(u.base_accuracy.estimate)} -> "
                   f"{pct_text(u.cand_accuracy.estimate)}, diff {diff_cell(u)} pts, "
                   f"{u.worse} pass->fail / {u.better} fail->pass, Holm p={p_text(u.p_holm)}, "
                   f"unanswered {unanswered_cell(u).replace('→', '->')}, "
                   f"detectable drop (80% power) {mdd_cell(u)}")
        lo = left_out_text(u)
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
