"""Looking webhook hosts up (contract section 6): a slow DNS never holds a registration for
more than about a second, and the sender applies the address policy to what the host
resolves to when it sends — then connects to exactly that — in every mode.

The resolver is injected (`create_app(webhook_resolver=...)`): these tests need no real DNS,
slow or otherwise. Names under `.test` resolve only through it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from aiprod_sandbox import create_app
from aiprod_sandbox.webhook_http.addresses import REGISTRATION_DNS_TIMEOUT, IPAddress
from aiprod_sandbox.webhook_http.receiver import Receiver
from aiprod_sandbox.webhook_http.transmit import WireOptions
from tests.conftest import auth, new_key
from tests.support.receivers import Receivers, Running
from tests.support.threads import Served, serve_in_thread, stop_all
from tests.webhooks.conftest import WAIT, Api, base_settings

HOOK_EVENTS = ["job.completed"]


class Zone:
    """A resolver over a table the test edits: a name answers what the table says now (a
    missing name does not resolve); every lookup is counted."""

    def __init__(self, **names: list[str]) -> None:
        self.names = {name.replace("_", "."): found for name, found in names.items()}
        self.lookups: list[str] = []

    def point(self, name: str, *found: str) -> None:
        self.names[name] = list(found)

    async def __call__(self, host: str) -> list[IPAddress]:
        self.lookups.append(host)
        return [ipaddress.ip_address(address) for address in self.names.get(host, [])]


class Sockets:
    """A socket factory for the sender that notes the (address, port) of every socket made."""

    def __init__(self) -> None:
        self.made: list[tuple[str, int]] = []

    def __call__(self, address_info: tuple[Any, ...]) -> socket.socket:
        family, kind, protocol, _, address = address_info
        self.made.append((address[0], address[1]))
        return socket.socket(family, kind, protocol)


async def hangs(host: str) -> list[IPAddress]:
    """A DNS server that never replies."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def attempts_of(api: Api, job_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    delivery = api.only_delivery(job_id=job_id)
    delivery = api.settled(delivery["delivery_id"])
    return delivery, delivery["attempts"]


# ---- registration: bounded -----------------------------------------------------------------


def test_registration_against_a_resolver_that_hangs_answers_201_within_a_second() -> None:
    """Over a real socket, as schemathesis met it: the lookup is given up after the bound, the
    host counts as one that does not resolve, and the webhook is registered."""
    served = serve_in_thread(create_app(base_settings(), webhook_resolver=hangs), "sandbox")
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{served.port}", headers=auth(new_key()), timeout=10
        ) as client:
            started = time.monotonic()
            response = client.post(
                "/webhooks/register",
                json={"url": "http://slow-dns.test/hook", "events": HOOK_EVENTS},
            )
            took = time.monotonic() - started
            assert response.status_code == 201, response.text
            assert response.json()["url"] == "http://slow-dns.test/hook"
            assert REGISTRATION_DNS_TIMEOUT <= took < REGISTRATION_DNS_TIMEOUT + 0.5

            started = time.monotonic()
            moved = client.put(
                f"/webhooks/{response.json()['webhook_id']}",
                json={"url": "http://other-slow-dns.test/hook"},
            )
            assert moved.status_code == 200, moved.text
            assert time.monotonic() - started < REGISTRATION_DNS_TIMEOUT + 0.5
    finally:
        stop_all([served])


def test_a_resolver_that_hangs_at_send_time_fails_the_attempt_with_dns_in_its_timeout(
    make_api: Callable[..., Api],
) -> None:
    """The attempt's timeout (0.5 s here) bounds the lookup too; the delivery is retried."""
    api = make_api(resolver=hangs)
    api.register("http://slow-dns.test/hook", HOOK_EVENTS)
    delivery, (attempt,) = attempts_of(api, api.submit())
    assert attempt["error"] == "dns"
    assert attempt["response_status"] == 0
    assert "timed out" in attempt["response_excerpt"]
    assert 450 <= attempt["duration_ms"] <= 1500
    assert delivery["status"] == "pending"
    assert delivery["next_attempt_at"] is not None


def test_a_name_that_does_not_resolve_at_send_time_is_dns_and_retried(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(resolver=Zone())
    api.register("http://nowhere.test/hook", HOOK_EVENTS)
    delivery, (attempt,) = attempts_of(api, api.submit())
    assert (attempt["error"], attempt["response_status"]) == ("dns", 0)
    assert "nowhere.test" in attempt["response_excerpt"]
    assert delivery["status"] == "pending"


# ---- send time: the policy on the address it resolves, and nothing else --------------------


def test_a_name_is_sent_to_the_address_it_resolves_to_with_its_own_host_header(
    make_api: Callable[..., Api], receiver: Running
) -> None:
    zone = Zone(hooks_test=["127.0.0.1"])
    api = make_api(resolver=zone)
    api.register(f"http://hooks.test:{receiver.port}/hook", HOOK_EVENTS)
    delivery, (attempt,) = attempts_of(api, api.submit())
    assert delivery["status"] == "delivered", attempt
    (item,) = receiver.receiver.received
    assert item.headers["host"] == f"hooks.test:{receiver.port}"
    assert "host" not in {name.lower() for name in attempt["request_headers"]}
    assert zone.lookups.count("hooks.test") == 2  # once at registration, once to send


@pytest.mark.parametrize("deny_private", [False, True], ids=["default", "deny-private"])
def test_a_name_that_resolves_to_the_metadata_address_at_send_time_is_refused_and_logged(
    make_api: Callable[..., Api], caplog: pytest.LogCaptureFixture, deny_private: bool
) -> None:
    """Registered while it resolved to an allowed address, the name now resolves to
    169.254.169.254 (DNS rebinding): the attempt is refused, logged, and nothing is sent (no
    socket is even made for any address)."""
    sockets = Sockets()
    zone = Zone(hooks_test=["127.0.0.1" if not deny_private else "93.184.216.34"])
    api = make_api(
        wire=WireOptions(socket_factory=sockets), resolver=zone, deny_private_webhooks=deny_private
    )
    api.register("http://hooks.test:8080/hook", HOOK_EVENTS)
    zone.point("hooks.test", "169.254.169.254")

    with caplog.at_level(logging.WARNING, logger="aiprod_sandbox.webhooks"):
        delivery, (attempt,) = attempts_of(api, api.submit())
    assert attempt["error"] == "connect_error"
    assert attempt["response_status"] == 0
    assert "169.254.169.254" in attempt["response_excerpt"]
    assert "metadata" in attempt["response_excerpt"]
    assert delivery["status"] == "pending"  # retried: the name may point elsewhere again
    assert any("169.254.169.254" in record.getMessage() for record in caplog.records)
    assert sockets.made == []
    listed = api.only_delivery(job_id=delivery["job_id"])  # the log shows it, as refused
    assert [a["error"] for a in listed["attempts"]] == ["connect_error"]


def test_deny_private_refuses_a_name_that_resolves_to_loopback_at_send_time(
    make_api: Callable[..., Api], receiver: Running
) -> None:
    """A name that did not resolve at registration (allowed) but resolves to a private
    address when the attempt is made is refused with `--deny-private-webhooks`."""
    zone = Zone()
    api = make_api(resolver=zone, deny_private_webhooks=True)
    api.register(f"http://later.test:{receiver.port}/hook", HOOK_EVENTS)
    zone.point("later.test", "127.0.0.1")
    _, (attempt,) = attempts_of(api, api.submit())
    assert attempt["error"] == "connect_error"
    assert "127.0.0.1" in attempt["response_excerpt"]
    assert "deny-private" in attempt["response_excerpt"]
    assert receiver.receiver.received == []


def test_a_refused_connection_to_one_address_tries_the_next(
    make_api: Callable[..., Api], receiver: Running
) -> None:
    """`localhost` often resolves to ::1 first while a receiver listens on 127.0.0.1 only:
    the delivery still arrives. (The receiver listens on 127.0.0.1 alone, so 127.0.0.2
    refuses the connection, or has no route.)"""
    api = make_api(resolver=Zone(both_test=["127.0.0.2", "127.0.0.1"]))
    api.register(f"http://both.test:{receiver.port}/hook", HOOK_EVENTS)
    delivery, (attempt,) = attempts_of(api, api.submit())
    assert delivery["status"] == "delivered", attempt
    assert receiver.receiver.wait_until(lambda items: len(items) == 1, timeout=WAIT)


def test_an_address_written_in_the_url_is_used_without_a_lookup(
    make_api: Callable[..., Api], receivers: Receivers
) -> None:
    zone = Zone()
    running = receivers.plain()
    api = make_api(resolver=zone)
    api.register(running.url, HOOK_EVENTS)
    delivery, _ = attempts_of(api, api.submit())
    assert delivery["status"] == "delivered"
    assert zone.lookups == []


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Running, ssl.SSLContext]]:
    """A receiver over TLS on 127.0.0.1 whose certificate (self-signed, made by `openssl`)
    names `tls.test` alone, and a context that trusts that certificate and nothing else."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=tls.test", "-addext", "subjectAltName=DNS:tls.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    receiver = Receiver()
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off",
        ws="none", http="h11", loop="asyncio", timeout_graceful_shutdown=1,
        ssl_certfile=str(cert), ssl_keyfile=str(key),
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="tls-receiver", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    served = Served(server, thread, int(server.servers[0].sockets[0].getsockname()[1]))
    try:
        yield (
            Running(receiver, server, thread, served.port),
            ssl.create_default_context(cafile=str(cert)),
        )
    finally:
        stop_all([served])


def test_over_tls_a_name_keeps_its_certificate_name_and_its_own_connection(
    make_api: Callable[..., Api], tls_receiver: tuple[Running, ssl.SSLContext]
) -> None:
    """Connected to the checked address, an https request still checks the certificate
    against the name (its certificate names `tls.test` alone), and a connection kept alive for
    one name never carries another name's request to the same address: `other.test`, at the
    same address and port, fails the certificate check instead of riding tls.test's connection."""
    running, trusted = tls_receiver
    sockets = Sockets()
    zone = Zone(tls_test=["127.0.0.1"], other_test=["127.0.0.1"])
    api = make_api(wire=WireOptions(tls=trusted, socket_factory=sockets), resolver=zone)
    first = api.register(f"https://tls.test:{running.port}/hook", HOOK_EVENTS)
    delivery, _ = attempts_of(api, api.submit())
    assert delivery["status"] == "delivered", delivery
    (item,) = running.receiver.received
    assert item.headers["host"] == f"tls.test:{running.port}"
    assert sockets.made == [("127.0.0.1", running.port)]

    other = api.register(f"https://other.test:{running.port}/hook", HOOK_EVENTS)
    off = {"active": False}
    assert api.client.put(f"/webhooks/{first['webhook_id']}", json=off, headers=api.headers)
    delivery, (attempt,) = attempts_of(api, api.submit())
    assert delivery["webhook_id"] == other["webhook_id"]
    assert attempt["error"] == "connect_error", attempt
    assert "certificate" in attempt["response_excerpt"].lower()
    assert len(running.receiver.received) == 1
    assert sockets.made[1:] == [("127.0.0.1", running.port)]  # a connection of its own
