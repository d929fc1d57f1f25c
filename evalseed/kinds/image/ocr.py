"""Reading the text in a generated image (`expect_text:`) with Tesseract, and scoring it.

Tesseract is Debian's `tesseract-ocr` package, called as a subprocess (`tesseract stdin stdout`):
the image goes in on stdin as a grey PNG and the text comes back on stdout. pytesseract would run
the same binary through temporary files and add a dependency for no more than this; calling it
directly keeps our own timeout, one thread per call (`OMP_THREAD_LIMIT=1`: Tesseract's OpenMP
threads fight the run's other work for the cores), and errors that say what to install.

Scores, on texts normalised by `normalise` (NFKC, case folded, only letters and digits, words
separated by one space, l/1/I and 0/O folded together as OCR confuses them): the character error rate is the edit distance from the expected text to
the closest stretch of the text read, over the expected text's length (the rest of a poster's
text costs nothing); `exact` says whether the expected text appears as it is in the text read; and
`text_score`, what the case is scored by, is per word: each expected word scores 1 - its own
character error rate against the closest word read, or 0 when more than a third of its characters
are wrong (then it is another word), weighted by length. A character error rate credits letters
that unrelated words share by chance (MIDNIGHT JAZZ against a poster reading "SUNRISE FOLK ...
Doors open at eight" has a CER of 0.69, so 1 - CER = 0.31); the word score gives it 0.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from typing import Any

#: The longest side an image is read at: Seedream's 4096-pixel images take Tesseract seconds each,
#: and headline type survives the halving.
MAX_SIDE = 2400
#: Seconds one image may take.
TIMEOUT_S = 60.0
#: Characters of read text kept and compared.
MAX_TEXT = 4000
INSTALL_HINT = "install it (Debian: apt-get install tesseract-ocr) and run `evalseed rescore` on this run"


class OcrUnavailable(RuntimeError):
    """Tesseract cannot be run here (not installed, a language not installed, it failed)."""


def tesseract_path() -> str | None:
    return shutil.which("tesseract")


def read_text(data: bytes, lang: str = "eng") -> str:
    """The text Tesseract reads in an image (any format Pillow opens). Raises OcrUnavailable."""
    from PIL import Image

    exe = tesseract_path()
    if exe is None:
        raise OcrUnavailable(f"expect_text needs Tesseract OCR, which is not on PATH; {INSTALL_HINT}")
    with Image.open(io.BytesIO(data)) as img:
        grey = img.convert("L")
    if max(grey.size) > MAX_SIDE:
        grey.thumbnail((MAX_SIDE, MAX_SIDE))
    buf = io.BytesIO()
    grey.save(buf, format="PNG")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run([exe, "stdin", "stdout", "-l", lang, "--psm", "11"], input=buf.getvalue(),
                              capture_output=True, timeout=TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise OcrUnavailable(f"Tesseract took more than {TIMEOUT_S:g} s on one image") from None
    except OSError as e:
        raise OcrUnavailable(f"Tesseract could not be started ({e.strerror or e}); {INSTALL_HINT}") from None
    if done.returncode != 0:
        err = " ".join(done.stderr.decode("utf-8", "replace").split())[:300]
        if "Failed loading language" in err or "Error opening data file" in err:
            raise OcrUnavailable(f"Tesseract has no data for language {lang!r} (Debian: apt-get install "
                                 f"tesseract-ocr-{lang.split('+')[-1].replace('_', '-')}): {err}")
        raise OcrUnavailable(f"Tesseract failed (exit {done.returncode}): {err}")
    return done.stdout.decode("utf-8", "replace")[:MAX_TEXT]


# Shapes Tesseract confuses in sans-serif type ("AI" read as "Al"): folded alike on both sides.
_CONFUSABLE = str.maketrans({"l": "i", "1": "i", "|": "i", "0": "o"})


def normalise(text: str) -> str:
    """NFKC, case folded, letters and digits only, one space between words, and the shapes OCR
    confuses folded together (l, 1 and I; 0 and O)."""
    t = unicodedata.normalize("NFKC", text).casefold().translate(_CONFUSABLE)
    t = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in t)
    return re.sub(r"\s+", " ", t).strip()


def distance(a: str, b: str) -> int:
    """Levenshtein's edit distance."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


#: A word counts as read when at most this share of its characters is wrong; past it, it is
#: another word (SUNRISE is not MIDNIGHT, whatever letters they share).
WORD_TOLERANCE = 1 / 3


def _cjk(word: str) -> bool:
    return any(unicodedata.east_asian_width(ch) in "WF" for ch in word)


def word_credit(word: str, read_words: list[str], read_joined: str) -> float:
    """How well `word` was read: 1 - its character error rate against the closest word read, 0
    when that is over WORD_TOLERANCE. CJK text has no spaces: it is looked for in the whole text."""
    if _cjk(word):
        d = substring_distance(word, read_joined)
    else:
        d = min((distance(word, w) for w in read_words), default=len(word))
    rate = d / len(word)
    return 0.0 if rate > WORD_TOLERANCE else 1.0 - rate


def substring_distance(needle: str, hay: str) -> int:
    """The least edit distance from `needle` to any stretch of `hay` (Sellers' algorithm)."""
    if not needle:
        return 0
    prev = [0] * (len(hay) + 1)  # a match may start anywhere in hay: the first row costs nothing
    for i, a in enumerate(needle, 1):
        cur = [i] + [0] * len(hay)
        for j, b in enumerate(hay, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b))
        prev = cur
    return min(prev)


@dataclass(frozen=True)
class TextScore:
    expected: str
    read: str
    cer: float
    score: float
    exact: bool

    def as_dict(self) -> dict[str, Any]:
        return {"expected_text": self.expected, "cer": round(self.cer, 4),
                "text_score": round(self.score, 4), "text_exact": self.exact}


def score_text(expected: str, read: str) -> TextScore:
    want, got = normalise(expected), normalise(read)
    if not want:
        return TextScore(expected, read, 0.0, 1.0, True)
    cer = substring_distance(want, got) / len(want)
    exact = f" {want} " in f" {got} "
    words, read_words = want.split(), got.split()
    joined = got.replace(" ", "")
    score = sum(len(w) * word_credit(w, read_words, joined) for w in words) / sum(len(w) for w in words)
    return TextScore(expected, read, cer, 1.0 if exact else score, exact)
