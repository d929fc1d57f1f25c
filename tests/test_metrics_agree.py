"""One set of numbers: the run summary (`evalseed runs RUN_ID --json`), the figures the report
embeds (`metrics-data`) and `evalseed compare --json` give the same accuracy, macro-F1 and kind
metrics for the same rows, and those equal an independent computation from the generated rows.
Then the metric definitions' own properties (docs/design.md, "Metrics")."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalseed import metrics, store
from evalseed.kinds import get_kind
from evalseed.kinds.classification.labels import label_metrics
from evalseed.report.data import EMBEDDED_MEASURES
from strategies import metric_run_answers, metric_run_shapes, outcome_rows

MODEL = "seed-1-6-250915"
_T0 = datetime(2026, 11, 26, 12, 0, 0)


# ---- generated runs ---------------------------------------------------------------------------


def _row(suite, kind, case_id, repeat, status, passed, details, score):
    return {"suite": suite, "case_id": case_id, "kind": kind, "model": MODEL, "provider": "test", "repeat": repeat,
            "status": status, "error": "APIError: boom" if status == "error" else
            ("too long for the window" if status == "skipped" else None),
            "input_text": f"input {case_id}", "request": {}, "response": {}, "output_text": "x",
            "score": score if status == "ok" else None, "passed": passed if status == "ok" else None,
            "details": details, "latency_ms": 100.0 + repeat if status == "ok" else None, "cost_usd": 0.001,
            "attempts": 1, "replayed": False, "started_at": _T0, "finished_at": _T0}


def build_rows(shape, outcome) -> list[dict]:
    """The rows a real run would store for these outcomes (details as the kinds write them)."""
    rows = []
    for i, (expected, reps) in enumerate(zip(shape["expected"], outcome["classification"])):
        for r, (what, other) in enumerate(reps):
            predicted = {"right": expected, "wrong": other, "unparsed": None}.get(what)
            details = {"expected": expected}
            status = what if what in ("error", "skipped") else "ok"
            if status == "ok":
                details.update(predicted=predicted, unparsed=predicted is None)
            ok = status == "ok" and predicted == expected
            rows.append(_row("sentiment", "classification", f"c{i:03d}", r, status, ok, details, float(ok)))
    for i, reps in enumerate(outcome["extract"]):
        for r, (what, f1) in enumerate(reps):
            status = what if what in ("error", "skipped") else "ok"
            details = {"expected": {"vendor": "ACME", "total": 12.5}}
            if status == "ok":
                parsed = what != "unparsed"
                f1 = f1 if parsed else 0.0
                details.update(parsed=parsed, schema_valid=parsed and what == "right", fenced=r == 1,
                               precision=f1, recall=f1, f1=f1, mismatches=[], missing=[] if f1 == 1 else ["total"])
            ok = status == "ok" and what == "right" and f1 == 1.0
            rows.append(_row("extract", "json_extraction", f"e{i:03d}", r, status, ok, details, f1))
    return rows


def store_run(con, run_id: str, rows: list[dict], minutes: int) -> None:
    store.insert_run(con, run_id, label=None, git_sha=None, version="test", config={})
    con.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", [_T0.replace(minute=minutes), run_id])
    w = store.ResultWriter(con, run_id)
    for r in rows:
        w.add(dict(r, run_id=run_id))
    w.flush()
    store.finish_run(con, run_id, "finished")


# ---- an independent computation ----------------------------------------------------------------


def oracle(rows: list[dict]) -> dict:
    """Accuracy and macro-F1 straight from the definition, one suite's rows at a time."""
    by_case: dict[str, list[bool]] = defaultdict(list)
    asked = [r for r in rows if r["status"] != "skipped"]
    for r in asked:
        by_case[r["case_id"]].append(r["status"] == "ok" and r["passed"] is True)
    rates = [sum(v) / len(v) for v in by_case.values()]
    out = {"accuracy": sum(rates) / len(rates) if rates else None, "errors": sum(r["status"] == "error" for r in rows),
           "skipped": sum(r["status"] == "skipped" for r in rows), "ok": sum(r["status"] == "ok" for r in rows)}
    if rows and rows[0]["kind"] == "classification":
        truth = [r["details"]["expected"] for r in asked]
        guess = [r["details"].get("predicted") if r["status"] == "ok" else None for r in asked]
        labels = sorted(set(truth) | {g for g in guess if g is not None})
        f1 = []
        for lab in labels:
            tp = sum(t == lab and g == lab for t, g in zip(truth, guess))
            fp = sum(t != lab and g == lab for t, g in zip(truth, guess))
            fn = sum(t == lab and g != lab for t, g in zip(truth, guess))
            f1.append(2 * tp / (2 * tp + fp + fn))
        out["macro_f1"] = sum(f1) / len(f1) if f1 else None
    return out


# ---- the three views --------------------------------------------------------------------------


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: dict[str, str] = {}
        self._id: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._id = a.get("id") if tag == "script" else None

    def handle_data(self, d):
        if self._id:
            self.blocks[self._id] = self.blocks.get(self._id, "") + d

    def handle_endtag(self, tag):
        self._id = None


def summary_view(cli, db, run_id) -> dict[str, dict]:
    code, out, err = cli("runs", run_id, "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["run_id"] == run_id
    return {r["suite"]: r for r in doc["results"]}


def report_view(cli, db, out_dir, run_ids) -> dict[tuple[str, str], dict]:
    code, out, err = cli("report", *run_ids, "--db", db, "-o", out_dir)
    assert code == 0, err
    page = _Scripts()
    page.feed(Path(out.strip()).read_text(encoding="utf-8"))
    return {(r["run_id"], r["suite"]): r for r in json.loads(page.blocks["metrics-data"]) if r["suite"] is not None}


def compare_view(cli, db, tmp, a, b) -> dict | None:
    path = tmp / "compare.json"
    code, _, err = cli("compare", a, b, "--db", db, "--json", path)
    if code == 2:  # no case answered on both sides: nothing to compare, nothing shown
        assert "no cases in common" in err
        return None
    # 3: the candidate left significantly more cases unanswered (the gate's infrastructure
    # verdict); its figures are written all the same and must agree too.
    assert code in (0, 1, 3), err
    return json.loads(path.read_text())


def same(a, b) -> bool:
    """Equal, floats to 1e-12 (sums taken in another order), recursively."""
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


# What every view's record holds beside the kind's own metrics.
COUNTS = ("cases", "rows", "ok", "errors", "skipped")
ENVELOPE = {"suite", "model", "entrant", "run_id", "kind", "latency_p50_ms", "latency_p95_ms", "cost_usd",
            "replayed", *EMBEDDED_MEASURES}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_summary_report_and_compare_agree(cli, tmp_path_factory, data):
    shape = data.draw(metric_run_shapes())
    rows = {run: build_rows(shape, data.draw(metric_run_answers(shape))) for run in ("run-a", "run-b")}
    tmp = tmp_path_factory.mktemp("agree")
    db = tmp / "m.duckdb"
    con = store.open_db(db)
    for i, (run, rs) in enumerate(rows.items()):
        store_run(con, run, rs, minutes=i)
    con.close()

    summaries = {run: summary_view(cli, db, run) for run in rows}
    report = report_view(cli, db, tmp / "reports", list(rows))
    comparison = compare_view(cli, db, tmp, "run-a", "run-b")
    units = {u["suite"]: u for u in comparison["units"]} if comparison else {}

    for run, rs in rows.items():
        for suite in ("sentiment", "extract"):
            mine = [r for r in rs if r["suite"] == suite]
            want = oracle(mine)
            s = summaries[run][suite]
            rep = report[(run, suite)]
            # The summary against the definition, computed here from the generated rows.
            for key, value in want.items():
                assert same(s[key], value), (run, suite, key, s[key], value)
            assert s["cases"] == len({r["case_id"] for r in mine}) and s["rows"] == len(mine)
            # The report embeds the very same record.
            assert set(rep) - ENVELOPE == set(s) - ENVELOPE
            for key in set(s) - ENVELOPE:
                assert same(rep[key], s[key]), (run, suite, key, rep[key], s[key])
            assert rep["model"] == s["model"] == MODEL and rep["kind"] == s["kind"]
            # Compare shows each side's figures over the cases both runs asked; cases skipped on
            # both sides are not paired, which changes the counts but no rate.
            unit = units.get(suite)
            if unit is None:
                continue
            side = "base" if run == "run-a" else "cand"
            got = unit[f"{side}_metrics"]
            assert same(unit[f"{side}_accuracy"]["estimate"], s["accuracy"]), (run, suite)
            for key in set(s) - ENVELOPE - {"cases", "rows", "skipped"}:
                assert same(got[key], s[key]), (run, suite, key, got[key], s[key])


def test_the_agreement_test_sees_more_than_twenty_labels_and_errors():
    """The generator above must reach what the report once got wrong: over 20 labels, error rows,
    skipped rows and repeats (else the agreement would hold vacuously)."""
    from hypothesis import find

    runs = metric_run_shapes().flatmap(lambda shape: metric_run_answers(shape).map(lambda a: (shape, a)))
    find(runs, lambda t: len(set(t[0]["expected"])) > 20 and t[0]["repeats"] > 1
         and {"error", "skipped", "wrong", "unparsed"} <= {w for reps in t[1]["classification"] for w, _ in reps})
    shape = {"labels": [f"label-{i:02d}" for i in range(25)], "expected": ["label-00", "label-07"],
             "extract_cases": 1, "repeats": 2}
    rows = build_rows(shape, {"classification": [[("error", None), ("right", None)], [("skipped", None)] * 2],
                              "extract": [[("wrong", 0.5), ("unparsed", 0.0)]]})
    want = oracle([r for r in rows if r["suite"] == "sentiment"])
    assert want["accuracy"] == 0.5 and want["errors"] == 1 and want["skipped"] == 2


# ---- `evalseed runs` --------------------------------------------------------------------------


def test_runs_lists_runs_and_prints_one_runs_summary(cli, tmp_path):
    shape = {"labels": ["a", "b"], "expected": ["a", "b", "a", "b"], "extract_cases": 1, "repeats": 1}
    rows = build_rows(shape, {"classification": [[("right", "b")], [("wrong", "a")], [("error", "b")], [("skipped", "a")]],
                              "extract": [[("right", 1.0)]]})
    db = tmp_path / "r.duckdb"
    con = store.open_db(db)
    store_run(con, "run-x", rows, minutes=0)
    con.close()
    code, out, err = cli("runs", "--db", db)
    assert code == 0 and "run-x" in out, err
    code, out, _ = cli("runs", "--db", db, "--json")
    assert [r["run_id"] for r in json.loads(out)] == ["run-x"] and json.loads(out)[0]["rows"] == 5
    s = summary_view(cli, db, "run-x")["sentiment"]
    # The example: one pass among three asked cases (an error is a failure), the skipped
    # case out and counted beside it.
    assert (s["cases"], s["ok"], s["errors"], s["skipped"], s["accuracy"]) == (4, 2, 1, 1, 1 / 3)
    code, out, _ = cli("runs", "latest", "--db", db)
    assert code == 0 and "sentiment" in out and "0.333" in out
    code, _, err = cli("runs", "nope", "--db", db, "--json")
    assert code == 2 and "no run 'nope'" in err


# ---- the definitions' own properties ----------------------------------------------------------

def _cls_rows(spec) -> list[dict]:
    """(case, outcome, expected, wrong answer) -> classification rows; a case keeps its first
    expected label, repeats numbered in order."""
    first: dict[int, str] = {}
    reps: dict[int, int] = defaultdict(int)
    rows = []
    for case, what, expected, other in spec:
        expected = first.setdefault(case, expected)
        status = what if what in ("error", "skipped") else "ok"
        predicted = {"right": expected, "wrong": other if other != expected else None, "unparsed": None}.get(what)
        details = {"expected": expected}
        if status == "ok":
            details.update(predicted=predicted, unparsed=predicted is None)
        rows.append({"case_id": f"c{case}", "repeat": reps[case], "status": status,
                     "passed": status == "ok" and predicted == expected, "details": details})
        reps[case] += 1
    return rows


KIND = get_kind("classification")
_PROPS = settings(max_examples=60, deadline=None)


@_PROPS
@given(outcome_rows)
def test_accuracy_and_macro_f1_are_rates(spec):
    m = KIND.suite_metrics(_cls_rows(spec))
    asked = [r for r in _cls_rows(spec) if r["status"] != "skipped"]
    if not asked:
        assert m["accuracy"] is None and m["macro_f1"] is None
        return
    assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["macro_f1"] <= 1.0
    assert m["ok"] + m["errors"] + m["skipped"] == m["rows"] == len(spec)
    assert same(m, {**m, **oracle([{**r, "kind": "classification"} for r in _cls_rows(spec)])})


@_PROPS
@given(outcome_rows, st.data())
def test_an_error_never_raises_accuracy_or_macro_f1(spec, data):
    rows = _cls_rows(spec)
    asked = [i for i, r in enumerate(rows) if r["status"] != "skipped"]
    if not asked:
        return
    i = data.draw(st.sampled_from(asked))
    before = KIND.suite_metrics(rows)
    failed = [dict(r) for r in rows]
    failed[i] = {**rows[i], "status": "error", "passed": None, "details": {"expected": rows[i]["details"]["expected"]}}
    after = KIND.suite_metrics(failed)
    assert after["accuracy"] <= before["accuracy"] + 1e-12
    # A wrong label taken back can lift that label's precision; a right answer or no label cannot.
    if rows[i]["details"].get("predicted") in (None, rows[i]["details"]["expected"]):
        assert after["macro_f1"] <= before["macro_f1"] + 1e-12
    if rows[i]["passed"]:
        assert after["accuracy"] < before["accuracy"]
    assert after["errors"] == before["errors"] + (rows[i]["status"] != "error")


@_PROPS
@given(outcome_rows, st.lists(st.tuples(st.integers(0, 12), st.sampled_from("abcde")), min_size=1, max_size=6))
def test_skipped_rows_change_no_rate(spec, skips):
    rows = _cls_rows(spec)
    more = rows + [{"case_id": f"c{case}", "repeat": 100 + j, "status": "skipped", "details": {"expected": label}}
                   for j, (case, label) in enumerate(skips)]
    before, after = KIND.suite_metrics(rows), KIND.suite_metrics(more)
    assert after["skipped"] == before["skipped"] + len(skips)
    for key in ("accuracy", "macro_f1", "unparsed", "confusion", "ok", "errors"):
        assert same(after[key], before[key]), key


@_PROPS
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=30))
def test_accuracy_is_the_mean_of_case_rates_and_its_interval_holds_it(tallies):
    cases = [(min(p, a), a) for p, a in tallies]
    acc = metrics.Accuracy.of_cases(cases)
    asked = [(p, a) for p, a in cases if a]
    if not asked:
        assert acc.estimate is None and acc.cases == 0
        return
    assert acc.cases == len(asked)
    assert acc.estimate == pytest.approx(sum(p / a for p, a in asked) / len(asked))
    iv = acc.interval(n_resamples=500, seed=1)
    assert 0.0 <= iv.low <= acc.estimate + 1e-12 and acc.estimate - 1e-12 <= iv.high <= 1.0
    assert (acc.method == "wilson") == all(a == 1 for _, a in asked)


def test_macro_f1_counts_every_label_not_the_first_twenty():
    # 25 labels, each expected once and answered right, plus one wrong answer naming a 26th label:
    # every label counts, the 26th with F1 0.
    cells = {(f"l{i:02d}", f"l{i:02d}"): 1 for i in range(25)}
    cells[("l00", "l99")] = 1
    m = label_metrics(cells)
    assert m["labels"] == 26
    assert m["macro_f1"] == pytest.approx((24 * 1.0 + 2 / 3 + 0.0) / 26)
    assert label_metrics({("a", "(error)"): 3})["macro_f1"] == 0.0
