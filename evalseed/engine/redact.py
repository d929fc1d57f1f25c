"""The run's API keys kept out of everything stored or printed.

A server decides how the key it echoes is spelled, and every later reader decodes what it finds:
JSON turns `\\u0073k-...` back into `sk-...`, a browser turns `&#115;k-...`, a URL `%73k-...`, a
reader's eye a full-width `ｓｋ-...`. So a text is searched as written and as each of those readers
would decode it, case-insensitively (an upper-cased hex key is the same key), and for the key's
base64 and hex spellings. JSON bodies are searched string by string after decoding, never as raw
text: the raw text is the one place an escaped key does not look like the key.
"""

from __future__ import annotations

import base64
import html
import re
import unicodedata
from typing import Any, Iterable
from urllib.parse import unquote

MIN_SECRET = 6

# JSON, JavaScript and Python escapes, the forms a server or a serialiser may choose.
# `\uXXXX` is exactly four digits: a key's hex right after an escaped '-' is not part of it.
_ESCAPE = re.compile(r"\\u\{([0-9a-fA-F]{1,6})\}|\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\U([0-9a-fA-F]{8})|\\(.)",
                     re.S)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}
# Only texts holding one of these can decode into something else.
_DECODABLE = re.compile(r"[\\&%]|[^\x00-\x7f]")


def _unescape(text: str) -> str:
    def one(m: re.Match) -> str:
        code = m.group(1) or m.group(2) or m.group(3) or m.group(4)
        if code:
            value = int(code, 16)
            return chr(value) if value <= 0x10FFFF else m.group(0)
        return _SIMPLE.get(m.group(5), m.group(5))

    return _ESCAPE.sub(one, text)


def decoded_view(text: str) -> str:
    """`text` as its readers would see it: escapes, HTML entities and percent-encoding decoded
    (nested up to three times: a JSON string inside a JSON string), compatibility characters
    normalised (full-width letters), invisible format characters (zero-width spaces) removed."""
    view = text
    for _ in range(3):
        nxt = html.unescape(unquote(_unescape(view), errors="replace"))
        if nxt == view:
            break
        view = nxt
    try:
        view = unicodedata.normalize("NFKC", view)
    except (UnicodeError, ValueError):
        pass
    return "".join(c for c in view if unicodedata.category(c) != "Cf") if not view.isascii() else view


def _b64_cores(secret: bytes) -> list[str]:
    """The parts of base64(...secret...) that do not depend on the bytes around the secret, at
    each of the three alignments it can have, in the standard and the URL-safe alphabets."""
    out: list[str] = []
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + secret).decode()
        core = enc[4 * ((k + 2) // 3): 4 * ((k + len(secret)) // 3)]
        if len(core) >= 8:
            out += [core, core.replace("+", "-").replace("/", "_")]
    return out


class Redactor:
    """Removes known secrets from any text we store or print (error messages echo requests, and
    a server may echo the key in any field of any body, in any spelling above)."""

    def __init__(self, secrets: Iterable[str] = (), marker: str = "***"):
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
        self.marker = marker
        spellings: list[str] = []
        exact: list[str] = []
        for s in self.secrets:
            spellings += [s, s.encode("utf-8").hex()]
            exact += _b64_cores(s.encode("utf-8"))
        self._ci = re.compile("|".join(map(re.escape, spellings)), re.IGNORECASE) if spellings else None
        # base64 is case-sensitive: a case-insensitive match would also hit unrelated text.
        self._exact = re.compile("|".join(map(re.escape, sorted(set(exact), key=len, reverse=True)))) if exact else None

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def _scrub(self, text: str) -> str:
        if self._ci is not None and self._ci.search(text):
            text = self._ci.sub(self.marker, text)
        if self._exact is not None and self._exact.search(text):
            text = self._exact.sub(self.marker, text)
        return text

    def raw(self, text: str) -> str:
        """`text` with every spelling of a secret replaced where it stands, nothing decoded: for
        a structured text (a JSON or SSE body, a whole file) whose syntax must survive."""
        if not self.secrets or not isinstance(text, str) or not text:
            return text
        return self._scrub(text)

    def __call__(self, text: str) -> str:
        """`text` without the secrets. Unchanged when no spelling of one is in it; when one is
        only in the decoded view, the decoded view is what is kept, redacted: an escaped key
        cannot be cut out of the escaped text without decoding it anyway."""
        if not self.secrets or not isinstance(text, str) or not text:
            return text
        text = self._scrub(text)
        if _DECODABLE.search(text):
            view = decoded_view(text)
            if view != text:
                scrubbed = self._scrub(view)
                if scrubbed != view:
                    return scrubbed
        return text

    def body(self, value: Any) -> Any:
        """A decoded JSON value with the secrets removed from every string in it, keys included.
        The same object comes back when nothing changed. For a streamed answer this must run on
        the assembled body: in pieces, a key never sits whole in a chunk."""
        if not self.secrets:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            changed = False
            out = {}
            for k, v in value.items():
                k2 = self(k) if isinstance(k, str) else k
                v2 = self._walk(v)
                changed = changed or k2 is not k or v2 is not v
                out[k2] = v2
            return out if changed else value
        if isinstance(value, list):
            items = [self._walk(v) for v in value]
            return items if any(a is not b for a, b in zip(items, value)) else value
        return value
