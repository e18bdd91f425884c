"""uvicorn's httptools protocol, held to the limits uvicorn's h11 protocol sets on a request.

`serve` runs on httptools (and uvloop) where they are installed: about three times the requests
per second of h11 on asyncio's loop. But the server's limits on what a client sends outside a
body came from h11, and uvicorn's httptools protocol lets each of them through:

- h11 refuses a request head still incomplete past 16 KiB (uvicorn's
  `h11_max_incomplete_event_size`), and the same for a chunk header or a trailer section.
  httptools keeps everything: a header name or value, or trailers, sent in pieces grow the
  server's memory without bound (76 MiB of trailers took it from 46 to 422 MiB), and a head
  of 100,000 small headers is answered instead of cut off.
- h11 refuses an HTTP/1.1 request without a Host header or with two (RFC 9112 section 3.2: a
  server must), a request line without an HTTP version (HTTP/0.9), and any Transfer-Encoding but
  `chunked` alone. httptools accepts all three, and reads `gzip, chunked` as plain chunked.

`HttpToolsProtocol` refuses those the way uvicorn refuses any request it cannot parse, under
either parser: a plain-text `400 Invalid HTTP request received.`, then the connection is
closed. What httptools refuses and h11 accepts (obsolete line folding, Content-Length together
with Transfer-Encoding, unknown methods, ...) stays refused: docs/reliability.md lists both.
How long a request may take, and how many connections are kept, is the connection guard's
(connections.py), the same under either parser.
"""

from __future__ import annotations

import asyncio
from typing import Any

from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.config import Config
from uvicorn.protocols.http import httptools_impl
from uvicorn.server import ServerState

from .connections import Watched

INVALID = "Invalid HTTP request received."  # uvicorn's words for a request it cannot parse


class _Refused(Exception):
    """Raised in a parser callback: httptools stops and uvicorn answers its 400."""


_Base = httptools_impl.HttpToolsProtocol


class HttpToolsProtocol(Watched, _Base):
    """The callbacks below run for every request: they call uvicorn's own directly, not
    through `super()`, and `data_received` counts the bytes `Watched` counts, in one frame."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limit = config.h11_max_incomplete_event_size
        self.max_incomplete = DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if limit is None else limit
        # Bytes read since the parser last delivered a head, body data or the end of a message:
        # what httptools may be holding of a head, chunk header or trailers not yet complete.
        self.undelivered = 0
        self.delivered = False

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # refused already: nothing more is parsed, nor kept
        self.received += len(data)  # as Watched.data_received counts them
        self.delivered = False
        _Base.data_received(self, data)
        if self.delivered:
            self.undelivered = 0
            return
        self.undelivered += len(data)
        if self.undelivered > self.max_incomplete and not self.transport.is_closing():
            self.logger.warning(INVALID)
            self.send_400_response(INVALID)

    def on_headers_complete(self) -> None:
        self.delivered = True
        problem = self._refusal()
        if problem is not None:
            raise _Refused(problem)
        _Base.on_headers_complete(self)

    def on_body(self, body: bytes) -> None:
        self.delivered = True
        _Base.on_body(self, body)

    def on_message_complete(self) -> None:
        self.delivered = True
        _Base.on_message_complete(self)

    def _refusal(self) -> str | None:
        """Why h11 would refuse this head, if it would (and httptools does not)."""
        version = self.parser.get_http_version()
        if version == "0.9":
            return "no HTTP version"
        hosts = 0
        codings = []
        for name, value in self.headers:  # one pass: every request comes this way
            if name == b"host":
                hosts += 1
            elif name == b"transfer-encoding":
                codings.append(value.strip(b" \t").lower())
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            return "an HTTP/1.1 request needs exactly one Host header"
        if codings and codings != [b"chunked"]:
            return "only Transfer-Encoding: chunked is supported"
        return None
