"""A verifying webhook receiver: behind `aiprod-sandbox listen` and the pytest fixture.

It records every delivery (headers, exact body, whether the signature verifies with the secret
it was given), and answers with a programmable sequence of statuses (then the default), so a
test or a person can watch retries happen.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send

from ..core.clock import monotonic
from .asgi import lifespan, whole_body
from .signing import verify


@dataclass(frozen=True)
class Received:
    """One delivery as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    signature_valid: bool | None  # None when the receiver has no secret to check with
    received_at: float

    @property
    def event(self) -> str:
        return self.headers.get("x-aiprod-event", "")

    @property
    def delivery_id(self) -> str:
        return self.headers.get("x-aiprod-delivery", "")

    @property
    def attempt(self) -> int:
        return int(self.headers.get("x-aiprod-attempt", "0") or 0)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    secret: str | None = None
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    on_delivery: Callable[[Received], None] | None = None
    received: list[Received] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def respond_with(self, *statuses: int, default: int | None = None) -> None:
        """Answer the next deliveries with these statuses, in order, then with `default`."""
        with self._lock:
            self.statuses = list(statuses)
            if default is not None:
                self.default_status = default

    def record(self, path: str, headers: dict[str, str], body: bytes) -> Received:
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else self.default_status
            valid = None
            if self.secret is not None:
                valid = verify(self.secret, body, headers.get("x-aiprod-signature"))
            item = Received(path, headers, body, status, valid, monotonic())
            self.received.append(item)
            self._lock.notify_all()
        if self.on_delivery is not None:
            self.on_delivery(item)
        return item

    def wait_until(self, predicate: Callable[[list[Received]], bool], timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: predicate(self.received), timeout)

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.statuses.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The receiver as an ASGI app: any POST is a delivery; GET / says it is alive."""
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await whole_body(receive)
        if body is None:
            return  # the sender left mid-body: half a delivery is no delivery
        if scope["method"] != "POST":
            await _reply(send, 200, {"receiver": "aiprod-sandbox", "received": len(self.received)})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        item = self.record(scope["path"], headers, body)
        await _reply(send, item.status, {"ok": 200 <= item.status < 300})


async def _reply(send: Send, status: int, document: dict[str, Any]) -> None:
    payload = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def describe(item: Received) -> str:
    """A human-readable block for one delivery (what `aiprod-sandbox listen` prints)."""
    if item.signature_valid is None:
        signature = "not checked (no --secret)"
    elif "x-aiprod-signature" not in item.headers:
        signature = "MISSING (no X-AIPROD-Signature header)"
    else:
        signature = "valid" if item.signature_valid else "INVALID"
    try:
        pretty = json.dumps(item.json(), indent=2, ensure_ascii=False)
    except ValueError:
        pretty = item.body.decode("utf-8", "replace")
    lines: Iterable[str] = (
        f"── {item.event or '(no event header)'}  delivery {item.delivery_id}  "
        f"attempt {item.attempt}  → answered {item.status}",
        f"   signature: {signature}",
        *("   " + line for line in pretty.splitlines()),
    )
    return "\n".join(lines)
