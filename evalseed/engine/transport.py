"""The API client's HTTP client: what a server's error answer may make the client hold.

The openai SDK reads an error response's whole body before it raises, and a server can send one
of any size (a 100 MB error message would also have been stored whole in the row's `error`).
Error bodies are read up to ERROR_BODY_BYTES; past that the attempt fails with what its status
means (a 5xx or a 429 is retried, another 4xx is final), the rest unread. Successful answers are
bounded where the engine reads them (`api.read_capped`, `sse.read_stream`).
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from .failures import status_error

ERROR_BODY_BYTES = 1024 * 1024


def api_http_client(timeout: float) -> Any:
    """An httpx client for `openai.AsyncOpenAI(http_client=...)` with the SDK's own defaults,
    whose error bodies are capped."""
    import httpx2
    import openai

    class CappedErrorBody(httpx2.AsyncByteStream):
        def __init__(self, inner: Any, status: int, headers: Any):
            self._inner = inner
            self._status = status
            self._headers = headers

        async def __aiter__(self) -> AsyncIterator[bytes]:
            size = 0
            async for chunk in self._inner:
                size += len(chunk)
                if size > ERROR_BODY_BYTES:
                    raise status_error(self._status, None, f"the error body is over {ERROR_BODY_BYTES:,} bytes: not "
                                       "read further", self._headers)
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    # Still an AsyncHTTPTransport: cassettes patch that class's request handling.
    class CappedErrorsTransport(httpx2.AsyncHTTPTransport):
        async def handle_async_request(self, request: Any) -> Any:
            response = await super().handle_async_request(request)
            if response.status_code >= 400:
                response.stream = CappedErrorBody(response.stream, response.status_code, response.headers)
            return response

    # The SDK's connection limits: given a transport, the client would not apply them itself.
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
    return openai.DefaultAsyncHttpxClient(transport=CappedErrorsTransport(limits=limits), timeout=timeout)
