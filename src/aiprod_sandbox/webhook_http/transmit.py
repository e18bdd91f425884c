"""One webhook attempt on the wire: look the host up, apply the address policy to what it
finds, POST the signed bytes over a kept-alive connection to a checked address, and classify
what came back.

The client is aiohttp (bench/webhook_floor.py: a bare loop of it posts ~20x what a loop of
httpx.AsyncClient does against the same receiver on one core). Its connector keeps one pool
of connections per endpoint (name, port, TLS), so the request keeps its URL, Host header and
TLS name as written. The connector never looks a name up itself: its resolver (`_Checked`)
answers only with the addresses this transmitter looked up with the app's resolver and checked
for this attempt, so a name that now resolves elsewhere (DNS rebinding) cannot slip past the
check; a connection kept alive from an earlier attempt goes to an address checked then, and a
name whose lookup is refused now sends nothing. The whole attempt, the lookup and a
slow-dripping answer included, is bounded by the timeout (aiohttp is given no timer of its
own); only the first `excerpt_bytes` of an answer are read (a connection whose answer was not
read to its end is closed, not kept); redirects are not followed; no cookie is kept.
A `slow` attempt (`chaos.py`) drips its body: its bound is the timeout plus the dripping, so
the receiver's part of it has the whole timeout, as in any other attempt.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.clock import monotonic, sleep
from ..core.deliveries import Attempt, AttemptError
from .addresses import IPAddress, Resolver, Unresolved, first_refusal, literal, resolve
from .chaos import pieces

if TYPE_CHECKING:  # imported on the first attempt: aiohttp is ~60 ms of every start-up
    import aiohttp
    from aiohttp.abc import ResolveResult

log = logging.getLogger("aiprod_sandbox.webhooks")

MEMO_SIZE = 4096  # URLs parsed, and hosts written as addresses checked, kept per transmitter

SocketFactory = Callable[[tuple[Any, ...]], socket.socket]
"""aiohttp's `socket_factory`: makes the socket for one address it is about to connect to."""


@dataclass(frozen=True)
class WireOptions:
    """How attempts reach the network, for tests: `tls` the trust roots for https webhooks
    (None: the system's), `socket_factory` makes every socket the sender connects with."""

    tls: ssl.SSLContext | None = None
    socket_factory: SocketFactory | None = None


class _Refused(Exception):
    """The target resolved to an address the policy refuses."""


class _Checked:
    """The connector's resolver: a name's addresses as checked for the attempts in flight to
    it, and nothing else (an aiohttp `AbstractResolver`)."""

    def __init__(self) -> None:
        self._addresses: dict[str, list[IPAddress]] = {}
        self._users: Counter[str] = Counter()

    def hold(self, host: str, addresses: list[IPAddress]) -> None:
        self._addresses[host] = addresses
        self._users[host] += 1

    def drop(self, host: str) -> None:
        self._users[host] -= 1
        if self._users[host] <= 0:
            del self._users[host], self._addresses[host]

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._addresses:
            raise OSError(f"{host} was not looked up and checked for this attempt")
        return [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self._addresses[host]
        ]

    async def close(self) -> None:
        return None


def classify(
    error: BaseException, *, resolving: bool, host: str, timeout: float
) -> tuple[AttemptError, str]:
    """(error, excerpt) of an attempt that raised `error`; raises it again if it is not one an
    attempt can meet. aiohttp's own timeouts are TimeoutErrors too, and say `timeout`."""
    import aiohttp

    if isinstance(error, Unresolved):
        return "dns", str(error)[:200]
    if isinstance(error, TimeoutError):
        if resolving:
            return "dns", f"DNS lookup of {host} timed out after {timeout:g} s"
        return "timeout", ""
    if isinstance(error, _Refused):
        return "connect_error", str(error)
    if isinstance(error, aiohttp.ClientError | OSError | ValueError):
        return "connect_error", (str(error) or type(error).__name__)[:200]
    raise error


class Transmitter:
    """Sends attempts through one aiohttp session, made on the first attempt."""

    def __init__(
        self,
        *,
        resolver: Resolver,
        timeout: float,
        concurrency: int,
        excerpt_bytes: int,
        deny_private: bool,
        wire: WireOptions | None = None,
    ) -> None:
        self.resolver = resolver
        self._timeout = timeout
        self._concurrency = concurrency
        self._excerpt = excerpt_bytes
        self._deny_private = deny_private
        self._wire = wire or WireOptions()
        self._checked = _Checked()
        self._session: aiohttp.ClientSession | None = None
        # A URL parses the same every time, and a host written as an address always stands
        # for that address and gets the same verdict: both are kept. A name is looked up and
        # checked again on every attempt.
        self._urls: dict[str, Any] = {}
        self._literals: dict[str, tuple[list[IPAddress], str | None]] = {}

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            connector = aiohttp.TCPConnector(
                limit=self._concurrency,
                resolver=self._checked,  # type: ignore[arg-type]  # duck-typed AbstractResolver
                use_dns_cache=False,
                ssl=self._wire.tls or True,
                socket_factory=self._wire.socket_factory,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),  # the attempt's bound is the only one
                cookie_jar=aiohttp.DummyCookieJar(),  # one receiver's cookie is no one else's
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, url: str, body: bytes, attempt: Attempt, *, drip_seconds: float = 0.0
    ) -> None:
        """Make the attempt and fill in its answer, error and duration. With `drip_seconds`,
        the body goes out in pieces over that many real seconds (a `slow` attempt), and the
        attempt may last that much longer than the timeout."""
        started = monotonic()
        host = ""
        resolving = True
        try:
            target = self._url(url)
            host = target.raw_host or ""
            async with asyncio.timeout(self._timeout + drip_seconds):  # the lookup counts too
                known = self._literals.get(host)
                if known is None:
                    addresses = await resolve(host, self.resolver, None)
                    reason = first_refusal(host, addresses, self._deny_private)
                    if literal(host) is not None:
                        if len(self._literals) >= MEMO_SIZE:
                            self._literals.clear()
                        self._literals[host] = (addresses, reason)
                else:
                    addresses, reason = known
                resolving = False
                if reason:
                    raise _Refused(reason)
                self._checked.hold(host, addresses)
                try:
                    await self._post(target, body, attempt, drip_seconds)
                finally:
                    self._checked.drop(host)
            status = attempt.response_status
            if 300 <= status < 400:
                attempt.error = "redirect"
            elif not 200 <= status < 300:
                attempt.error = "non_2xx"
        except Exception as error:
            attempt.error, excerpt = classify(
                error, resolving=resolving, host=host, timeout=self._timeout
            )
            if excerpt:
                attempt.response_excerpt = excerpt
            if isinstance(error, _Refused):
                log.warning("webhook to %s not sent: %s", url, error)
        attempt.duration_ms = round((monotonic() - started) * 1000, 3)

    def _url(self, url: str) -> Any:
        """`url` parsed (a yarl URL), kept for the next attempt to it."""
        parsed = self._urls.get(url)
        if parsed is None:
            from yarl import URL

            if len(self._urls) >= MEMO_SIZE:
                self._urls.clear()
            parsed = self._urls[url] = URL(url)
        return parsed

    async def _post(self, url: Any, body: bytes, attempt: Attempt, drip_seconds: float) -> None:
        """POST to the URL as written; the connector reaches its host at a checked address
        (the first that takes the connection: a host written as an address is its only one)."""
        headers = attempt.request_headers
        content: bytes | AsyncIterator[bytes] = body
        if drip_seconds:
            # With its length given, the body is sent as it is, not chunked: the receiver sees
            # an ordinary request whose bytes arrive slowly.
            headers = {**headers, "Content-Length": str(len(body))}
            content = _dripping(body, drip_seconds)
        async with self._http().post(
            url, data=content, headers=headers, allow_redirects=False
        ) as response:
            attempt.response_status = response.status
            excerpt = bytearray()
            while len(excerpt) < self._excerpt:
                chunk = await response.content.read(self._excerpt - len(excerpt))
                if not chunk:
                    break
                excerpt += chunk
                if response.content.at_eof():  # all of it read: no read of nothing to learn so
                    break
            attempt.response_excerpt = bytes(excerpt).decode("utf-8", "replace")


async def _dripping(body: bytes, seconds: float) -> AsyncIterator[bytes]:
    """`body` in pieces, the last one `seconds` after the headers. aiohttp sends the headers
    with the first piece, so that one goes at once and the rest are spread over `seconds`
    (a body of one piece goes whole, headers and all, after `seconds`)."""
    first, *rest = pieces(body, seconds)
    if not rest:
        await sleep(seconds)
    yield first
    for part in rest:
        await sleep(seconds / len(rest))
        yield part
