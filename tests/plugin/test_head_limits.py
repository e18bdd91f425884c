"""The plugin's in-process servers hold a request head to the limits `serve` does: a test's
sandbox and its webhook receiver are as hard to grow with a huge header as the real server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from aiprod_sandbox.testing import ThreadedSandbox
from aiprod_sandbox.testing.receiver import ReceiverServer

MIB = 1024 * 1024


def refuses_a_one_mib_header(base_url: str) -> bool:
    """Send a 1 MiB header; True when the server answers 400 or hangs up before reading it all."""
    parts = urlsplit(base_url)
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MIB + b"\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        try:
            sock.sendall(head)
            answer = sock.recv(64)
        except (ConnectionResetError, BrokenPipeError):
            return True
    return answer == b"" or answer.startswith(b"HTTP/1.1 400")


@pytest.fixture
def sandbox() -> Iterator[ThreadedSandbox]:
    server = ThreadedSandbox().start()
    yield server
    server.stop()


def test_the_in_process_sandbox_refuses_a_huge_header(sandbox: ThreadedSandbox) -> None:
    assert refuses_a_one_mib_header(sandbox.base_url)


def test_the_receiver_refuses_a_huge_header() -> None:
    receiver = ReceiverServer().start()
    try:
        assert refuses_a_one_mib_header(receiver.base_url)
    finally:
        receiver.stop()
