"""Text features for routing: hashed character n-grams, TF-IDF weighted, L2-normalised.

Hashing is done on UTF-8 bytes with a rolling polynomial in numpy (no Python loop per n-gram),
so one prompt costs tens of microseconds; Python's `hash()` is salted per process and cannot be
used for features that are saved and reloaded. Long texts keep their head and tail, because a
question usually sits after a long passage.
"""

from __future__ import annotations

import numpy as np

NGRAMS = (3, 4, 5)
DIM = 2048          # text buckets for the logistic model
KNN_DIM = 256       # folded buckets for nearest-neighbour search (DIM must be a multiple)
HEAD_CHARS = 1000
TAIL_CHARS = 1000

_MUL = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


def _normalise(text: str) -> bytes:
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        text = text[:HEAD_CHARS] + " \x00 " + text[-TAIL_CHARS:]
    # str.split() collapses every run of whitespace, several times faster than a regex
    return b" " + " ".join(text.lower().split()).encode("utf-8", "replace") + b" "


def _hashes(b: np.ndarray) -> np.ndarray:
    """Mixed 64-bit hashes of every n-gram (n in NGRAMS) of a uint64 byte array."""
    hs = []
    h = None
    for n in range(1, max(NGRAMS) + 1):
        m = b.size - n + 1
        if m <= 0:
            break
        # rolling: the n-gram hash extends the (n-1)-gram hash by one byte
        h = b[:m].copy() if h is None else h[:m] * _MUL + b[n - 1:n - 1 + m]
        if n in NGRAMS:
            hs.append(h)
    if not hs:
        return np.zeros(0, dtype=np.uint64)
    g = np.concatenate(hs) * _MIX
    g ^= g >> np.uint64(29)
    g *= _MUL
    return g


def _bucket_sign(h: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    bits = dim.bit_length() - 1
    idx = (h >> np.uint64(64 - bits)).astype(np.intp)  # the top bits are the best mixed
    sign = 1.0 - 2.0 * ((h >> np.uint64(63 - bits)) & np.uint64(1)).astype(np.float32)
    return idx, sign


def raw_counts(text: str, dim: int = DIM) -> np.ndarray:
    """Signed hashed n-gram counts of one text (float32, length `dim`)."""
    norm = _normalise(text)
    b = np.frombuffer(norm, dtype=np.uint8).astype(np.uint64)
    idx, sign = _bucket_sign(_hashes(b), dim)
    return np.bincount(idx, weights=sign, minlength=dim).astype(np.float32)


class TextFeaturizer:
    """Learns IDF weights on training texts; turns texts into unit vectors.

    `dim` must be a power of two (the bucket is a bit mask of the hash)."""

    def __init__(self, dim: int = DIM, idf: np.ndarray | None = None):
        if dim & (dim - 1):
            raise ValueError("dim must be a power of two")
        self.dim = dim
        self.idf = idf if idf is not None else np.ones(dim, dtype=np.float32)

    def fit(self, texts: list[str], counts: np.ndarray | None = None) -> "TextFeaturizer":
        counts = self.counts(texts) if counts is None else counts
        df = (counts != 0).sum(axis=0).astype(np.float64)
        n = max(len(texts), 1)
        self.idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    def counts(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = raw_counts(t or "", self.dim)
        return out

    def weigh(self, counts: np.ndarray) -> np.ndarray:
        """Sublinear TF times IDF, then unit length (rows)."""
        x = np.sign(counts) * np.log1p(np.abs(counts)) * self.idf
        norm = np.linalg.norm(x, axis=-1, keepdims=True)
        return x / np.maximum(norm, 1e-9)

    def transform(self, texts: list[str]) -> np.ndarray:
        return self.weigh(self.counts(texts))

    def one(self, text: str) -> np.ndarray:
        return self.weigh(raw_counts(text or "", self.dim))


def fold(x: np.ndarray, dim: int = KNN_DIM) -> np.ndarray:
    """Fold unit vectors into `dim` buckets (bucket i adds into i mod dim: one more signed
    hashing projection) and renormalise: the cheap space kNN and the linear model work in."""
    lead = x.shape[:-1]
    y = x.reshape(*lead, x.shape[-1] // dim, dim).sum(axis=-2)
    return y / np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-9)


def length_features(chars: np.ndarray) -> np.ndarray:
    """Prompt length as a couple of smooth features (log scale), shape (n, 2)."""
    lc = np.log1p(np.asarray(chars, dtype=np.float32))
    return np.stack([lc / 8.0, (lc / 8.0) ** 2], axis=-1).astype(np.float32)
