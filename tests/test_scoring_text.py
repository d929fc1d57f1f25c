"""Token F1 and ROUGE-L (evalseed/scoring/text.py): their properties on any text, and values
worked out by hand."""

from __future__ import annotations

from functools import lru_cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalseed.scoring.text import lcs_length, rouge_l, token_f1, words
from strategies import unicode_text

texts = unicode_text(80)
SCORES = (token_f1, rouge_l)


@pytest.mark.parametrize("fn", SCORES)
@given(a=texts, b=texts)
def test_bounded_and_symmetric(fn, a, b):
    s = fn(a, b)
    assert 0.0 <= s <= 1.0
    # Both are harmonic means of precision and recall over a symmetric overlap (multiset
    # intersection, LCS): swapping the texts swaps precision and recall and keeps the mean.
    assert s == pytest.approx(fn(b, a))


@pytest.mark.parametrize("fn", SCORES)
@given(a=texts)
def test_identical_text_scores_one(fn, a):
    assert fn(a, a) == 1.0


# Words from disjoint alphabets share nothing; "a" is an English article and dropped, so the
# first alphabet starts at "b".
left = st.lists(st.text(alphabet="bcdefghijklm", min_size=1, max_size=6), min_size=1, max_size=12)
right = st.lists(st.text(alphabet="nopqrstuvwxyz", min_size=1, max_size=6), min_size=1, max_size=12)


@pytest.mark.parametrize("fn", SCORES)
@given(a=left, b=right)
def test_disjoint_words_score_zero(fn, a, b):
    assert fn(" ".join(a), " ".join(b)) == 0.0


@given(a=texts, b=texts)
def test_rouge_l_never_exceeds_token_f1(a, b):
    # A common subsequence is a common multiset, so LCS <= the bag overlap on the same lengths.
    assert rouge_l(a, b) <= token_f1(a, b) + 1e-12


@lru_cache(maxsize=None)
def _lcs_slow(a: tuple, b: tuple) -> int:
    if not a or not b:
        return 0
    if a[0] == b[0]:
        return 1 + _lcs_slow(a[1:], b[1:])
    return max(_lcs_slow(a[1:], b), _lcs_slow(a, b[1:]))


small = st.lists(st.sampled_from("xyzw"), max_size=9)


@given(a=small, b=small)
def test_lcs_matches_the_recursive_definition(a, b):
    assert lcs_length(a, b) == _lcs_slow(tuple(a), tuple(b))


def test_words_normalise_like_squad_with_cjk_and_nfkc():
    assert words("The Cat, a hat!") == ["cat", "hat"]
    assert words("ＲＥＦＵＮＤ／exchange") == ["refund", "exchange"]  # full-width, slash splits
    assert words("退款已到账") == ["退", "款", "已", "到", "账"]
    assert words("...the a an") == []


def test_hand_computed_values():
    # Articles dropped: both are [cat, sat, on, mat].
    assert token_f1("the cat sat on the mat", "a cat sat on a mat") == 1.0
    # candidate [paris, is, capital, of, france], reference [capital, is, paris]: 3 shared,
    # P = 3/5, R = 1, F = 2 * 0.6 / 1.6 = 0.75.
    assert token_f1("Paris is the capital of France", "The capital is Paris.") == pytest.approx(0.75)
    # A repeated word counts as often as both texts have it: [yes, yes, yes] vs [yes]: P = 1/3, R = 1.
    assert token_f1("yes yes yes", "yes") == pytest.approx(0.5)
    # Lin (2004): reference "police killed the gunman" -> [police, killed, gunman];
    # "police kill the gunman" -> LCS [police, gunman] = 2, P = R = 2/3.
    assert rouge_l("police kill the gunman", "police killed the gunman") == pytest.approx(2 / 3)
    # "the gunman kill police": LCS 1 ([police] or [gunman]), P = R = 1/3.
    assert rouge_l("the gunman kill police", "police killed the gunman") == pytest.approx(1 / 3)
    # Order matters to ROUGE-L only: the same four words reversed.
    assert token_f1("w x y z", "z y x w") == 1.0
    assert rouge_l("w x y z", "z y x w") == pytest.approx(0.25)
    # Chinese by character: 5 vs 4 characters, 4 shared in order: P = 4/5, R = 1, F = 8/9.
    assert token_f1("退款已到账", "退款到账") == pytest.approx(8 / 9)
    assert rouge_l("退款已到账", "退款到账") == pytest.approx(8 / 9)
    # CLRS's example: LCS of ABCBDAB and BDCABA is 4.
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4


def test_empty_texts_follow_squad():
    assert token_f1("", "") == 1.0 and rouge_l("!!", "the") == 1.0
    assert token_f1("", "refund") == 0.0 and rouge_l("refund", "") == 0.0
