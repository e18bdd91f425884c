"""Which webhook URLs may be called: never link-local or metadata addresses; with
`--deny-private-webhooks`, no private or loopback ones either. Checked on resolved addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def refusal(address: IPAddress, deny_private: bool) -> str | None:
    """Why a request to `address` is refused, or None when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        return "cloud metadata addresses are never allowed"
    if address.is_link_local:
        return "link-local addresses (169.254.0.0/16, fe80::/10) are never allowed"
    if address.is_private or address.is_loopback:  # ::1 is "reserved" too: decide here
        if deny_private:
            return "private and loopback addresses are refused (--deny-private-webhooks)"
        return None
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    return None


async def resolve(host: str) -> list[IPAddress]:
    """The host's addresses (a literal address is itself); [] when it does not resolve."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_url(url: str, deny_private: bool) -> str | None:
    """Why `url` may not receive webhooks, or None. A host that does not resolve is allowed
    here (its deliveries will fail with `dns` and be retried, as in production)."""
    host = urlsplit(url).hostname or ""
    for address in await resolve(host):
        reason = refusal(address, deny_private)
        if reason:
            return f"{host} resolves to {address}: {reason}"
    return None
