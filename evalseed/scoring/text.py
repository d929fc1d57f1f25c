"""Text overlap against a reference answer: token F1 (SQuAD) and ROUGE-L (longest common
subsequence). Pure functions on strings; the generation and long-context kinds score with them.

Both compare the same words, `words(text)`: SQuAD's normalisation (lower case, punctuation and
the English articles a/an/the dropped, whitespace collapsed) with three changes, each because the
SQuAD rule would score real answers wrongly here:

- NFKC first, so full-width `ＡＢＣ１` and `ABC1` are the same words;
- punctuation becomes a space instead of vanishing, so `refund/exchange` is two words, not
  `refundexchange` (SQuAD deletes it: `U.S.` still becomes `u s`, two words, in both texts alike);
- every CJK character is a word of its own: Chinese and Japanese put no spaces between words, and
  a whitespace split would make a whole sentence one word that matches only verbatim.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_ARTICLES = {"a", "an", "the"}
# Han, kana, Hangul syllables and CJK compatibility ideographs.
_CJK_CHAR = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af])")


def words(text: str) -> list[str]:
    """The words of `text` as both scores compare them (see the module's docstring)."""
    t = unicodedata.normalize("NFKC", text).casefold()
    # Punctuation, symbols, separators and control characters (Unicode categories P, S, Z, C).
    t = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in t)
    t = _CJK_CHAR.sub(r" \1 ", t)
    return [w for w in t.split() if w not in _ARTICLES]


def _f(common: int, n_candidate: int, n_reference: int) -> float:
    if common == 0:
        return 0.0
    precision, recall = common / n_candidate, common / n_reference
    return 2 * precision * recall / (precision + recall)


def token_f1(candidate: str, reference: str) -> float:
    """SQuAD's F1: the words both texts share, counted as multisets (a word twice in each counts
    twice), as precision over the candidate's words and recall over the reference's. As SQuAD
    does, two texts without any word score 1 and one without words against one with words 0."""
    cand, ref = words(candidate), words(reference)
    if not cand or not ref:
        return float(cand == ref)
    return _f(sum((Counter(cand) & Counter(ref)).values()), len(cand), len(ref))


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two word lists (dynamic programming, one row
    of memory: O(len(a) * len(b)) time)."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F-measure (Lin, 2004) with beta = 1, as Google's rouge-score computes it: LCS over
    the candidate's words for precision, over the reference's for recall, their harmonic mean.
    Unlike token F1 it rewards words in the reference's order. Empty texts as in `token_f1`."""
    cand, ref = words(candidate), words(reference)
    if not cand or not ref:
        return float(cand == ref)
    return _f(lcs_length(cand, ref), len(cand), len(ref))
