"""Webhook receivers for tests: one loopback server per session, one path per test.

Each test's `ReceiverHandle` has its own URL (`http://127.0.0.1:PORT/r/N`), records what
reaches it, verifies signatures once it knows the secret, answers a programmable sequence of
statuses, and waits for events with a message that says what came instead.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

from ..server import http_protocol
from ..webhook_http.receiver import Received, Receiver, describe


class _Router:
    """Sends `/r/<id>/...` to that test's receiver; anything else is 404."""

    def __init__(self) -> None:
        self.receivers: dict[str, Receiver] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            parts = scope["path"].split("/")
            target = self.receivers.get(parts[2]) if len(parts) > 2 and parts[1] == "r" else None
            if target is not None:
                await target(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        elif scope["type"] == "lifespan":
            await Receiver()(scope, receive, send)


class ReceiverServer:
    """The session's receiver server on 127.0.0.1 and a free port."""

    def __init__(self, advertised_host: str = "127.0.0.1") -> None:
        self._router = _Router()
        # Listen where the sandbox will call: loopback, unless another host (a container's
        # view of this machine) is advertised.
        loopback = advertised_host in ("127.0.0.1", "localhost", "::1")
        config = uvicorn.Config(
            self._router,
            host="127.0.0.1" if loopback else "0.0.0.0",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=http_protocol(),  # with serve's limits on a request head
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="aiprod-receiver", daemon=True
        )
        self._ids = itertools.count(1)
        self._host = advertised_host
        self.base_url = ""

    def start(self) -> ReceiverServer:
        self._thread.start()
        ticks = threading.Event()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the webhook receiver thread stopped while starting")
            ticks.wait(0.002)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://{self._host}:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def handle(self) -> ReceiverHandle:
        name = str(next(self._ids))
        receiver = Receiver()
        self._router.receivers[name] = receiver
        return ReceiverHandle(
            f"{self.base_url}/r/{name}", receiver, lambda: self._router.receivers.pop(name, None)
        )


class ReceiverHandle:
    """One test's receiver."""

    def __init__(self, url: str, receiver: Receiver, close: Any) -> None:
        self.url = url
        self._receiver = receiver
        self._close = close

    @property
    def secret(self) -> str | None:
        return self._receiver.secret

    @secret.setter
    def secret(self, value: str | None) -> None:
        """The `whsec_` secret to verify signatures with (from the webhook's registration)."""
        self._receiver.secret = value

    @property
    def received(self) -> list[Received]:
        return list(self._receiver.received)

    def events(self) -> list[str]:
        return [item.event for item in self.received]

    def respond_with(self, *statuses: int, default: int | None = None) -> None:
        """Answer the next deliveries with these statuses in order, then `default` (200)."""
        self._receiver.respond_with(*statuses, default=default)

    def wait_for(self, event: str, timeout: float = 5.0, count: int = 1) -> list[Received]:
        """Wait until `count` deliveries of `event` arrived; return them. On timeout, fail
        with the list of what was delivered instead."""
        if not self._receiver.wait_until(
            lambda items: sum(1 for i in items if i.event == event) >= count, timeout
        ):
            got = self.received
            seen = "\n".join(describe(item).splitlines()[0] for item in got) or "(nothing)"
            raise AssertionError(
                f"no {count} × {event} reached {self.url} within {timeout} s; "
                f"{len(got)} deliveries arrived:\n{seen}"
            )
        return [item for item in self.received if item.event == event]

    def assert_received(
        self,
        event: str,
        *,
        job_id: str | None = None,
        times: int | None = None,
        once_each: bool = False,
        signed: bool = True,
        within: float = 5.0,
    ) -> list[Received]:
        """Fail unless `event` (for `job_id`) arrived: `times` exactly, else at least once;
        `signed`, with a signature that verifies (set `secret` first); `once_each`, no
        delivery id twice (a receiver that must be idempotent sees duplicates otherwise).
        Waits up to `within` seconds; the failure lists what arrived instead, each with the
        parts that differ (the near misses)."""

        def misses(item: Received) -> list[str]:
            found = []
            if item.event != event:
                found.append(f"event {item.event!r}")
            if job_id is not None:
                try:
                    actual = item.json().get("data", {}).get("job_id")
                except ValueError:
                    actual = "(not JSON)"
                if actual != job_id:
                    found.append(f"job_id {actual!r}")
            if signed and item.signature_valid is not True:
                found.append(
                    "no secret to check with" if item.signature_valid is None else "bad signature"
                )
            return found

        def matched(items: list[Received]) -> list[Received]:
            return [item for item in items if not misses(item)]

        def holds(items: list[Received]) -> bool:
            count = len(matched(items))
            return count == times if times is not None else count >= 1

        self._receiver.wait_until(holds, within)
        got = self.received
        found = matched(got)
        problems = []
        if not holds(got):
            wanted = f"exactly {times}" if times is not None else "at least 1"
            problems.append(f"expected {wanted} × {event}, received {len(found)}")
        repeated = [
            d
            for d in {i.delivery_id for i in found}
            if sum(1 for i in found if i.delivery_id == d) > 1
        ]
        if once_each and repeated:
            problems.append(f"delivered more than once: {', '.join(sorted(repeated))}")
        if problems:
            near = sorted((i for i in got if misses(i)), key=lambda i: len(misses(i)))[:5]
            lines = [
                f"  near miss {i.delivery_id} {i.event} attempt {i.attempt}: "
                + "; ".join(misses(i))
                for i in near
            ]
            raise AssertionError("; ".join(problems) + f" at {self.url}\n" + "\n".join(lines))
        return found

    def close(self) -> None:
        self._close()
