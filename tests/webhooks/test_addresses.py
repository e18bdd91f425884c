"""Which resolved addresses may receive webhooks (`webhooks/addresses.py`), without network."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
from typing import Any

import pytest

from aiprod_sandbox.webhooks import addresses
from aiprod_sandbox.webhooks.addresses import IPAddress, check_url, refusal

NEVER = [
    "169.254.169.254",
    "169.254.0.1",
    "fe80::1",
    "fe80::abcd:1",
    "::ffff:169.254.169.254",
    "fd00:ec2::254",
]
PRIVATE = ["127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.0.1", "fd12::1"]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]


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


def test_localhost_resolving_to_both_loopbacks_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Most systems resolve `localhost` to 127.0.0.1 and ::1; such a URL must be accepted."""

    async def both(host: str) -> list[IPAddress]:
        return [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]

    monkeypatch.setattr(addresses, "resolve", both)
    assert run(check_url("http://localhost:8000/hook", False)) is None


def test_check_url_refuses_when_any_resolved_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def mixed(host: str) -> list[IPAddress]:
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("169.254.169.254")]

    monkeypatch.setattr(addresses, "resolve", mixed)
    reason = run(check_url("http://rebinding.example/hook", False))
    assert reason is not None
    assert "169.254.169.254" in reason


def test_unresolvable_hosts_are_allowed_at_registration() -> None:
    assert run(check_url("http://nonexistent.invalid/hook", True)) is None
