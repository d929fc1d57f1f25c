"""The classification scorer and its suite metrics."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from evalseed.kinds.base import Outcome, Prepared
from evalseed.kinds.classification import KIND, normalise


def _suite():
    return KIND.suite_model.model_validate({
        "name": "s", "kind": "classification", "labels": ["positive", "negative", "不确定"],
        "messages": [{"role": "user", "content": "{{ t }}"}],
        "cases": [{"id": "a", "vars": {"t": "x"}, "expected": "Positive"}],
    })


def score(answer):
    suite = _suite()
    return KIND.score(suite, suite.cases[0], Prepared(input_text="x"), Outcome(calls=[], response={}, output_text=answer))


labels = st.sampled_from(["positive", "negative", "不确定"])
decor = st.tuples(st.sampled_from(["", " ", "\n", "**", '"', "'"]), st.sampled_from(["", ".", "!", "。", " ", "**"]))


@given(label=labels, d=decor, upper=st.booleans())
def test_decorated_labels_normalise_to_the_label(label, d, upper):
    text = f"{d[0]}{label.upper() if upper else label}{d[1]}"
    assert normalise(text) == normalise(label)


@given(answer=st.text(max_size=50))
def test_any_answer_scores_without_crashing(answer):
    s = score(answer)
    assert s.score in (0.0, 1.0) and s.passed == (s.score == 1.0)
    assert s.details["unparsed"] == (s.details["predicted"] is None)
    assert s.details["expected"] == "positive"  # spelled as the suite's label


def test_verdicts():
    assert score("Positive.").passed
    assert not score("negative").passed and not score("negative").details["unparsed"]
    s = score("I think it is positive")
    assert not s.passed and s.details["unparsed"]
    assert not score(None).passed


def test_metrics_by_hand():
    exp = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", None, "c"]
    rows = [{"case_id": f"c{i}", "status": "ok", "passed": e == p,
             "details": {"expected": e, "predicted": p, "unparsed": p is None}}
            for i, (e, p) in enumerate(zip(exp, pred))]
    m = KIND.suite_metrics(rows)
    assert m["accuracy"] == 3 / 5 and m["unparsed"] == 1
    # F1: a = 2*1/(2+0+1) = 2/3; b = 2*1/(2+1+1) = 1/2; c = 1
    assert abs(m["macro_f1"] - (2 / 3 + 1 / 2 + 1) / 3) < 1e-12
    assert m["confusion"]["b"] == {"b": 1, "(unparsed)": 1}
    # An error row is a wrong answer to its expected label (c: 2*1/(2+0+1)); a skipped row is out.
    more = rows + [{"case_id": "e", "status": "error", "details": {"expected": "c"}},
                   {"case_id": "s", "status": "skipped", "details": {"expected": "a"}}]
    m = KIND.suite_metrics(more)
    assert (m["accuracy"], m["errors"], m["skipped"], m["cases"]) == (3 / 6, 1, 1, 7)
    assert abs(m["macro_f1"] - (2 / 3 + 1 / 2 + 2 / 3) / 3) < 1e-12
    assert m["confusion"]["c"] == {"c": 1, "(error)": 1}
