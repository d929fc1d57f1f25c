"""Hypothesis strategies the property tests share, in one place: text that any Python string may
hold (no lone surrogates), JSON-like values (each test's tuned sizes as parameters), and the
generated runs, outcome tables and data files of the property tests. Strategies built from one
test module's own fixtures (the fuzz tests' mutations of their base suites) stay with them."""

from __future__ import annotations

import string

from hypothesis import strategies as st


def unicode_text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Any text but lone surrogates (which no UTF-8 file or JSON document can carry)."""
    return st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=min_size, max_size=max_size)


def json_values(scalars: st.SearchStrategy | None = None, keys: st.SearchStrategy[str] | None = None, *,
                floats: bool = True, text_size: int = 20, key_size: int = 8, width: int = 4,
                max_leaves: int = 20) -> st.SearchStrategy:
    """Nested lists and objects of scalars: by default null, booleans, integers, floats (NaN and
    infinities included, unless `floats` is False) and short text; objects keyed by `keys`
    (short text by default); `width` items per list or object at most."""
    if scalars is None:
        scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=text_size)
        if floats:
            scalars = scalars | st.floats()
    key_strategy = st.text(max_size=key_size) if keys is None else keys

    def containers(inner: st.SearchStrategy) -> st.SearchStrategy:
        return st.lists(inner, max_size=width) | st.dictionaries(key_strategy, inner, max_size=width)

    return st.recursive(scalars, containers, max_leaves=max_leaves)


# ---- runs for the metrics agreement test (tests/test_metrics_agree.py) -------------------------

# What happened to one (case, repeat).
RUN_OUTCOMES = ("right", "wrong", "unparsed", "error", "skipped")


@st.composite
def metric_run_shapes(draw):
    """The shape both runs share: a classification suite with up to 30 labels (usually more than
    20) and a JSON-extraction suite, cases and a repeat count."""
    n_labels = draw(st.one_of(st.integers(21, 30), st.integers(2, 20)))
    labels = [f"label-{i:02d}" for i in range(n_labels)]
    # Usually every label is some case's answer, so more than 20 of them really occur.
    n_cases = draw(st.one_of(st.integers(n_labels, 40), st.integers(1, 40)))
    return {
        "labels": labels,
        "expected": draw(st.permutations([labels[i % n_labels] for i in range(n_cases)])),
        "extract_cases": draw(st.integers(1, 12)),
        "repeats": draw(st.integers(1, 3)),
    }


@st.composite
def metric_run_answers(draw, shape):
    """One run's outcomes: per (case, repeat) of each suite, what happened. Some cases are
    skipped whole (a prompt too long for the window), some repeats alone."""
    reps = range(shape["repeats"])
    cls = []
    for expected in shape["expected"]:
        whole_skip = draw(st.integers(0, 9)) == 0
        cls.append([("skipped", None) if whole_skip else
                    (draw(st.sampled_from(RUN_OUTCOMES)), draw(st.sampled_from(shape["labels"]))) for _ in reps])
    ext = [[(draw(st.sampled_from(RUN_OUTCOMES)), draw(st.sampled_from((0.0, 0.5, 1.0)))) for _ in reps]
           for _ in range(shape["extract_cases"])]
    return {"classification": cls, "extract": ext}


# (case number, outcome, expected label, answered label) rows for the definitions' own properties.
outcome_rows = st.lists(st.tuples(st.integers(0, 7), st.sampled_from(RUN_OUTCOMES), st.sampled_from("abcde"),
                                  st.sampled_from("abcde")), min_size=1, max_size=25)


# ---- routing (tests/test_router.py, tests/test_router_metrics.py) -------------------------------


@st.composite
def router_outcome_tables(draw):
    """Small routing training sets: qualities 0, 0.5 or 1 per (case, model), one price per model."""
    import numpy as np

    from evalseed.router.data import Outcomes

    n = draw(st.integers(4, 40))
    m = draw(st.integers(2, 4))
    q = np.array(draw(st.lists(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=m, max_size=m),
                               min_size=n, max_size=n)))
    prices = draw(st.lists(st.floats(1e-5, 1e-2), min_size=m, max_size=m, unique=True))
    suites = draw(st.lists(st.sampled_from(["s1", "s2", "s3"]), min_size=n, max_size=n))
    C = np.tile(np.array(prices), (n, 1))
    return Outcomes([f"m{j}" for j in range(m)], suites, [str(i) for i in range(n)], ["k"] * n,
                    [f"prompt {i} {s}" for i, s in enumerate(suites)], [[] for _ in range(n)], q, C,
                    np.zeros_like(q))


@st.composite
def quality_cost_tables(draw, n_max=12, m_max=4):
    """(Q, C, predicted Q, predicted C) on coarse lattices, for exact operating-curve properties."""
    from hypothesis.extra import numpy as hnp

    n = draw(st.integers(1, n_max))
    m = draw(st.integers(2, m_max))
    # coarse lattices: many exact ties between models and between cases' breakpoints
    unit = st.integers(0, 8).map(lambda k: k / 8)
    cost = st.integers(1, 50).map(lambda k: k / 100)
    Q = draw(hnp.arrays(float, (n, m), elements=unit))
    C = draw(hnp.arrays(float, (n, m), elements=cost))
    qhat = draw(hnp.arrays(float, (n, m), elements=unit))
    chat = draw(hnp.arrays(float, (n, m), elements=cost))
    return Q, C, qhat, chat


# ---- data files (tests/test_datasets.py) --------------------------------------------------------

cell_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=30)
_row_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_ .é中", min_size=1, max_size=12)


@st.composite
def data_tables(draw):
    """Rows for a `cases_from` data file: unique ids, free text (no NUL, no CR), a label."""
    n = draw(st.integers(1, 12))
    ids = draw(st.lists(_row_ids.filter(lambda s: s.strip() == s), min_size=n, max_size=n, unique=True))
    return [{"key": i, "text": draw(cell_text), "note": draw(cell_text), "label": draw(st.sampled_from(["billing", "bug"]))}
            for i in ids]
