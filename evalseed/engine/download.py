"""Plain GETs of what an answer links to (Seedream's image URLs expire, so they are fetched at once).

Not through the openai client: it would send the API key to whatever host the link names.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import PermanentCallError
from .failures import status_error


class Downloads:
    """The HTTP client for links, made on first use (most runs never download anything) and
    shared by every lane of a run, which closes it when the run ends."""

    def __init__(self) -> None:
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import httpx2  # the openai SDK's HTTP library, so cassettes record these requests too

            self._client = httpx2.AsyncClient(follow_redirects=True)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


async def fetch(client: Any, url: str, *, headers: Mapping[str, str], max_bytes: int, timeout: float) -> bytes:
    """One attempt: the whole body, or TransientCallError / PermanentCallError. `timeout` is
    httpx's per-operation limit; the retry loop bounds the attempt as a whole."""
    if not url.startswith(("http://", "https://")):
        raise PermanentCallError("InvalidURL", f"not an http(s) URL: {url[:80]!r}")
    async with client.stream("GET", url, headers=headers, timeout=timeout) as resp:
        if resp.status_code != 200:
            raise status_error(resp.status_code, None, f"HTTP {resp.status_code} fetching the file", resp.headers)
        chunks, size = [], 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise PermanentCallError("TooLarge", f"the file is larger than {_size(max_bytes)}")
            chunks.append(chunk)
    return b"".join(chunks)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n:,} bytes"
