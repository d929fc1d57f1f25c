"""Record mode's pass-through transport method: the response reaches the client chunk by chunk as
it arrives (vcrpy's own httpx stub reads it whole first, which would make every recorded
time-to-first-token equal the latency) and is appended to the cassette when the stream ends.
Written as an `AsyncHTTPTransport.handle_async_request` replacement; see docs/design.md
("Cassettes") for why it is patched rather than injected."""

from __future__ import annotations

from typing import Any

from .matching import INTERACTION_HEADER, RECORDED_HEADER

# ---- record mode: a pass-through httpx2 transport patch ---------------------------------------


def recording_async_patch(cassette: Any, vcr_request_cls: Any, original: Any) -> tuple[Any, str, Any]:
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

