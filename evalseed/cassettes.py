"""Record and replay the engine's HTTP calls with vcrpy, sharded and indexed.

One `CassetteSession` wraps a whole run: vcrpy patches httpx globally, so concurrent requests
cannot each have their own cassette. The session's cassette is a vcrpy `Cassette` subclass that

* stores interactions in small files, one per (provider, suite, model):
  `<root>/<provider>/<suite>/<model>.json`. Each file is an ordinary vcrpy cassette (format
  version 1, vcrpy's own JSON serializer: `vcr.use_cassette(path, serializer="json")` opens it);
  our only addition is a `response.evalseed` mapping with the timings measured while recording.
  Small files keep git diffs readable and let a replay load only the suites it runs. JSON rather
  than YAML because loading is the replay's largest cost of our own: 1,000 streamed interactions
  took 2.1 s to load as YAML (libyaml) and 0.065 s as JSON on this machine.
* finds a request by a hash of its canonical form (method, URL path and query, JSON body with
  sorted keys), computed once per request, in a dict: O(1) per lookup. Stock vcrpy compares each
  request with every recorded one, parsing JSON each time (DESIGN.md: quadratic, 64 s for 1,000).
  The host is not part of the match, so the embedded server's random port does not matter.
* in `record` / `auto` mode passes streamed responses through to the client as they arrive and
  records them when the stream ends. vcrpy's own httpx stub reads the whole response before the
  client sees a byte, which would make every recorded time-to-first-token equal the latency.
  Replay uses vcrpy's stock httpx stub.
* keeps secrets out: only a few named headers are stored at all, and every stored string is
  scrubbed of the run's API keys, any `*_API_KEY`/`*_TOKEN`/`*_SECRET` environment value and
  key-like strings (`sk-...`, bearer tokens, long hex or mixed base64 runs).

The session is also the engine's call observer (`after_call`): while recording it stores the
engine's measured latency, TTFT, output tokens/s and usage with the interaction; on replay it puts
those recorded figures back on the call and sets `replayed=True`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlparse

from .engine.redact import Redactor
from .errors import CassetteMiss, UsageError
from .files import write_atomic
from .jobs import file_part

if TYPE_CHECKING:
    from .core import CallResult

MODES = ("off", "replay", "record", "auto")

SUITE_HEADER = "x-evalseed-suite"
CASE_HEADER = "x-evalseed-case"
PROVIDER_HEADER = "x-evalseed-provider"
# Added to responses handed to the client (never stored): how the observer finds the interaction.
INTERACTION_HEADER = "x-evalseed-interaction"
RECORDED_HEADER = "x-evalseed-recorded"

# Everything else (authorization, api-key, cookie, user agents, SDK telemetry) is never written.
KEPT_REQUEST_HEADERS = frozenset({"content-type", SUITE_HEADER, CASE_HEADER, PROVIDER_HEADER})
KEPT_RESPONSE_HEADERS = frozenset({"content-type", "retry-after"})

REDACTED = "REDACTED"
SAVE_EVERY_S = 5.0
METRIC_FIELDS = (
    "latency_ms", "ttft_ms", "output_tps",
    "prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens", "images",
)
# Only timings are put back on replay: usage comes from the replayed body itself, as it did live.
REPLAYED_FIELDS = ("latency_ms", "ttft_ms", "output_tps")

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


def canonical_key(method: str, uri: str, body: bytes | str | None) -> str:
    """The match key: method, path and sorted query, and the JSON body with keys sorted (the raw
    bytes when the body is not JSON). Host and port are left out on purpose."""
    p = urlparse(uri)
    query = urlencode(sorted(parse_qsl(p.query, keep_blank_values=True)))
    if isinstance(body, str):
        body = body.encode("utf-8")
    canon: bytes = body or b""
    if body:
        try:
            canon = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        except (ValueError, UnicodeDecodeError):
            pass
    h = hashlib.sha256(f"{method.upper()} {p.path}?{query}\n".encode())
    h.update(canon)
    return h.hexdigest()[:32]


def _header(headers: Any, name: str) -> str | None:
    """A header value from vcrpy's HeadersDict, httpx Headers or a plain dict, any letter case."""
    if headers is None:
        return None
    try:
        v = headers.get(name)
    except Exception:
        v = None
    if v is None and isinstance(headers, Mapping):
        for k, val in headers.items():
            if k.lower() == name:
                v = val
                break
    if isinstance(v, (list, tuple)):
        v = v[0] if v else None
    return v


@dataclasses.dataclass(frozen=True, slots=True)
class _Info:
    key: str
    shard: tuple[str, str, str]  # provider, suite, model
    suite: str | None
    case: str | None
    model: str | None


# ---- storage: vcrpy's JSON cassette format ----------------------------------------------------


def _body_out(b: Any) -> dict:
    """A body for the file: text when it is UTF-8 (all API traffic), else base64 (an image)."""
    if isinstance(b, bytes):
        try:
            return {"string": b.decode("utf-8")}
        except UnicodeDecodeError:
            import base64

            return {"base64": base64.b64encode(b).decode("ascii")}
    return {"string": b}


def _text_or_none(b: Any) -> Any:
    return _body_out(b).get("string") if isinstance(b, bytes) else b


def _make_cassette_class():
    """Built on first use so `import evalseed.cassettes` does not import vcrpy (0.24 s)."""
    from vcr.cassette import Cassette
    from vcr.record_mode import RecordMode
    from vcr.request import Request as VcrRequest
    from vcr.serialize import deserialize
    from vcr.serializers import jsonserializer

    class ShardedCassette(Cassette):
        """A vcrpy Cassette over a directory of small cassettes, with a hash index."""

        def __init__(self, path, *, session: "CassetteSession", **kwargs):
            self._session = session
            self._root = Path(path)
            self._index: dict[str, list[int]] = {}
            self._info_of: list[_Info] = []
            self._fresh: set[int] = set()  # recorded in this session: never replayed in it
            self._loaded_shards: set[tuple[str, str, str]] = set()
            self._dirty_shards: set[tuple[str, str, str]] = set()
            self._rerecorded: dict[tuple[str, str, str], set[str]] = {}
            self._tokens = itertools.count(1)
            self._by_token: dict[str, int] = {}
            self._pending_metrics: dict[str, dict] = {}
            self._last_save = time.monotonic()
            super().__init__(path, **kwargs)

        # -- what vcrpy calls ------------------------------------------------------------------

        def _load(self) -> None:
            # Shards load on first use; `rewound` is what lets vcrpy play loaded interactions.
            self.rewound = True
            self._loaded_count = 0

        def can_play_response_for(self, request) -> bool:
            info = self.info(request)
            if self.record_mode == RecordMode.ALL:
                return False
            if self._find(info) is not None:
                return True
            if self._session.mode == "replay":
                raise CassetteMiss(self._miss_message(info))
            return False

        def play_response(self, request):
            info = self.info(request)
            idx = self._find(info)
            if idx is None:
                raise CassetteMiss(self._miss_message(info))
            self.play_counts[idx] += 1
            self._session.played += 1
            response = self.data[idx][1]
            recorded = response.get("evalseed") or {}
            headers = dict(response["headers"])
            headers[RECORDED_HEADER] = [json.dumps(recorded, separators=(",", ":"))]
            return {**response, "headers": headers}

        def append(self, request, response) -> None:
            scrub = self._session.scrubber
            # The answer is scrubbed here, not in a vcrpy hook, because it needs the request's own
            # key-like strings (all headers included), which the hooks never see side by side.
            echoed = scrub.found(request.uri, request.body, *request.headers.values())
            body = response["body"]["string"]
            ctype = " ".join(v for k, vals in response["headers"].items() if k.lower() == "content-type" for v in vals)
            response = {**response, "body": {**response["body"], "string": (
                scrub.sse(body, echoed) if "event-stream" in ctype else scrub.data(body, echoed))}}
            n = len(self.data)
            super().append(request, response)  # runs the header and request scrubbing hooks
            if len(self.data) == n:
                return
            idx = n
            info = self.info(self.data[idx][0])
            self._ensure_shard(info.shard)  # appends the shard's older recordings after ours
            self._add(idx, info)
            self._fresh.add(idx)
            self._dirty_shards.add(info.shard)
            self._rerecorded.setdefault(info.shard, set()).add(info.key)
            token = getattr(request, "_evalseed_token", None)
            if token:
                self._by_token[token] = idx
                pending = self._pending_metrics.pop(token, None)
                if pending:
                    self.data[idx][1]["evalseed"] = pending
            self._session.recorded += 1

        def _save(self, force: bool = False) -> None:
            for shard in sorted(self._dirty_shards):
                self._write_shard(shard)
            self._dirty_shards.clear()
            self.dirty = False

        def __contains__(self, request) -> bool:
            return self._find(self.info(request)) is not None

        def _responses(self, request):
            # vcrpy's own lookup path (responses_of, __contains__): the same index.
            info = self.info(request)
            self._ensure_shard(info.shard)
            for idx in self._index.get(info.key, ()):
                yield idx, self.data[idx][1]

        # -- ours ------------------------------------------------------------------------------

        def next_token(self) -> str:
            return str(next(self._tokens))

        def set_metrics(self, token: str, metrics: dict) -> None:
            idx = self._by_token.get(token)
            if idx is None:
                self._pending_metrics[token] = metrics
            else:
                self.data[idx][1]["evalseed"] = metrics
                self._dirty_shards.add(self._info_of[idx].shard)
            # A long recording (the embedded model takes minutes per suite) must survive a kill:
            # written as it goes, at most every few seconds, not only when the run ends.
            now = time.monotonic()
            if now - self._last_save >= SAVE_EVERY_S:
                self._last_save = now
                self._save()

        def info(self, request) -> _Info:
            cached = getattr(request, "_evalseed_info", None)
            if cached is not None:
                return cached
            scrub = self._session.scrubber
            body = request.body
            if hasattr(body, "read"):
                body = body.read()
            body = scrub.data(body)
            model = None
            if body:
                try:
                    parsed = json.loads(body)
                    if isinstance(parsed, dict) and isinstance(parsed.get("model"), str):
                        model = parsed["model"]
                except (ValueError, UnicodeDecodeError):
                    pass
            suite = _header(request.headers, SUITE_HEADER)
            case = _header(request.headers, CASE_HEADER)
            provider = _header(request.headers, PROVIDER_HEADER) or self._session.provider_for(model)
            info = _Info(
                key=canonical_key(request.method, scrub.uri(request.uri), body),
                shard=(file_part(provider), file_part(suite or "no-suite"), file_part(model or "no-model")),
                suite=suite,
                case=case,
                model=model,
            )
            try:
                request._evalseed_info = info
            except AttributeError:
                pass
            return info

        def shard_path(self, shard: tuple[str, str, str]) -> Path:
            provider, suite, model = shard
            return self._root / provider / suite / f"{model}.json"

        def _add(self, idx: int, info: _Info) -> None:
            self._index.setdefault(info.key, []).append(idx)
            if len(self._info_of) <= idx:
                self._info_of.extend([info] * (idx + 1 - len(self._info_of)))
            self._info_of[idx] = info

        def _find(self, info: _Info) -> int | None:
            self._ensure_shard(info.shard)
            for idx in self._index.get(info.key, ()):
                if idx not in self._fresh and self.play_counts[idx] == 0:
                    return idx
            return None

        def _ensure_shard(self, shard: tuple[str, str, str]) -> None:
            if shard in self._loaded_shards:
                return
            self._loaded_shards.add(shard)
            path = self.shard_path(shard)
            if not path.is_file():
                return
            try:
                requests, responses, *_ = deserialize(path.read_text(encoding="utf-8"), jsonserializer)
            except Exception as e:  # a hand-edited or merge-conflicted file
                raise UsageError(
                    f"{path}: not a readable cassette ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                    "fix it or delete it and record again."
                ) from None
            for req, resp in zip(requests, responses):
                if "base64" in resp["body"]:
                    import base64

                    resp["body"] = {"string": base64.b64decode(resp["body"]["base64"])}
                self.data.append((req, resp))
                self._add(len(self.data) - 1, self.info(req))
            self._session.loaded += len(requests)

        def _write_shard(self, shard: tuple[str, str, str]) -> None:
            rerecorded = self._rerecorded.get(shard, set()) if self.record_mode == RecordMode.ALL else set()
            rows = []
            for idx, (req, resp) in enumerate(self.data):
                info = self._info_of[idx]
                if info.shard != shard:
                    continue
                if idx not in self._fresh and info.key in rerecorded:
                    continue  # replaced by this session's recording of the same request
                rows.append((info.case or "", info.key, idx, req, resp))
            # Stable order (concurrency records in any order): small, reviewable git diffs.
            rows.sort(key=lambda r: (r[0], r[1], r[2]))
            interactions = []
            for _case, _key, _idx, req, resp in rows:
                r = req._to_dict()
                r["body"] = _text_or_none(r["body"])
                out = {"status": resp["status"], "headers": resp["headers"], "body": _body_out(resp["body"]["string"])}
                if resp.get("evalseed"):
                    out["evalseed"] = resp["evalseed"]
                interactions.append({"request": r, "response": out})
            # One field per line: diffs of a re-recorded suite stay reviewable.
            text = json.dumps({"version": 1, "interactions": interactions}, indent=1, ensure_ascii=False) + "\n"
            # Belt and braces: the run's own keys must never reach the disk, whatever path they took.
            text = self._session.scrubber.raw_literals(text)
            path = self.shard_path(shard)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text, umask_mode=True)

        def _miss_message(self, info: _Info) -> str:
            recorded = len(self._index.get(info.key, ()))
            where = self.shard_path(info.shard)
            what = (
                f"all {recorded} recordings of this request were already played"
                if recorded
                else f"no recording of this request in {where}"
            )
            return (
                f"cassette replay: suite {info.suite or '?'}, case {info.case or '?'}, model {info.model or '?'}: "
                f"{what} (the suite or its prompt changed since recording?); record it with --cassettes record or auto."
            )

    return ShardedCassette, VcrRequest, RecordMode


# ---- record mode: a pass-through httpx2 transport patch ---------------------------------------


def _recording_async_patch(cassette, vcr_request_cls, original):
    """Replacement for httpx2.AsyncHTTPTransport.handle_async_request in record/auto mode: plays
    what the cassette has (auto), otherwise forwards the request and hands the response to the
    client chunk by chunk while keeping a copy, appended to the cassette when the stream ends."""
    import httpx2
    from vcr.stubs.httpx_stubs import _deserialize_response

    class _Tee(httpx2.AsyncByteStream):
        def __init__(self, inner, on_done):
            self._inner = inner
            self._chunks: list[bytes] = []
            self._on_done = on_done
            self._done = False

        async def __aiter__(self):
            async for chunk in self._inner:
                self._chunks.append(chunk)
                yield chunk
            self._finish()

        def _finish(self) -> None:
            if not self._done:
                self._done = True
                self._on_done(b"".join(self._chunks))

        async def aclose(self) -> None:
            # The engine stops reading at `data: [DONE]`, before the stream's formal end: that is
            # a whole answer. Anything else closed early (timeout, cancel) is not recorded.
            if not self._done and b"data: [DONE]" in b"".join(self._chunks[-2:]):
                self._finish()
            await self._inner.aclose()

    async def handle_async_request(self, request):
        body = b"".join([part async for part in request.stream])
        request.stream = httpx2.ByteStream(body)
        vreq = vcr_request_cls(request.method, str(request.url), body, request.headers)
        if cassette.can_play_response_for(vreq):
            return _deserialize_response(cassette.play_response(vreq), httpx2)
        # The stored copy must be plain text for scrubbing and reading.
        request.headers["accept-encoding"] = "identity"
        response = await original(self, request)
        # These headers are ours, put on replayed responses: from a live server they would
        # mark its answer as replayed and give it timings of its choosing.
        for ours in (RECORDED_HEADER, INTERACTION_HEADER):
            response.headers.pop(ours, None)
        if response.status_code >= 500 or response.status_code == 429:
            return response  # transient: the retry is what gets recorded
        headers: dict[str, list[str]] = {}
        for name, value in response.headers.multi_items():
            headers.setdefault(name, []).append(value)
        token = cassette.next_token()
        vreq._evalseed_token = token
        response.headers[INTERACTION_HEADER] = token

        def done(content: bytes) -> None:
            if response.headers.get("content-encoding", "identity") not in ("identity", ""):
                return  # the server ignored accept-encoding: not stored rather than stored unscrubbable
            cassette.append(
                vreq,
                {
                    "status": {"code": response.status_code, "message": response.reason_phrase},
                    "headers": headers,
                    "body": {"string": content},
                },
            )

        response.stream = _Tee(response.stream, done)
        return response

    return httpx2.AsyncHTTPTransport, "handle_async_request", handle_async_request


# ---- the session ---------------------------------------------------------------------------


class CassetteSession:
    """One cassette context for a whole run, and the engine's call observer.

    `mode`: `off` (nothing patched), `replay` (only recordings; a missing one stops the run with
    CassetteMiss; the network is never touched), `record` (every call goes out and is recorded,
    replacing earlier recordings of the same request), `auto` (replay what is recorded, record the
    rest). `providers` maps model names to provider names for the storage layout (a request's
    `x-evalseed-provider` header wins). `secrets`: values to scrub besides the environment's.
    """

    def __init__(
        self,
        mode: str,
        root: str | os.PathLike = "cassettes",
        *,
        providers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        default_provider: str = "default",
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"--cassettes must be one of {', '.join(MODES)}, not {mode!r}.")
        self.mode = mode
        self.root = Path(root)
        self.providers = dict(providers or {})
        self.default_provider = default_provider
        self.scrubber = Scrubber(secrets)
        self.played = 0
        self.recorded = 0
        self.loaded = 0
        self._cm = None
        self.cassette = None

    def provider_for(self, model: str | None) -> str:
        return self.providers.get(model or "", self.default_provider)

    def __enter__(self) -> "CassetteSession":
        if self.mode == "off":
            return self
        if self.mode == "replay" and not self.root.is_dir():
            raise UsageError(
                f"{self.root}: no cassettes to replay; record them first with --cassettes record, "
                "or pass --cassette-dir."
            )
        ShardedCassette, VcrRequest, RecordMode = _make_cassette_class()
        record_mode = {"replay": RecordMode.NONE, "record": RecordMode.ALL, "auto": RecordMode.NEW_EPISODES}[self.mode]
        scrub = self.scrubber

        def before_record_request(request):
            request.uri = scrub.uri(request.uri)
            request.body = scrub.data(request.body)
            request.headers = {
                k: scrub.text(v) for k, v in request.headers.items() if k.lower() in KEPT_REQUEST_HEADERS
            }
            return request

        def before_record_response(response):
            response["headers"] = {
                k: [scrub.text(x) for x in v]
                for k, v in response["headers"].items()
                if k.lower() in KEPT_RESPONSE_HEADERS
            }
            return response

        kwargs: dict[str, Any] = dict(
            path=str(self.root),
            session=self,
            record_mode=record_mode,
            before_record_request=before_record_request,
            before_record_response=before_record_response,
        )
        cm = ShardedCassette.use(**kwargs)
        if self.mode in ("record", "auto"):
            # The patch needs the cassette object, which vcrpy builds in `__enter__`: enter, then
            # lay our patch over vcrpy's httpx2 one (undone in reverse order on exit).
            import contextlib
            from unittest import mock

            import httpx2

            # The real transport method, read before vcrpy replaces it with its buffering stub.
            original = httpx2.AsyncHTTPTransport.handle_async_request
            stack = contextlib.ExitStack()
            cassette = stack.enter_context(cm)
            obj, attr, fn = _recording_async_patch(cassette, VcrRequest, original)
            stack.enter_context(mock.patch.object(obj, attr, fn))
            self._cm = stack
            self.cassette = cassette
        else:
            self.cassette = cm.__enter__()
            self._cm = cm
        return self

    def __exit__(self, *exc_info) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            cm.__exit__(*exc_info)

    # -- the engine's observer -----------------------------------------------------------------

    def after_call(self, call: "CallResult", response_headers: Mapping[str, str] | None) -> "CallResult":
        """Record mode: store the engine's measurements with the interaction. Replay: return the
        call with the figures measured when it was recorded, marked `replayed`."""
        if self.mode == "off" or self.cassette is None:
            return call
        recorded = _header(response_headers, RECORDED_HEADER)
        if recorded is not None:
            try:
                figures = json.loads(recorded) or {}
            except ValueError:
                figures = {}
            changes = {f: figures.get(f) for f in REPLAYED_FIELDS}
            return dataclasses.replace(call, replayed=True, **changes)
        token = _header(response_headers, INTERACTION_HEADER)
        if token:
            metrics = {f: getattr(call, f, None) for f in METRIC_FIELDS}
            metrics["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.cassette.set_metrics(token, {k: v for k, v in metrics.items() if v is not None})
        return call

    def summary(self) -> str:
        if self.mode == "off":
            return "cassettes off"
        return f"cassettes {self.mode} ({self.root}): {self.played} replayed, {self.recorded} recorded"
