"""Token counts estimated from characters, per model, learned from what the API reported before.

No tokenizer for Seed is public, so a prompt's length in tokens is estimated: Latin-script text at
about `DEFAULT_CHARS_PER_TOKEN` characters per token, CJK characters at
`DEFAULT_CJK_TOKENS_PER_CHAR` tokens each (a CJK character carries far more text than a Latin one,
so a single chars-per-token figure would be off by 3x or more on Chinese), plus a small overhead
per chat message. That base estimate is then scaled per model by a factor learned from the
`prompt_tokens` the API returned in earlier runs (the `results` table), so a model whose
tokenizer is denser or looser than the default is measured rather than guessed.

Nothing here holds state: a run learns the ratios once (`learn_ratios`), records them with the run
(`runs.config.token_ratios`, `TokenRatio.to_record`) and hands each to the kinds on its model
(`ModelInfo.token_ratio`); `--resume` and `evalseed rescore` read them back (`ratios_from_record`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .core import content_text

# Defaults until the database holds evidence; both are common figures for BPE tokenizers with a
# large vocabulary, not measurements of Seed's tokenizer (none is public).
DEFAULT_CHARS_PER_TOKEN = 4.0
DEFAULT_CJK_TOKENS_PER_CHAR = 0.7
# Chat templates add role markers around each message and a few tokens per request.
MESSAGE_OVERHEAD_TOKENS = 4
REQUEST_OVERHEAD_TOKENS = 3

# A learned scale outside this range means the rows measure something else (a stub server, a
# broken usage block): the default is safer than a wild figure.
MIN_SCALE, MAX_SCALE = 0.25, 4.0
# Evidence needed before a learned ratio replaces the default.
MIN_ROWS = 3
MIN_TOTAL_TOKENS = 500
# Long prompts tell more about the tokenizer than short ones (less template overhead in them):
# prompts from this many tokens up are preferred when there are enough of them.
LONG_PROMPT_TOKENS = 256
# Most recent rows read per model: enough for a stable ratio, bounded reading time.
LEARN_ROW_LIMIT = 2000

# Han, kana, Hangul, CJK punctuation and full-width forms.
_CJK_CLASS = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u3100-\u312f\u3130-\u318f\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
    "\U00020000-\U0002fa1f"
)
_CJK_RE = re.compile(f"[{_CJK_CLASS}]")
# The same class for DuckDB's RE2 (counted there so stored requests never travel to Python).
_CJK_SQL_CLASS = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\x{3000}-\x{303f}\x{ff00}-\x{ffef}]"


def count_cjk(text: str) -> int:
    """Number of CJK characters (Han, kana, Hangul, CJK punctuation, full-width forms) in `text`."""
    if text.isascii():
        return 0
    return _CJK_RE.subn("", text)[1]


def base_tokens(chars: int, cjk_chars: int = 0) -> float:
    """The default estimate for text of `chars` characters of which `cjk_chars` are CJK."""
    return (chars - cjk_chars) / DEFAULT_CHARS_PER_TOKEN + cjk_chars * DEFAULT_CJK_TOKENS_PER_CHAR


@dataclass(frozen=True, slots=True)
class TokenRatio:
    """How one model's tokens relate to characters: `scale` multiplies the default estimate
    (1.0 = default). `rows` and `source` say what it was learned from."""

    scale: float = 1.0
    rows: int = 0
    source: str = "default"

    @property
    def chars_per_token(self) -> float:
        """Latin-script characters per token under this ratio (the figure people quote)."""
        return DEFAULT_CHARS_PER_TOKEN / self.scale

    def tokens(self, chars: int, cjk_chars: int = 0) -> int:
        """Estimated tokens for text of `chars` characters, `cjk_chars` of them CJK."""
        return int(round(base_tokens(chars, cjk_chars) * self.scale))

    def estimate(self, text: str) -> int:
        """Estimated tokens of one piece of text (no message overhead)."""
        return self.tokens(len(text), count_cjk(text))

    def estimate_messages(self, messages: Iterable[dict]) -> int:
        """Estimated prompt tokens of a chat request's messages, template overhead included."""
        total: float = REQUEST_OVERHEAD_TOKENS
        for m in messages:
            total += MESSAGE_OVERHEAD_TOKENS + base_tokens(*_sizes(content_text(m.get("content")) or ""))
        return int(round(total * self.scale))

    def chars_for(self, tokens: int, cjk_share: float = 0.0) -> int:
        """Characters of text with `cjk_share` (0..1) CJK characters that make about `tokens` tokens."""
        per_char = ((1 - cjk_share) / DEFAULT_CHARS_PER_TOKEN + cjk_share * DEFAULT_CJK_TOKENS_PER_CHAR) * self.scale
        return max(0, int(tokens / per_char)) if per_char > 0 else 0

    def to_record(self) -> dict[str, Any]:
        """The ratio as JSON data, as a run records it (`ratios_from_record` reads it back)."""
        return {"scale": self.scale, "rows": self.rows, "source": self.source}

    def describe(self) -> str:
        if self.source == "default":
            return f"default {self.chars_per_token:.2f} chars/token"
        return f"{self.chars_per_token:.2f} chars/token learned from {self.rows} earlier results"


def _sizes(text: str) -> tuple[int, int]:
    return len(text), count_cjk(text)


DEFAULT_RATIO = TokenRatio()


def fit_scale(samples: Iterable[tuple[float, int]]) -> TokenRatio:
    """The ratio for (base estimate, reported prompt_tokens) pairs; the default when the evidence
    is thin or implausible. Ratio of sums, so long prompts weigh in proportion to their length."""
    pairs = [(float(e), int(t)) for e, t in samples if e and e > 0 and t and t > 0]
    long_pairs = [(e, t) for e, t in pairs if t >= LONG_PROMPT_TOKENS]
    if len(long_pairs) >= MIN_ROWS:
        pairs = long_pairs
    total_tokens = sum(t for _, t in pairs)
    if len(pairs) < MIN_ROWS or total_tokens < MIN_TOTAL_TOKENS:
        return DEFAULT_RATIO
    scale = total_tokens / sum(e for e, _ in pairs)
    if not (MIN_SCALE <= scale <= MAX_SCALE):
        return DEFAULT_RATIO
    return TokenRatio(scale=scale, rows=len(pairs), source="learned")


_LEARN_SQL = f"""
WITH recent AS (
    SELECT prompt_tokens AS pt,
           json_extract_string(request, '$.messages[*].content') AS contents
    FROM results
    WHERE model = ? {{provider_clause}}
      AND status = 'ok' AND prompt_tokens > 0 AND request IS NOT NULL
      -- tool definitions and images count as prompt tokens but are not message text
      AND NOT coalesce(json_exists(request, '$.tools'), FALSE)
      AND json_exists(request, '$.messages')
    ORDER BY started_at DESC NULLS LAST
    LIMIT {LEARN_ROW_LIMIT}
)
SELECT pt,
       len(contents) AS n_messages,
       coalesce(list_sum(list_transform(contents, lambda c: length(c))), 0) AS chars,
       coalesce(list_sum(list_transform(contents,
           lambda c: length(regexp_replace(c, '[^{_CJK_SQL_CLASS[1:-1]}]', '', 'g')))), 0) AS cjk
FROM recent
WHERE len(contents) > 0
"""


def learn_ratio(con, model: str, provider: str | None = None) -> TokenRatio:
    """The ratio for `model` from its earlier `ok` results in the DuckDB connection `con` (the
    default when there are too few). With `provider`, only that provider's rows count."""
    sql = _LEARN_SQL.replace("{provider_clause}", "AND provider = ?" if provider else "")
    params: list[Any] = [model] + ([provider] if provider else [])
    try:
        rows = con.execute(sql, params).fetchall()
    except Exception:  # no results table yet, or rows whose request is not JSON text
        return DEFAULT_RATIO
    samples = [
        (REQUEST_OVERHEAD_TOKENS + n * MESSAGE_OVERHEAD_TOKENS + base_tokens(chars, cjk), pt)
        for pt, n, chars, cjk in rows
    ]
    return fit_scale(samples)


def learn_ratios(con, providers: Mapping[str, str | None]) -> dict[str, TokenRatio]:
    """The ratio of each model, learned from its rows on its provider (`model -> provider`; None:
    any provider). A run calls this once, before preparing cases."""
    return {m: learn_ratio(con, m, prov) for m, prov in providers.items()}


def ratios_from_record(record: Any) -> dict[str, TokenRatio]:
    """The ratios a run recorded (`model -> TokenRatio.to_record()`); an entry that is not one
    (an older run recorded none) is left out, so that model gets the default."""
    out: dict[str, TokenRatio] = {}
    for model, rec in (record.items() if isinstance(record, Mapping) else ()):
        if not isinstance(rec, Mapping):
            continue
        scale, rows, source = rec.get("scale"), rec.get("rows", 0), rec.get("source", "learned")
        if (isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0
                and isinstance(rows, int) and isinstance(source, str)):
            out[str(model)] = DEFAULT_RATIO if source == "default" else TokenRatio(float(scale), rows, source)
    return out
