"""Keeping secrets out of cassettes: only a few named headers are stored at all, and every stored
string is scrubbed of the run's API keys, any `*_API_KEY`/`*_TOKEN`/`*_SECRET` environment value
and key-like strings (`sk-...`, bearer tokens, long hex or mixed base64 runs); answers only of
literal secrets, what their request carried, and key-shaped strings."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlencode, urlparse

from ..engine.redact import Redactor
from .matching import CASE_HEADER, PROVIDER_HEADER, SUITE_HEADER

# Everything else (authorization, api-key, cookie, user agents, SDK telemetry) is never written.
KEPT_REQUEST_HEADERS = frozenset({"content-type", SUITE_HEADER, CASE_HEADER, PROVIDER_HEADER})
KEPT_RESPONSE_HEADERS = frozenset({"content-type", "retry-after"})

REDACTED = "REDACTED"

_KEY_SHAPED = r"""
    \b(?:sk|pk|rk|ak)-[A-Za-z0-9_\-]{16,}                  # sk-... style keys
    | (?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}                 # bearer tokens in text
"""
# Answers are scrubbed of these only (plus literal secrets, and whatever key-like strings the
# request carried): a model's own long hex or base64-looking output is its answer, and replay
# must give back the answer that was scored.
_KEYSHAPED = re.compile(_KEY_SHAPED, re.VERBOSE)
_KEYLIKE = re.compile(
    _KEY_SHAPED + r"""
    | (?<![A-Za-z0-9_\-])[A-Fa-f0-9]{32,}(?![A-Za-z0-9_\-]) # long hex
    | (?<![A-Za-z0-9+/_\-])                                 # long mixed-case base64 with digits,
      (?=[A-Za-z0-9+/_\-]{0,512}[0-9])                      # bounded so a multi-MB image payload
      (?=[A-Za-z0-9+/_\-]{0,512}[a-z])                      # (one huge run) is left alone
      (?=[A-Za-z0-9+/_\-]{0,512}[A-Z])
      [A-Za-z0-9+/_\-]{32,512}={0,2}(?![A-Za-z0-9+/=_\-])
    """,
    re.VERBOSE,
)
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD)", re.IGNORECASE)
_SECRET_QUERY = re.compile(r"(key|token|secret|sig|signature|password|auth)", re.IGNORECASE)


class Scrubber:
    """Removes secrets from anything about to be written. Idempotent, so a request's match key can
    be computed from its scrubbed body both when recording and when replaying.

    JSON bodies and SSE events are scrubbed string by string after decoding: a server that
    writes the key as `\\u0073k-...` would otherwise have it recorded as is, and decoded back into
    every replayed answer, even in a run where the key variable is not set."""

    def __init__(self, secrets: Iterable[str] = (), *, use_environment: bool = True) -> None:
        found = {s for s in secrets if s and len(s) >= 8}  # real keys are longer; "no-key" placeholders are not secrets
        if use_environment:
            found |= {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and v and len(v) >= 8}
        self._redactor = Redactor(found, marker=REDACTED)
        self._literals_b = [s.encode() for s in self._redactor.secrets]
        self._extended: dict[frozenset, Redactor] = {}

    def _with(self, extra: Iterable[str]) -> Redactor:
        extra = frozenset(e for e in extra if e not in self._redactor.secrets)
        if not extra:
            return self._redactor
        # One answer is scrubbed string by string with the same request's extras: build once.
        found = self._extended.get(extra)
        if found is None:
            if len(self._extended) > 64:
                self._extended.clear()
            found = self._extended[extra] = Redactor([*self._redactor.secrets, *extra], marker=REDACTED)
        return found

    def literals(self, s: str, extra: Iterable[str] = ()) -> str:
        """Every spelling of the known secrets (and `extra`) removed from a free text."""
        return self._with(extra)(s)

    def raw_literals(self, s: str) -> str:
        """The same, position for position, for a structured text (a whole cassette file)."""
        return self._redactor.raw(s)

    def text(self, s: str, echoed: Iterable[str] | None = None) -> str:
        """Requests and headers (`echoed` None): every key-like string goes. Answers (`echoed`: the
        key-like strings of the request that produced them): literal secrets, what the request
        carried, and key-shaped strings (`sk-...`, bearer tokens) go; the rest is the answer."""
        if echoed is None:
            return _KEYLIKE.sub(REDACTED, self.literals(s))
        return _KEYSHAPED.sub(REDACTED, self._with(echoed)(s))

    def found(self, *texts: Any) -> set[str]:
        """The key-like strings in a request (its URL, body, all headers before any is dropped)."""
        out: set[str] = set()
        for t in texts:
            if isinstance(t, bytes):
                t = t.decode("utf-8", "replace")
            if not isinstance(t, str) or not t:
                continue
            for m in _KEYLIKE.finditer(t):
                token = m.group(0)
                out.add(token)
                parts = token.split(None, 1)
                if len(parts) == 2 and parts[0].lower() == "bearer":
                    out.add(parts[1])  # a server may echo the key without the scheme
        return {t for t in out if len(t) >= 8}

    def _value(self, value: Any, echoed: Iterable[str] | None) -> Any:
        """A decoded JSON value with every string (keys included) scrubbed; the same object when
        nothing changed."""
        if isinstance(value, str):
            return self.text(value, echoed)
        if isinstance(value, dict):
            out, changed = {}, False
            for k, v in value.items():
                k2 = self.text(k, echoed) if isinstance(k, str) else k
                v2 = self._value(v, echoed)
                changed = changed or k2 != k or v2 is not v
                out[k2] = v2
            return out if changed else value
        if isinstance(value, list):
            items = [self._value(v, echoed) for v in value]
            return items if any(a is not b for a, b in zip(items, value)) else value
        return value

    def _in_place(self, value: Any, echoed: Iterable[str] | None, skip: set[tuple[int, str]]) -> bool:
        """Scrub a freshly parsed value where it lies, leaving the `skip` fields (id of the holding
        dict, key) alone; True when anything changed."""
        changed = False
        if isinstance(value, dict):
            items: list[tuple[Any, Any]] = [(k, value[k]) for k in list(value) if (id(value), k) not in skip]
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            return False
        for k, v in items:
            if isinstance(v, str):
                clean = self.text(v, echoed)
                if clean != v:
                    value[k], changed = clean, True
            elif self._in_place(v, echoed, skip):
                changed = True
            # A dict key can carry the key too (a server may echo it as a field name).
            if isinstance(value, dict) and isinstance(k, str) and (ck := self.text(k, echoed)) != k:
                value[ck] = value.pop(k)
                changed = True
        return changed

    def _json_text(self, s: str, echoed: Iterable[str] | None) -> str:
        try:
            parsed = json.loads(s)
        except ValueError:
            return self.text(s, echoed)
        if isinstance(parsed, str):
            clean = self.text(parsed, echoed)
        else:
            clean = self._value(parsed, echoed)
        if clean is parsed:
            # Nothing decoded held a secret; the raw pass still catches what only the raw text
            # shows (a key cut by a truncated, unparsable tail is not this case: it parsed).
            return self._redactor.raw(s)
        return json.dumps(clean, ensure_ascii=False)

    def data(self, b: bytes | str | None, echoed: Iterable[str] | None = None) -> bytes | str | None:
        if b is None:
            return None
        if isinstance(b, str):
            return self._json_text(b, echoed)
        try:
            return self._json_text(b.decode("utf-8"), echoed).encode("utf-8")
        except UnicodeDecodeError:
            pass
        # Binary (an image): only the literal secrets go; regexes over bytes would mangle it.
        for lit in self._literals_b:
            if lit in b:
                b = b.replace(lit, REDACTED.encode())
        return b

    def sse(self, body: bytes | str | None, echoed: Iterable[str] = ()) -> bytes | str | None:
        """A server-sent-event stream: a secret the server echoes arrives split over several
        chunks ("Bearer s" + "k-live-..."), where no per-chunk scrub can see it. Each streamed
        text (per choice: content, reasoning, tool-call arguments) is joined and scrubbed whole;
        when that changes it, the first chunk carries the scrubbed text and the others none, so
        the replayed answer is the scrubbed answer. Every other string of every event (ids, error
        objects, usage) is scrubbed decoded, and a line that is not JSON as text."""
        if body is None:
            return None
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        events = raw.split("\n\n")
        parsed: dict[int, Any] = {}
        pieces: dict[tuple, list[tuple[dict, str]]] = {}
        changed: set[int] = set()
        for i, ev in enumerate(events):
            line = ev.strip()
            if not line.startswith("data:") or "\n" in line:
                events[i] = self.text(ev, echoed)
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                continue
            try:
                obj = json.loads(payload)
            except ValueError:
                events[i] = self.text(ev, echoed)
                continue
            if not isinstance(obj, dict):
                clean = self._value(obj, echoed)
                if clean is not obj:
                    events[i] = "data: " + json.dumps(clean, ensure_ascii=False)
                continue
            parsed[i] = obj
            held: list[tuple[dict, str]] = []
            for ch in obj.get("choices") or ():
                if not isinstance(ch, dict) or not isinstance(ch.get("delta"), dict):
                    continue
                delta, idx = ch["delta"], ch.get("index", 0)
                for fieldname in ("content", "reasoning_content"):
                    if isinstance(delta.get(fieldname), str):
                        pieces.setdefault((idx, fieldname), []).append((delta, fieldname))
                        held.append((delta, fieldname))
                for tc in delta.get("tool_calls") or ():
                    fn = tc.get("function") if isinstance(tc, dict) else None
                    if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                        pieces.setdefault((idx, "tool", tc.get("index", 0)), []).append((fn, "arguments"))
                        held.append((fn, "arguments"))
            # The streamed pieces are scrubbed joined, below; everything else here, now.
            if self._in_place(obj, echoed, {(id(holder), name) for holder, name in held}):
                changed.add(i)
        for group in pieces.values():
            joined = "".join(holder[name] for holder, name in group)
            clean = self.text(joined, echoed)
            if clean != joined:
                for n, (holder, name) in enumerate(group):
                    holder[name] = clean if n == 0 else ""
                changed = set(parsed)  # cheap and safe: re-serialise every parsed event
        for i in changed:
            events[i] = "data: " + json.dumps(parsed[i], ensure_ascii=False)
        out = self._redactor.raw("\n\n".join(events))
        return out.encode("utf-8") if isinstance(body, bytes) else out

    def uri(self, uri: str) -> str:
        p = urlparse(uri)
        if not p.query:
            return self.text(uri)
        q = [(k, REDACTED if _SECRET_QUERY.search(k) else v) for k, v in parse_qsl(p.query, keep_blank_values=True)]
        return self.text(p._replace(query=urlencode(q)).geturl())
