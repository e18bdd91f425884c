"""uvicorn's h11 protocol, watched by the server's connection guard (connections.py).

`serve --http h11` runs on it: h11 holds a request head to its own limits, so all this class adds
is what the guard needs to see of a connection, as `HttpToolsProtocol` adds it for httptools.
"""

from __future__ import annotations

from uvicorn.protocols.http import h11_impl

from .connections import Watched


class H11Protocol(Watched, h11_impl.H11Protocol):
    pass
