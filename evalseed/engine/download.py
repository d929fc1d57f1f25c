"""Plain GETs of what an answer links to (Seedream's image URLs expire, so they are fetched at once).

Not through the openai client: it would send the API key to whatever host the link names.

A link is chosen by the server, so it may name anything the machine running evalseed can reach
and the server cannot: a loopback admin page, a cloud metadata address (169.254.169.254), a
host of the private network. Every connection a download opens, the first and one per redirect,
is checked after DNS resolution against `AddressPolicy` and made to the address that was
checked (a name that resolves elsewhere a moment later changes nothing). Public addresses are
allowed; others only when they are the run's own server (its --base-url, host and port) or in a
network the user allowed (--allow-download-from). Downloads do not use HTTP(S)_PROXY: behind a
proxy, the address connected to is not the address checked.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Iterable, Mapping

from ..errors import PermanentCallError
from .failures import status_error

MAX_REDIRECTS = 5

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _plain_ip(ip: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 reaches 127.0.0.1.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _what(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is, or None when it is public."""
    for attr, label in (("is_unspecified", "unspecified"), ("is_loopback", "loopback"),
                        ("is_link_local", "link-local"), ("is_multicast", "multicast"),
                        ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return label
    return None if ip.is_global else "non-public"


class AddressPolicy:
    """Which addresses a download may connect to."""

    def __init__(self, networks: Iterable[str] = (), own: Iterable[tuple[str, int]] = ()):
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self.own = {(_plain_ip(ipaddress.ip_address(host)), port) for host, port in own}

    @classmethod
    def for_run(cls, base_urls: Iterable[str], networks: Iterable[str] = ()) -> "AddressPolicy":
        """The policy of a run: the addresses (host and port) of the servers it calls, and
        `networks`."""
        from urllib.parse import urlsplit

        own: list[tuple[str, int]] = []
        for url in base_urls:
            parts = urlsplit(url)
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
                own += [(str(info[4][0]), port) for info in
                        socket.getaddrinfo(parts.hostname or "", port, type=socket.SOCK_STREAM)]
            except (OSError, UnicodeError, ValueError):
                pass  # the run's requests will fail on their own and say why
        return cls(networks, own)

    def refusal(self, address: str, port: int) -> str | None:
        """Why a download may not connect to `address`:`port`, or None when it may."""
        try:
            ip = _plain_ip(ipaddress.ip_address(address.split("%", 1)[0]))
        except ValueError:
            return f"{address} is not an IP address"
        what = _what(ip)
        if what is None or (ip, port) in self.own or any(ip in net for net in self.networks):
            return None
        return (f"{ip} is a {what} address (allow it with --allow-download-from {ip}"
                f"{'/32' if ip.version == 4 else '/128'} if it is yours)")


class RefusedAddress(PermanentCallError):
    def __init__(self, message: str):
        super().__init__("RefusedAddress", message)


def _guarded_backend(policy: AddressPolicy) -> Any:
    import httpcore2

    class GuardedBackend(httpcore2.AsyncNetworkBackend):
        """Resolves the host itself, checks every address, and connects to a checked one."""

        def __init__(self) -> None:
            self._inner = httpcore2.AnyIOBackend()

        async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                              local_address: str | None = None, socket_options: Any = None) -> Any:
            import anyio

            try:
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as e:
                raise httpcore2.ConnectError(f"cannot resolve {host}: {e}") from None
            allowed: list[str] = []
            refused: list[str] = []
            for info in infos:
                address = str(info[4][0])
                why = policy.refusal(address, port)
                (refused if why else allowed).append(why or address)
            if not allowed:
                raise RefusedAddress(f"not fetched: {host} resolves to {refused[0]}")
            last: Exception | None = None
            for address in dict.fromkeys(allowed):
                try:
                    return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                         socket_options=socket_options)
                except (httpcore2.ConnectError, httpcore2.ConnectTimeout, OSError) as e:
                    last = e
            raise last  # type: ignore[misc]

        async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
            raise RefusedAddress("not fetched: a link cannot name a unix socket")

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    return GuardedBackend()


class Downloads:
    """The HTTP client for links, made on first use (most runs never download anything) and
    shared by every lane of a run, which closes it when the run ends. `policy`: where links may
    lead (None: anywhere, for a replayed run, which never touches the network)."""

    def __init__(self, policy: AddressPolicy | None = None) -> None:
        self.policy = policy
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import httpx2  # the openai SDK's HTTP library, so cassettes record these requests too

            transport = None
            if self.policy is not None:
                import httpcore2

                # An AsyncHTTPTransport still (cassettes patch that class), with a pool that
                # connects through the guarded backend.
                transport = httpx2.AsyncHTTPTransport(trust_env=False)
                transport._pool = httpcore2.AsyncConnectionPool(
                    ssl_context=httpx2.create_ssl_context(trust_env=False), max_connections=100,
                    max_keepalive_connections=20, keepalive_expiry=5.0,
                    network_backend=_guarded_backend(self.policy))
            self._client = httpx2.AsyncClient(follow_redirects=True, max_redirects=MAX_REDIRECTS,
                                              transport=transport, trust_env=self.policy is None)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


async def fetch(client: Any, url: str, *, headers: Mapping[str, str], max_bytes: int, timeout: float) -> bytes:
    """One attempt: the whole body, or TransientCallError / PermanentCallError. `timeout` is
    httpx's per-operation limit; the retry loop bounds the attempt as a whole. The body is
    counted as it is decoded (a compressed body is counted at its real size)."""
    import httpx2

    if not url.startswith(("http://", "https://")):
        raise PermanentCallError("InvalidURL", f"not an http(s) URL: {url[:80]!r}")
    try:
        async with client.stream("GET", url, headers=headers, timeout=timeout) as resp:
            if resp.status_code != 200:
                raise status_error(resp.status_code, None, f"HTTP {resp.status_code} fetching the file", resp.headers)
            length = resp.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise PermanentCallError("TooLarge", f"the file is {int(length):,} bytes, larger than {_size(max_bytes)}")
            chunks, size = [], 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise PermanentCallError("TooLarge", f"the file is larger than {_size(max_bytes)}")
                chunks.append(chunk)
    except httpx2.TooManyRedirects:
        raise PermanentCallError("TooManyRedirects", f"more than {MAX_REDIRECTS} redirects") from None
    return b"".join(chunks)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n:,} bytes"
