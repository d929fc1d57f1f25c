"""How a request is found among the recordings: its canonical key (a hash, so a lookup is one
dict access), the headers the engine marks requests with, and the shard a request belongs to."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlparse

SUITE_HEADER = "x-evalseed-suite"
CASE_HEADER = "x-evalseed-case"
PROVIDER_HEADER = "x-evalseed-provider"
# Added to responses handed to the client (never stored): how the observer finds the interaction.
INTERACTION_HEADER = "x-evalseed-interaction"
RECORDED_HEADER = "x-evalseed-recorded"


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


def header_value(headers: Any, name: str) -> str | None:
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
class Info:
    key: str
    shard: tuple[str, str, str]  # provider, suite, model
    suite: str | None
    case: str | None
    model: str | None
