"""Run the app under uvicorn, print the one ready line, and stop cleanly on SIGTERM/Ctrl-C."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Generator, Sequence

import uvicorn

from ._version import __version__
from .app import create_app
from .core.sandbox import Sandbox, local_url
from .settings import Settings
from .webhooks.receiver import Receiver, describe


def example_key(sandbox: Sandbox) -> str:
    """A key the reader can paste: the first fixture key, or a fresh test key."""
    for account in sandbox.accounts:
        for key in account.keys.values():
            if key.revoked_at is None and len(key.scopes) > 1:
                return key.secret
    return "sk_test_" + sandbox.ids.token(24)


class _QuietExit(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; we have shut down
    cleanly by then, so the process exits 0 instead of dying by the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


class _Server(_QuietExit):
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
        self.sandbox.set_served_at(self.config.host, port)
        port_file = self.sandbox.settings.port_file
        if port_file is not None:  # so `aiprod-sandbox health` finds a port given as a flag
            port_file.write_text(f"{port}\n", encoding="utf-8")
        url = local_url(self.config.host, port)
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
    try:
        server.run()
    finally:
        if settings.port_file is not None:
            settings.port_file.unlink(missing_ok=True)
    advice = sandbox.advice_summary()
    if advice:
        print(
            f"Integration advice ({len(advice)} finding(s); GET /_sandbox/advice for the "
            "evidence):",
            file=sys.stderr,
        )
        for line in advice:
            print("  " + line, file=sys.stderr)
    print("AIPROD Sandbox stopped", file=sys.stderr, flush=True)
    return 0 if server.started else 1


def listen(host: str, port: int, secret: str | None, statuses: Sequence[int]) -> int:
    """`aiprod-sandbox listen`: a receiver that prints every delivery until Ctrl-C."""
    receiver = Receiver(
        secret=secret,
        statuses=list(statuses),
        on_delivery=lambda item: print(describe(item), flush=True),
    )
    config = uvicorn.Config(
        receiver, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = _QuietExit(config)
    print(
        f"AIPROD Sandbox webhook receiver listening on {local_url(host, port)}"
        f" (signatures {'checked' if secret else 'not checked: pass --secret'})",
        flush=True,
    )
    server.run()
    return 0
