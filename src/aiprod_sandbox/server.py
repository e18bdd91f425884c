"""Run the app under uvicorn, print the one ready line, and stop cleanly on SIGTERM/Ctrl-C."""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence

import uvicorn

from ._version import __version__
from .app import create_app
from .core.sandbox import Sandbox
from .settings import Settings


def example_key(sandbox: Sandbox) -> str:
    """A key the reader can paste: the first fixture key, or a fresh test key."""
    for account in sandbox.accounts:
        for key in account.keys.values():
            if key.revoked_at is None and len(key.scopes) > 1:
                return key.secret
    return "sk_test_" + sandbox.ids.token(24)


def display_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, sandbox: Sandbox) -> None:
        super().__init__(config)
        self.sandbox = sandbox

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        port = self.config.port
        for server in self.servers:
            for sock in server.sockets:
                port = sock.getsockname()[1]
                break
        url = display_url(self.config.host, port)
        print(
            f"AIPROD Sandbox {__version__} ready on {url} "
            f"(example key: {example_key(self.sandbox)}; docs: {url}/openapi.json)",
            flush=True,
        )


def serve(settings: Settings, argv: Sequence[str] | None = None) -> int:
    from .cli import configure_logging

    configure_logging(settings.log_level)
    sandbox = Sandbox(settings)
    app = create_app(settings, sandbox=sandbox)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=settings.log_level == "debug",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, sandbox)
    server.run()
    print("AIPROD Sandbox stopped", file=sys.stderr, flush=True)
    return 0 if server.started else 1
