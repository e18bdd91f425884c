"""The ASGI pieces the sandbox's own webhook receivers share: `listen`'s receiver
(`receiver.py`) and `listen --forward-to`'s forwarder (`commands/forwarding.py`).

Standard library only at import: the command line's parser imports the forwarder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Receive, Send


async def lifespan(
    receive: Receive, send: Send, on_shutdown: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Answer the server's start-up and shutdown (running `on_shutdown` before the latter)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            continue
        if on_shutdown is not None:
            await on_shutdown()
        await send({"type": "lifespan.shutdown.complete"})
        return


async def whole_body(receive: Receive) -> bytes | None:
    """The request's body, whole; None when the client left before the end of it (half a
    delivery is no delivery)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)
