"""How long a client may keep the server waiting for a request, and how many connections it may
hold: the connection guard the server consults once a second and on every new connection.

uvicorn bounds neither. Its keep-alive timeout starts only after an answer, so a connection
that never completes a request head, or a request body, is kept for as long as the client
likes; and every descriptor the process has can go to such connections, leaving none for
`/health`. The guard gives each connection's wait a deadline, by what the server waits for:

- **A request head** (the first, or the next on a kept-alive connection): 10 s.
- **A request body**, once its head is complete: 10 s, plus 1 s for every KiB received, and
  never more than 60 s — Apache's `mod_reqtimeout` rule (`body=10-60,MinRate=1024`). A body
  arriving at 1 KiB/s or faster is never cut before 60 s, so a 1 MiB body (the largest the API
  takes) needs 17.5 KB/s on average: a 140 kbit/s link, well below even a poor mobile one. A
  client dripping a byte a second, or stopping half-way, is cut off after 10 s. Time the
  server is itself busy (the app not reading yet, or not yet asking for a body sent with
  `Expect: 100-continue`) does not count.

A request past its deadline gets a plain-text `408 Request Timeout` saying why, and the
connection is closed; an app waiting on that body sees the client disconnect
(`http.disconnect`), so nothing is made of a partial body. An idle connection past its deadline
is closed without a word, as uvicorn closes one past its keep-alive timeout.

**Connections.** At most `MAX_CONNECTIONS` (an idle one costs the server about 6 KiB), and
never more than half the process's descriptor limit, so the other half stays free for what the
server opens itself (webhook deliveries) and for accepting at all. A new connection past the
cap makes room at once, by closing connections that wait on their client: idle ones first
(nothing of a request sent: kept-alive ones, whose clients just reconnect), then those with a
request begun (a `503` with `Retry-After: 1`), the longest waiting first within each. A
connection newer than `NEW_FOR` with nothing read yet goes last: most are new clients whose
request is on its way, and new clients are who the room is for. A connection whose request is
being answered is never closed, so the cap is soft: with nothing to close, new connections are
still taken while descriptors last. (nginx, short of connections, likewise closes its idle
kept-alive ones and those yet to send a request, oldest first.)

There is no cap per client address: on loopback, and behind Docker's port mapping, every
partner's CI job arrives from the same address, so one would be a cap on all of them. Nor
uvicorn's `limit_concurrency`: it answers 503 to every request, `/health` included, once that
many connections are open — 64 silent connections against `limit_concurrency=64` took
`/health` down for the 10 s until they were cut off.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from uvicorn.server import ServerState

from .core.clock import monotonic

log = logging.getLogger("aiprod_sandbox")

HEAD_TIMEOUT = 10.0  # seconds for a request head
BODY_GRACE = 10.0  # seconds any request body may take, whatever its size
BODY_MIN_RATE = 1024  # bytes a second: each KiB received earns a body one more second
BODY_TIMEOUT = 60.0  # seconds no request body may take more than
MAX_CONNECTIONS = 4096  # open at once (CI jobs sharing a sandbox keep pools of a few dozen)
MAKE_ROOM_FOR = 32  # connections closed beyond the excess, so a flood is not one scan each
ABORT_AFTER = 10.0  # seconds a closing connection gets to send what is left before a reset
NEW_FOR = 0.25  # seconds a new connection has to send something before it counts as idle

Turn = Literal["head", "body", "busy"]  # the server waits for a head, for a body, or answers


def body_allowance(received: int) -> float:
    """Seconds a request body may take, once `received` bytes of it have arrived."""
    return min(BODY_TIMEOUT, BODY_GRACE + received / BODY_MIN_RATE)


def connection_cap(file_limit: int | None) -> int:
    """Connections open at once, given the process's descriptor limit (None: unlimited)."""
    if file_limit is None:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, file_limit // 2))


def file_limit() -> int | None:
    """The process's soft limit on open descriptors, None where unlimited or unknown."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


@dataclass
class Watch:
    """The guard's notes on one connection: what the server has waited for, since when."""

    turn: Turn
    since: float  # when this turn began, as the guard saw it
    received_then: int  # bytes the connection had received when this turn began
    began: float  # when the server began to wait for the request of this turn (its head)
    cycle: object = None  # uvicorn's request-response cycle the turn belongs to
    closed_at: float | None = None


class Watched(asyncio.Protocol):
    """Mixed into uvicorn's HTTP protocol classes (ahead of them): counts the bytes a connection
    receives and, where the server has a guard, asks it for room when the connection opens."""

    transport: asyncio.Transport  # set by uvicorn's class
    received = 0
    watch: Watch

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        now = monotonic()
        self.watch = Watch("head", now, 0, now)
        state = getattr(self, "server_state", None)
        if isinstance(state, GuardedState):
            state.guard.admit(state.connections)

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        super().data_received(data)


class GuardedState(ServerState):
    """uvicorn's state shared by a server's connections, with the server's guard."""

    def __init__(self, guard: ConnectionGuard) -> None:
        super().__init__()
        self.guard = guard


def turn_of(connection: Any) -> tuple[Turn, object]:
    """What the server waits for on this connection, and the request cycle it is in."""
    cycle = connection.cycle
    if cycle is None or cycle.response_complete:
        return "head", cycle
    if (
        cycle.more_body
        and not cycle.response_started
        and not cycle.waiting_for_100_continue
        and not connection.flow.read_paused
    ):
        return "body", cycle
    return "busy", cycle


class ConnectionGuard:
    """Deadlines on what a server waits for from its clients, and a cap on its connections."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._making_room = False
        self._made_room = 0  # connections closed for room since the last sweep
        self._busy_past_cap = False

    @classmethod
    def for_this_process(cls) -> ConnectionGuard:
        return cls(connection_cap(file_limit()))

    def admit(self, connections: Collection[Any]) -> None:
        """Make room if a new connection takes the server past the cap: once for all the
        connections a burst of accepts brings, not a scan of every connection for each."""
        if len(connections) > self.cap and not self._making_room:
            self._making_room = True
            asyncio.get_running_loop().call_soon(self._make_room, connections)

    def _make_room(self, connections: Collection[Any]) -> None:
        self._making_room = False
        live = [c for c in connections if not c.transport.is_closing()]
        excess = len(live) - self.cap
        if excess <= 0:
            return
        now = monotonic()
        waiting: list[tuple[int, float, Watched]] = []  # (rank, began, connection)
        for connection in live:
            if isinstance(connection, Watched):
                turn, _ = turn_of(connection)
                if turn != "busy":
                    rank = _rank(connection, turn, now)
                    waiting.append((rank, connection.watch.began, connection))
        if not waiting:
            self._busy_past_cap = True
            return
        count = min(len(waiting), excess + min(MAKE_ROOM_FOR, self.cap // 8))
        for rank, _, connection in heapq.nsmallest(count, waiting, key=lambda w: w[:2]):
            if rank == BEGUN:
                _answer(connection, 503, "Too many open connections; retry.", retry_after=1)
            else:
                connection.transport.close()
            connection.watch.closed_at = now
        self._made_room += count

    def sweep(self, connections: Collection[Any], now: float) -> None:
        """Close the connections past their deadline (run once a second)."""
        slow_bodies = 0
        for connection in list(connections):
            if not isinstance(connection, Watched):
                continue
            watch, transport = connection.watch, connection.transport
            if transport.is_closing():
                if watch.closed_at is None:
                    watch.closed_at = now
                elif now - watch.closed_at >= ABORT_AFTER:
                    transport.abort()  # its client reads nothing: drop what is left
                continue
            turn, cycle = turn_of(connection)
            if turn != watch.turn or cycle is not watch.cycle:
                began = now if turn == "head" else watch.began  # the same request, or the next
                connection.watch = Watch(turn, now, connection.received, began, cycle)
                continue
            waited, received = now - watch.since, connection.received - watch.received_then
            if turn == "head" and waited > HEAD_TIMEOUT:
                if received:
                    _answer(connection, 408, f"Request head not complete in {HEAD_TIMEOUT:g} s.")
                else:
                    transport.close()
                watch.closed_at = now
            elif turn == "body" and waited > body_allowance(received):
                _answer(
                    connection,
                    408,
                    f"Request body too slow: {received} bytes in the last {waited:.0f} s. "
                    f"A body may take {BODY_GRACE:g} s, plus 1 s per {BODY_MIN_RATE} bytes "
                    f"received, at most {BODY_TIMEOUT:g} s.",
                )
                watch.closed_at = now
                slow_bodies += 1
        self._report(slow_bodies)

    def _report(self, slow_bodies: int) -> None:
        """One line a second at most, however many connections a flood brings."""
        if slow_bodies:
            log.warning(
                "cut off %d request bod%s arriving too slowly (408): a body may take %g s, "
                "plus 1 s per %d bytes received, at most %g s",
                slow_bodies,
                "y" if slow_bodies == 1 else "ies",
                BODY_GRACE,
                BODY_MIN_RATE,
                BODY_TIMEOUT,
            )
        if self._made_room:
            log.warning(
                "at the cap of %d open connections: closed %d waiting on their clients "
                "(idle ones first) to let new ones in",
                self.cap,
                self._made_room,
            )
            self._made_room = 0
        if self._busy_past_cap:
            log.warning(
                "past %d connections open at once, every one with a request being answered",
                self.cap,
            )
            self._busy_past_cap = False


IDLE, BEGUN, NEW = 0, 1, 2  # the order connections are closed in to make room


def _rank(connection: Watched, turn: Turn, now: float) -> int:
    """Idle first, then requests begun, then new connections with nothing read yet (making room
    runs right after the accepts, often before what a new client sent is read)."""
    if turn == "body" or connection.received > connection.watch.received_then:
        return BEGUN
    return NEW if now - connection.watch.since < NEW_FOR else IDLE


def _answer(connection: Any, status: int, message: str, retry_after: int | None = None) -> None:
    """Answer as uvicorn answers a request it cannot parse (plain text, then close), and tell
    an app waiting on this request's body that its client is gone."""
    cycle = connection.cycle
    if cycle is not None and not cycle.response_complete:
        if cycle.response_started:
            connection.transport.close()  # mid-answer: nothing more can be said
            return
        cycle.disconnected = True  # as uvicorn marks it once the connection is lost
        cycle.message_event.set()
    reason = {408: b"Request Timeout", 503: b"Service Unavailable"}[status]
    body = message.encode("ascii")
    head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
    head += [name + b": " + value + b"\r\n" for name, value in _default_headers(connection)]
    head.append(b"content-type: text/plain; charset=utf-8\r\n")
    head.append(b"content-length: %d\r\n" % len(body))
    if retry_after is not None:
        head.append(b"retry-after: %d\r\n" % retry_after)
    head.append(b"connection: close\r\n\r\n")
    connection.transport.write(b"".join(head) + body)
    connection.transport.close()


def _default_headers(connection: Any) -> list[tuple[bytes, bytes]]:
    state = getattr(connection, "server_state", None)
    return list(getattr(state, "default_headers", []))
