"""Run the app under uvicorn, print the one ready line, and stop cleanly on SIGTERM/Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
import sys
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from . import gc_policy
from ._version import __version__
from .app import build_sandbox, create_app
from .connections import ConnectionGuard, GuardedState
from .core.clock import monotonic
from .core.sandbox import Sandbox
from .core.urls import local_url
from .errors import ConfigError, DropConnection
from .gc_policy import Collector
from .settings import Settings
from .webhook_http.receiver import Receiver, describe


def example_key(sandbox: Sandbox) -> str:
    """A key the reader can paste: the first fixture key, or a fresh test key."""
    for account in sandbox.accounts:
        for key in account.keys.values():
            if key.revoked_at is None and len(key.scopes) > 1:
                return key.secret
    return "sk_test_" + sandbox.ids.token(24)


log = logging.getLogger("aiprod_sandbox")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def http_protocol(choice: str = "auto") -> type[asyncio.Protocol]:
    """What `uvicorn.Config(http=...)` gets for `--http`: httptools always with the limits
    h11 sets on a request (see httptools_protocol.py), h11 where httptools is missing; either
    one watched by the connection guard of a server built on `HeadDeadline`."""
    if choice == "h11" or (choice == "auto" and not _installed("httptools")):
        from .h11_protocol import H11Protocol

        return H11Protocol
    if not _installed("httptools"):
        raise ConfigError("--http httptools: httptools is not installed (pip install httptools)")
    from .httptools_protocol import HttpToolsProtocol

    return HttpToolsProtocol


def event_loop(choice: str = "auto") -> str:
    """What `uvicorn.Config(loop=...)` gets for `--loop` (auto: uvloop where installed)."""
    if choice == "uvloop" and not _installed("uvloop"):
        raise ConfigError("--loop uvloop: uvloop is not installed (pip install uvloop)")
    return choice


class HeadDeadline(uvicorn.Server):
    """uvicorn's server, with the connection guard of connections.py: a connection is cut off
    when it keeps the server waiting too long for a request's head (10 s) or body (10 s, plus
    1 s per KiB, at most 60 s), and idle ones make room when too many are open. uvicorn's own
    keep-alive timeout starts only after an answer."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.guard = ConnectionGuard.for_this_process()
        self.server_state = GuardedState(self.guard)
        self._out_of_files = 0

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(self._loop_error)
        await super().startup(sockets)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """With every descriptor taken, asyncio reports each failed accept (thousands a
        second): that alone would starve the loop that frees them. Say it once in a while."""
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            self._out_of_files += 1
            if self._out_of_files % 10_000 == 1:
                log.warning(
                    "out of file descriptors: new connections wait until some close "
                    "(%d accepts refused so far)",
                    self._out_of_files,
                )
            return
        if "_start_serving" in str(context.get("message", "")) and self.should_exit:
            # Each refused accept also left asyncio a timer to listen again; at shutdown, with
            # the socket closed, every one of them fails (tens of thousands of tracebacks,
            # seconds of the shutdown's time). Nothing is left to serve: nothing to report.
            return
        loop.default_exception_handler(context)

    async def on_tick(self, counter: int) -> bool:
        if counter % 10 == 0:  # uvicorn ticks every 0.1 s
            self.guard.sweep(self.server_state.connections, monotonic())
        return await super().on_tick(counter)


def raise_file_limit() -> None:
    """Many idle connections must not exhaust the descriptors other clients need."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


class _QuietExit(HeadDeadline):
    """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; we have shut down
    cleanly by then, so the process exits 0 instead of dying by the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


class _Server(_QuietExit):
    def __init__(self, config: uvicorn.Config, sandbox: Sandbox, port_file: Path | None) -> None:
        super().__init__(config)
        self.sandbox = sandbox
        self.port_file = port_file
        self.collector = Collector(lambda: sandbox.accounts.released)
        self.wrote_port_file = False

    async def on_tick(self, counter: int) -> bool:
        self.collector.tick()
        return await super().on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        self.collector.install()  # after start-up, so what it built is frozen at once
        port = self.config.port
        for server in self.servers:
            for sock in server.sockets:
                port = sock.getsockname()[1]
                break
        self.sandbox.set_served_at(self.config.host, port)
        if self.port_file is not None:  # so `aiprod-sandbox health` finds a port given as a flag
            self.wrote_port_file = write_port_file(self.port_file, port)
        url = local_url(self.config.host, port)
        print(
            f"AIPROD Sandbox {__version__} ready on {url} "
            f"(example key: {example_key(self.sandbox)}; docs: {url}/openapi.json)",
            flush=True,
        )


def write_port_file(path: Path, port: int) -> bool:
    """The port file is a convenience for `health`: a read-only root filesystem (no /tmp)
    must not stop the server, so a failure is one warning, not a crash. Whether it was
    written (and so is ours to remove at the end)."""
    try:
        path.write_text(f"{port}\n", encoding="utf-8")
    except OSError as exc:
        log.warning(
            "cannot write the port file %s (%s): serving on port %d without it; "
            "`aiprod-sandbox health` finds the server on AIPROD_SANDBOX_PORT or --url",
            path,
            exc.strerror or exc,
            port,
        )
        return False
    return True


def remove_port_file(path: Path) -> None:
    with contextlib.suppress(OSError):  # removed or made unreachable meanwhile: nothing to do
        path.unlink(missing_ok=True)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # uvicorn's own start-up chatter only at debug: `serve` prints one ready line itself.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    logging.getLogger("uvicorn.error").setLevel(quiet)
    logging.getLogger("httpx").setLevel(quiet)  # one line per webhook attempt is too chatty
    logging.getLogger("uvicorn.error").addFilter(_not_a_scripted_drop)


def _not_a_scripted_drop(record: logging.LogRecord) -> bool:
    """A scenario's dropped connection is on purpose: uvicorn need not report it as a crash."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, DropConnection)


def serve(settings: Settings) -> int:
    configure_logging(settings.log_level)
    http, loop = http_protocol(settings.http), event_loop(settings.loop)
    raise_file_limit()
    with gc_policy.paused():  # start-up only makes what it keeps: a stored world, loaded
        sandbox = build_sandbox(settings)
    app = create_app(settings, sandbox=sandbox)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=http,
        loop=loop,
        log_config=None,
        access_log=settings.log_level == "debug",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, sandbox, settings.port_file)
    try:
        server.run()
    finally:
        server.collector.uninstall()
        if settings.port_file is not None and server.wrote_port_file:
            remove_port_file(settings.port_file)
    advice = sandbox.advice_summary()
    if advice:
        print(
            f"Integration advice ({len(advice)} finding(s), each with the ids of the requests "
            "or deliveries that show it):",
            file=sys.stderr,
        )
        for finding in advice:
            print("  " + finding.replace("\n", "\n  "), file=sys.stderr)
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
        receiver,
        host=host,
        port=port,
        http=http_protocol(),
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = _QuietExit(config)
    print(
        f"AIPROD Sandbox webhook receiver listening on {local_url(host, port)}"
        f" (signatures {'checked' if secret else 'not checked: pass --secret'})",
        flush=True,
    )
    server.run()
    return 0
