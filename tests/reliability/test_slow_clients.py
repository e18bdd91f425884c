"""Clients that hold connections: request bodies sent slowly or never finished, and more
connections than the server has descriptors for, against a real server on both stacks.

What a partner relies on: another client's slow or stalled upload, or its pile of connections,
never stops their own requests being answered; a body that never completes is cut off in
bounded time (a `408`) and creates nothing; an honest upload, fast or on a slow link, is taken.
The limits are the connection guard's (`src/aiprod_sandbox/connections.py`): a body may take
10 s, plus 1 s per KiB received, at most 60 s; at most half the descriptors' worth of
connections, the idle ones closed first to make room.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from .conftest import (
    CRAMPED_FILE_LIMIT,
    RawResponse,
    ServerProcess,
    api,
    connect,
    fresh_key,
    raise_fd_limit,
    raw_request,
    read_response,
    request_bytes,
    start_server,
    stop_and_check,
)

BODY_GRACE = 10.0  # seconds any body may take (connections.BODY_GRACE)
CUT_BY = BODY_GRACE + 4.0  # a stalled body is answered by then: the guard looks once a second
SERVED_WITHIN = 1.0  # seconds: another client's request is answered this fast meanwhile
ROOM_WITHIN = 2.0  # the same past the descriptor limit (asyncio pauses accepts 1 s on EMFILE)
MIB = 1 << 20


@pytest.fixture(scope="module")
def server(parser: str) -> Iterator[ServerProcess]:
    """A server process of this module's own, on one parser's stack: at its end, its log must
    hold no unhandled error (a cut-off body is a client gone, not a crash)."""
    process = start_server(parser)
    yield process
    stop_and_check(process)


def _submission(key: str, length: int) -> tuple[bytes, bytes]:
    """The head of a `POST /pipeline/run` of `length` bytes, and a valid JSON body that long."""
    head = request_bytes(
        "POST",
        "/pipeline/run",
        headers=[
            ("Authorization", f"Bearer {key}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(length)),
        ],
        close=False,
    )
    document = b'{"video_url": "https://example.com/slow.mp4"}'
    return head, document + b" " * (length - len(document))


@dataclass
class Slow:
    """One connection sending a submission's head and `first` bytes of its body, then a byte a
    second (`drip`) or nothing more; when the server answered or closed, and with what."""

    sock: socket.socket
    body: bytes
    sent: int
    drip: bool
    started: float
    answer: bytes = b""
    cut_after: float | None = None  # seconds from its head to the server's answer or close
    closed: bool = False

    @property
    def status(self) -> int | None:
        return int(self.answer.split(b" ", 2)[1]) if self.answer.startswith(b"HTTP/1.1 ") else None


@dataclass
class SlowClients:
    """Slow connections, all served by one thread: a byte a second to each that drips, and what
    comes back from the server read as it comes."""

    clients: list[Slow] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def open(self, server: ServerProcess, key: str, *, first: int, drip: bool) -> Slow:
        head, body = _submission(key, 2000)
        sock = connect(server, timeout=5)
        started = time.monotonic()
        sock.sendall(head + body[:first])
        sock.setblocking(False)
        client = Slow(sock, body, first, drip, started)
        self.clients.append(client)
        return client

    def start(self) -> SlowClients:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        next_drip = time.monotonic() + 1.0
        while not self._stop.is_set():
            open_ = {c.sock.fileno(): c for c in self.clients if not c.closed}
            if not open_:
                return
            poll = select.poll()  # not select(): descriptors past 1023 are fine
            for fd in open_:
                poll.register(fd, select.POLLIN)
            for fd, _ in poll.poll(50):
                self._read(open_[fd])
            if time.monotonic() >= next_drip:
                next_drip += 1.0
                for client in open_.values():
                    if client.drip and client.cut_after is None and client.sent < len(client.body):
                        try:
                            client.sock.send(client.body[client.sent : client.sent + 1])
                            client.sent += 1
                        except OSError:
                            self._cut(client, closed=True)

    def _read(self, client: Slow) -> None:
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        client.answer += data
        self._cut(client, closed=not data)

    @staticmethod
    def _cut(client: Slow, *, closed: bool) -> None:
        if client.cut_after is None:
            client.cut_after = time.monotonic() - client.started
        client.closed = client.closed or closed

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for client in self.clients:
            client.sock.close()


def _slow_upload(server: ServerProcess, key: str, size: int, rate: int) -> RawResponse | None:
    """A real client on a slow link: `size` bytes sent at `rate` bytes a second, in pieces."""
    head, body = _submission(key, size)
    with connect(server, timeout=30) as sock:
        sock.sendall(head)
        for start in range(0, size, rate // 4):
            sock.sendall(body[start : start + rate // 4])
            time.sleep(0.25)
        return read_response(sock)


@dataclass
class Latencies:
    """How long other clients' requests took, and any that failed."""

    health: list[float] = field(default_factory=list)
    submit: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def sample(self, server: ServerProcess, key: str) -> None:
        job = {"video_url": "https://example.com/meanwhile.mp4"}
        for kind, wanted, times in (("health", 200, self.health), ("submit", 202, self.submit)):
            started = time.monotonic()
            try:
                if kind == "health":
                    response = api(server, "GET", "/health", None, timeout=5)
                else:
                    response = api(server, "POST", "/pipeline/run", key, job, timeout=5)
            except (OSError, AssertionError) as exc:
                self.failed.append(f"{kind}: {exc!r}")
                continue
            if response.status != wanted:
                self.failed.append(f"{kind}: {response!r}")
            times.append(time.monotonic() - started)

    def check(self, within: float) -> None:
        assert not self.failed, self.failed
        assert self.health and self.submit
        slowest = max(self.health + self.submit)
        assert slowest < within, f"a request took {slowest:.2f} s: {self}"


def _jobs(server: ServerProcess, key: str) -> int:
    return int(api(server, "GET", "/jobs", key).json()["pagination"]["total"])


HONEST_UPLOADS = {  # name: (bytes, bytes a second): each takes longer than the 10 s of grace
    "48 KiB at 4 KiB/s": (48 * 1024, 4096),
    "1 MiB at 96 KiB/s": (MIB, 96 * 1024),
}


def test_slow_bodies_are_cut_off_and_others_are_served(server: ServerProcess) -> None:
    """Five bodies dripping a byte a second, one stalled halfway, one never begun: each gets a
    408 between 10 and 14 s after its head and creates no job (the handler waiting on it sees
    the client leave: journaled with no status, nothing logged as an error). Meanwhile other
    clients' `GET /health` and `POST /pipeline/run` are answered within a second, and honest
    uploads on slow links (48 KiB at 4 KiB/s, 1 MiB at 96 KiB/s: 11-12 s each, past the 10 s
    any body gets) are taken, as is 1 MiB sent at once."""
    slow_key, honest_key, other_key = fresh_key(), fresh_key(), fresh_key()
    slow = SlowClients()
    uploads: dict[str, RawResponse | None | OSError] = {}

    def upload(name: str) -> None:
        size, rate = HONEST_UPLOADS[name]
        try:
            uploads[name] = _slow_upload(server, honest_key, size, rate)
        except OSError as exc:
            uploads[name] = exc

    honest = [threading.Thread(target=upload, args=(name,)) for name in HONEST_UPLOADS]
    try:
        for _ in range(5):
            slow.open(server, slow_key, first=1, drip=True)
        slow.open(server, slow_key, first=1000, drip=False)
        slow.open(server, slow_key, first=0, drip=False)
        slow.start()
        for thread in honest:
            thread.start()
        latencies = Latencies()
        deadline = time.monotonic() + CUT_BY + 2
        while time.monotonic() < deadline and (
            any(thread.is_alive() for thread in honest)
            or any(client.cut_after is None for client in slow.clients)
        ):
            latencies.sample(server, other_key)
            time.sleep(0.2)
        document = b'{"video_url": "https://example.com/at-once.mp4"}'
        at_once = document + b" " * (MIB - len(document))
        headers = [("Authorization", f"Bearer {honest_key}"), ("Content-Type", "application/json")]
        uploads["1 MiB at once"] = raw_request(
            server, "POST", "/pipeline/run", body=at_once, headers=headers
        )
    finally:
        slow.close()
        for thread in honest:
            thread.join(30)
    latencies.check(SERVED_WITHIN)
    for client in slow.clients:
        assert client.cut_after is not None, f"still open after {CUT_BY} s ({client.sent} bytes)"
        assert BODY_GRACE <= client.cut_after < CUT_BY, client.cut_after
        assert client.status == 408, client.answer[:200]
        assert client.closed, "answered 408, and the connection left open"
    assert set(uploads) == {*HONEST_UPLOADS, "1 MiB at once"}
    for name, response in uploads.items():
        assert isinstance(response, RawResponse) and response.status == 202, (name, response)
    assert _jobs(server, slow_key) == 0
    assert _jobs(server, honest_key) == len(uploads)
    journal = api(server, "GET", "/_sandbox/requests", slow_key).json()["items"]
    assert [entry["status"] for entry in journal if entry["path"] == "/pipeline/run"] == [0] * 7
    reported = re.findall(
        r"cut off (\d+) request bod(?:y|ies) arriving too slowly", server.log_text()
    )
    assert sum(map(int, reported)) == 7, reported


def _keep_asking(server: ServerProcess, key: str, latencies: Latencies, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        latencies.sample(server, key)
        time.sleep(0.1)


def test_at_the_connection_cap_idle_connections_go_first(
    cramped_server: ServerProcess,
) -> None:
    """A server allowed 256 descriptors keeps at most 128 connections open. It holds 60 stalled
    bodies and 60 idle connections; 40 more clients come: idle connections are closed to let
    them in, every request begun is kept. Then 100 more: with no idle connection left, the
    oldest stalled bodies get a 503 with `Retry-After: 1`, and the newcomers are kept. Other
    clients are answered throughout, within 2 s."""
    raise_fd_limit(1024)
    key = fresh_key()
    slow, idle, latencies = SlowClients(), list[socket.socket](), Latencies()
    address = (cramped_server.host, cramped_server.port)
    try:
        first = [slow.open(cramped_server, key, first=100, drip=False) for _ in range(60)]
        idle += [socket.create_connection(address) for _ in range(60)]
        slow.start()
        _keep_asking(cramped_server, key, latencies, 0.5)  # the idle ones are idle by now
        second = [slow.open(cramped_server, key, first=100, drip=False) for _ in range(40)]
        _keep_asking(cramped_server, key, latencies, 1.0)
        idle_closed = sum(1 for sock in idle if _closed(sock))
        begun_closed = sum(1 for client in first + second if client.cut_after is not None)
        third = [slow.open(cramped_server, key, first=100, drip=False) for _ in range(100)]
        _keep_asking(cramped_server, key, latencies, 1.0)
        assert cramped_server.open_fds() < CRAMPED_FILE_LIMIT
    finally:
        slow.close()
        for sock in idle:
            sock.close()
    latencies.check(ROOM_WITHIN)
    assert idle_closed >= 60 + 40 + 60 - CRAMPED_FILE_LIMIT // 2, f"{idle_closed} idle closed"
    assert begun_closed == 0, "a request begun was closed while idle connections were open"
    for client in first:
        assert client.status == 503, client.answer[:200]
        assert b"\r\nretry-after: 1\r\n" in client.answer.lower(), client.answer[:200]
        assert client.closed
    kept = sum(1 for client in third if client.cut_after is None)
    assert kept >= 90, f"only {kept} of the 100 newest kept"
    assert _jobs(cramped_server, key) == len(latencies.submit)


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed this connection (without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
