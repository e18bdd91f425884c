"""Which webhook URLs may be called: never link-local or metadata addresses; with
`--deny-private-webhooks`, no private or loopback ones either. Checked on resolved addresses,
at registration and again at send time, where the sender connects to the address it checked.

Host names are looked up by a `Resolver`, injected (`create_app(webhook_resolver=...)`) so
tests need no real DNS, and every lookup is bounded: at registration by
`REGISTRATION_DNS_TIMEOUT` (a host that does not answer in time is treated like one that does
not resolve: allowed, its deliveries fail with `dns` and are retried), at send time by the
attempt's timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, …
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private, as RFC 1918's
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
REGISTRATION_DNS_TIMEOUT = 1.0  # seconds a registration waits for DNS (a slow resolver)

Resolver = Callable[[str], Awaitable[Sequence[IPAddress]]]
"""A host name's addresses; raises OSError (or returns none) when it does not resolve."""


class Unresolved(Exception):
    """The host has no address: it does not resolve, or did not in time."""


def carried(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (IPv4-mapped, IPv4-compatible, 6to4,
    Teredo, NAT64): `2002:a9fe:a9fe::` reaches 169.254.169.254 through a 6to4 relay."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if any(address in network for network in NAT64) or (
        address in IPV4_COMPATIBLE and int(address) > 1
    ):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def refusal(address: IPAddress, deny_private: bool) -> str | None:
    """Why a request to `address` is refused, or None when it is allowed. An address that
    stands for IPv4 ones is judged by those (its own prefix says only how it is carried)."""
    for v4 in carried(address):
        reason = _refusal(v4, deny_private)
        if reason:
            return f"it stands for {v4}: {reason}"
    return None if carried(address) else _refusal(address, deny_private)


def _refusal(address: IPAddress, deny_private: bool) -> str | None:
    if address in METADATA:
        return "cloud metadata addresses are never allowed"
    if address.is_link_local:
        return "link-local addresses (169.254.0.0/16, fe80::/10) are never allowed"
    private = address.is_private or address in SHARED
    if private or address.is_loopback:  # ::1 is "reserved" too: decide here
        if deny_private:
            return "private and loopback addresses are refused (--deny-private-webhooks)"
        return None
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    return None


def first_refusal(host: str, addresses: Sequence[IPAddress], deny_private: bool) -> str | None:
    """Why `host` may not be called (one of its addresses is refused), or None."""
    for address in addresses:
        reason = refusal(address, deny_private)
        if reason:
            return f"{host} resolves to {address}: {reason}"
    return None


def literal(host: str) -> IPAddress | None:
    """The address a host written as an address stands for, else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def system_resolver(host: str) -> list[IPAddress]:
    """The system's resolver (getaddrinfo, in the loop's executor)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    found = (ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    return list(dict.fromkeys(found))


async def resolve(host: str, resolver: Resolver, timeout: float | None) -> list[IPAddress]:
    """The host's addresses (a literal address is itself, with no lookup), within `timeout`
    seconds (None: the caller bounds it); raises Unresolved when there are none."""
    address = literal(host)
    if address is not None:
        return [address]
    try:
        async with asyncio.timeout(timeout):
            found = list(await resolver(host))
    except TimeoutError as exc:
        bound = "" if timeout is None else f" after {timeout:g} s"
        raise Unresolved(f"DNS lookup of {host} timed out{bound}") from exc
    except (OSError, UnicodeError) as exc:
        raise Unresolved(f"{host} does not resolve: {exc}") from exc
    if not found:
        raise Unresolved(f"{host} does not resolve")
    return found


async def check_url(
    url: str,
    deny_private: bool,
    *,
    resolver: Resolver = system_resolver,
    timeout: float = REGISTRATION_DNS_TIMEOUT,
) -> str | None:
    """Why `url` may not receive webhooks, or None. A host that does not resolve, or not
    within `timeout`, is allowed here (its deliveries will fail with `dns` and be retried, as
    in production)."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = await resolve(host, resolver, timeout)
    except Unresolved:
        return None
    return first_refusal(host, addresses, deny_private)
