"""Which resolved addresses may receive webhooks (`webhooks/addresses.py`), and bounded
lookups through an injected resolver, without network."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import socket
import time
from typing import Any

import pytest

from aiprod_sandbox.webhook_http.addresses import (
    REGISTRATION_DNS_TIMEOUT,
    IPAddress,
    Resolver,
    Unresolved,
    check_url,
    refusal,
    resolve,
    system_resolver,
)

NEVER = [
    "169.254.169.254",
    "169.254.0.1",
    "fe80::1",
    "fe80::abcd:1",
    "::ffff:169.254.169.254",
    "fd00:ec2::254",
    "100.100.100.200",  # Alibaba Cloud's metadata service
    # 169.254.169.254 carried inside IPv6: 6to4, NAT64 (well-known and local-use prefixes),
    # IPv4-compatible, Teredo (whose client address is stored inverted)
    "2002:a9fe:a9fe::",
    "2002:a9fe:a9fe:1234::5",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a9fe:a9fe",
    "::a9fe:a9fe",
    "2001:0:4136:e378:8000:63bf:5601:5601",
]
PRIVATE = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.0.1",
    "fd12::1",
    "100.64.0.1",  # carrier-grade NAT, shared address space
    "100.127.255.254",
    "2002:0a00:0001::",  # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
]
PUBLIC = [
    "8.8.8.8",
    "93.184.216.34",
    "2606:2800:220:1:248:1893:25c8:1946",
    "64:ff9b::808:808",  # NAT64 of a public address: judged by the address it carries
    "::ffff:8.8.8.8",
    "2002:808:808::",
]


def run(coroutine: Any) -> Any:
    """Run a coroutine on a loop of its own, whatever loop this thread may have running."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=30)


@pytest.mark.parametrize("address", NEVER)
def test_link_local_and_metadata_are_never_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), False)
    assert refusal(ipaddress.ip_address(address), True)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_loopback_only_with_deny_private(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), False) is None
    assert refusal(ipaddress.ip_address(address), True)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), False) is None
    assert refusal(ipaddress.ip_address(address), True) is None


def test_ipv6_loopback_is_allowed_by_default() -> None:
    assert refusal(ipaddress.ip_address("::1"), False) is None


def answers(*found: str) -> Resolver:
    """A resolver that answers `found` for any host, with no network."""

    async def resolver(host: str) -> list[IPAddress]:
        return [ipaddress.ip_address(address) for address in found]

    return resolver


async def hangs(host: str) -> list[IPAddress]:
    """A resolver that never answers (a DNS server that does not reply)."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def fails(host: str) -> list[IPAddress]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_localhost_resolving_to_both_loopbacks_is_allowed() -> None:
    """Most systems resolve `localhost` to 127.0.0.1 and ::1; such a URL must be accepted."""
    both = answers("127.0.0.1", "::1")
    assert run(check_url("http://localhost:8000/hook", False, resolver=both)) is None


def test_check_url_refuses_when_any_resolved_address_is_refused() -> None:
    mixed = answers("93.184.216.34", "169.254.169.254")
    reason = run(check_url("http://rebinding.example/hook", False, resolver=mixed))
    assert reason is not None
    assert "169.254.169.254" in reason


def test_unresolvable_hosts_are_allowed_at_registration() -> None:
    assert run(check_url("http://nonexistent.invalid/hook", True, resolver=fails)) is None
    assert run(check_url("http://nothing.invalid/hook", True, resolver=answers())) is None


def test_a_resolver_that_hangs_is_given_up_after_the_registration_bound() -> None:
    """A slow DNS is treated like a host that does not resolve: allowed, and soon."""
    assert REGISTRATION_DNS_TIMEOUT <= 1.0
    started = time.monotonic()
    assert run(check_url("http://slow-dns.example/hook", True, resolver=hangs)) is None
    assert REGISTRATION_DNS_TIMEOUT <= time.monotonic() - started < REGISTRATION_DNS_TIMEOUT + 1


def test_a_literal_address_is_checked_without_a_lookup() -> None:
    reason = run(check_url("http://[fe80::1]:8000/hook", False, resolver=hangs))
    assert reason is not None and "fe80::1" in reason


@pytest.mark.parametrize("resolver", [fails, answers(), hangs], ids=["error", "empty", "hangs"])
def test_resolve_says_why_a_host_has_no_address(resolver: Resolver) -> None:
    with pytest.raises(Unresolved, match="hook.example"):
        run(resolve("hook.example", resolver, 0.05))


def test_the_system_resolver_answers_localhost_without_repeats() -> None:
    found = run(system_resolver("localhost"))
    assert found and all(address.is_loopback for address in found)
    assert len(found) == len(set(found))
