"""One webhook attempt on the wire: look the host up, apply the address policy to what it
finds, POST the signed bytes to a checked address, and classify what came back.

Each attempt looks the host up with the app's resolver and connects to those checked
addresses only, so a name that now resolves elsewhere (DNS rebinding) cannot slip past the
check. The whole attempt, the lookup and a slow-dripping answer included, is bounded by the
timeout; only the first `excerpt_bytes` of an answer are read; redirects are not followed.
A `slow` attempt (`chaos.py`) drips its body: its bound is the timeout plus the dripping, so
the receiver's part of it has the whole timeout, as in any other attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..core.clock import monotonic, sleep
from ..core.deliveries import Attempt
from .addresses import IPAddress, Resolver, Unresolved, first_refusal, literal, resolve
from .chaos import pieces

if TYPE_CHECKING:  # imported on the first attempt: httpx is ~40 ms of every start-up
    import httpx

log = logging.getLogger("aiprod_sandbox.webhooks")


class _Refused(Exception):
    """The target resolved to an address the policy refuses."""


def _pinned(url: httpx.URL, address: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """A request to `url` that connects to `address`: the URL with that address as its host,
    the headers and extensions that keep it about the named host (its Host header; over TLS,
    the name the certificate is checked against)."""
    headers = {"Host": url.netloc.decode("ascii")}
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = url.host
        # Pooled connections are keyed by address: one opened for this name must not carry
        # another name's request (a shared-address host such as a tunnel routes on the name).
        headers["Connection"] = "close"
    return url.copy_with(host=str(address)), headers, extensions


class Transmitter:
    """Sends attempts through one pooled httpx client, made on the first attempt."""

    def __init__(
        self,
        *,
        resolver: Resolver,
        timeout: float,
        concurrency: int,
        excerpt_bytes: int,
        deny_private: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.resolver = resolver
        self._timeout = timeout
        self._concurrency = concurrency
        self._excerpt = excerpt_bytes
        self._deny_private = deny_private
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                transport=self._transport,
                follow_redirects=False,
                timeout=httpx.Timeout(self._timeout),
                limits=httpx.Limits(max_connections=self._concurrency),
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(
        self, url: str, body: bytes, attempt: Attempt, *, drip_seconds: float = 0.0
    ) -> None:
        """Make the attempt and fill in its answer, error and duration. With `drip_seconds`,
        the body goes out in pieces over that many real seconds (a `slow` attempt), and the
        attempt may last that much longer than the timeout."""
        import httpx

        started = monotonic()
        host = ""
        resolving = True
        try:
            target = httpx.URL(url)
            host = target.host
            async with asyncio.timeout(self._timeout + drip_seconds):  # the lookup counts too
                addresses = await resolve(host, self.resolver, None)
                resolving = False
                if reason := first_refusal(host, addresses, self._deny_private):
                    raise _Refused(reason)
                await self._post(target, addresses, body, attempt, drip_seconds)
            status = attempt.response_status
            if 300 <= status < 400:
                attempt.error = "redirect"
            elif not 200 <= status < 300:
                attempt.error = "non_2xx"
        except Unresolved as unresolved:
            attempt.error = "dns"
            attempt.response_excerpt = str(unresolved)[:200]
        except (TimeoutError, httpx.TimeoutException):
            if resolving:
                attempt.error = "dns"
                attempt.response_excerpt = (
                    f"DNS lookup of {host} timed out after {self._timeout:g} s"
                )
            else:
                attempt.error = "timeout"
        except _Refused as refused:
            attempt.error = "connect_error"
            attempt.response_excerpt = str(refused)
            log.warning("webhook to %s not sent: %s", url, refused)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            attempt.error = "connect_error"
            attempt.response_excerpt = str(exc)[:200]
        attempt.duration_ms = round((monotonic() - started) * 1000, 3)

    async def _post(
        self,
        url: httpx.URL,
        addresses: list[IPAddress],
        body: bytes,
        attempt: Attempt,
        drip_seconds: float,
    ) -> None:
        """POST to the first of the checked `addresses` that takes the connection (a host
        written as an address is its only one, and is used as it is)."""
        import httpx

        named = literal(url.host) is None
        for index, address in enumerate(addresses):
            request_url, headers = url, attempt.request_headers
            extensions: dict[str, Any] = {}
            if named:
                request_url, wire, extensions = _pinned(url, address)
                headers = {**headers, **wire}
            content: bytes | AsyncIterator[bytes] = body
            if drip_seconds:
                # With its length given, the body is sent as it is, not chunked: the receiver
                # sees an ordinary request whose bytes arrive slowly.
                headers = {**headers, "Content-Length": str(len(body))}
                content = _dripping(body, drip_seconds)
            try:
                async with self._http().stream(
                    "POST", request_url, content=content, headers=headers, extensions=extensions
                ) as response:
                    attempt.response_status = response.status_code
                    excerpt = bytearray()
                    async for chunk in response.aiter_raw():
                        excerpt += chunk
                        if len(excerpt) >= self._excerpt:
                            break
                    attempt.response_excerpt = bytes(excerpt[: self._excerpt]).decode(
                        "utf-8", "replace"
                    )
                return
            except httpx.ConnectError:
                if index == len(addresses) - 1:
                    raise


async def _dripping(body: bytes, seconds: float) -> AsyncIterator[bytes]:
    """`body` in pieces, each after a pause, the last one `seconds` after the headers."""
    parts = pieces(body, seconds)
    for part in parts:
        await sleep(seconds / len(parts))
        yield part
