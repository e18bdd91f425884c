"""`aiprod-sandbox listen --forward-to URL`: a webhook registered on a running sandbox that
points at this process, each delivery forwarded byte for byte to the partner's app (issue 21).

The flow: bind `--host`:`--port` (127.0.0.1; 0 = any free port), register (or reuse, see
below) `http://127.0.0.1:PORT/listen` for `--events` (default: all), print the `whsec_` secret
once, then forward every delivery with `forwarding.Forwarder` and print one line each. Ctrl-C
or SIGTERM stops it and deletes the registration it made; a closed stdout ends it quietly.

A sandbox that cannot reach this machine's loopback (one in a container) is given
`--public-url` instead, the URL it can reach this listener at
(`http://host.docker.internal:PORT/listen`): that URL is registered, the listener still binds
`--host`:`--port`. `--forward-timeout` bounds the wait for the app (a 504 after it), and
`--skip-verify` forwards to an https app without checking its certificate.

`--print-secret` does what `stripe listen --print-secret` does: it prints the secret the
forwarder on that port signs with, and exits. So that secret stays true, the registration is
kept, and a later `listen --forward-to` on the same port (and account) reuses it — and keeps it
at exit, as it found it — instead of registering a new one with a new secret. The secret of an
existing registration is read from the account's state (`GET /_sandbox/state`).

Errors from the sandbox are its envelope on one line, with exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from ..core.clock import system_time
from ..core.urls import local_url
from .client import CommandError, SandboxClient
from .forwarding import ATTEMPT_TIMEOUT, Forwarded, Forwarder

PATH = "/listen"  # where the sandbox posts: names the registration as this command's


@dataclass(frozen=True)
class Registration:
    webhook_id: str
    url: str
    secret: str
    made_here: bool  # deleted at exit; a reused one is kept


class Usage(Exception):
    """A flag combination that cannot work: exit 2."""


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except Usage as exc:
        print(f"aiprod-sandbox listen: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # the reader left: cli.main ends quietly
    except (CommandError, OSError) as exc:
        print(f"aiprod-sandbox listen: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    events = _events(args.events)
    public = _public(args.public_url)
    if args.print_secret:
        return _print_secret(args, events, public)
    target = _target(args.forward_to)
    if args.forward_timeout >= ATTEMPT_TIMEOUT:
        print(
            f"aiprod-sandbox listen: note: --forward-timeout {args.forward_timeout:g} is not "
            f"below the sandbox's default attempt timeout ({ATTEMPT_TIMEOUT:g} s): unless it was "
            "served with a longer --webhook-timeout, a slow app's attempt ends there as a "
            "timeout, not here as a 504",
            file=sys.stderr,
        )
    with _terminate_as_interrupt(), SandboxClient(args.url, args.key) as client:
        listening = _bind(args.host, args.port)
        found: Registration | None = None
        try:
            port = listening.getsockname()[1]
            found = _registration(client, public or local_url(args.host, port) + PATH, events)
            return _forward(listening, found, target, events, args)
        except KeyboardInterrupt:
            return 0  # stopped before the forwarder ran: the registration goes all the same
        finally:
            listening.close()
            if found is not None and found.made_here:
                _delete(client, found)


def _print_secret(args: argparse.Namespace, events: list[str], public: str | None) -> int:
    if args.port == 0 and public is None:
        raise Usage("--print-secret needs a fixed --port: the secret belongs to its URL")
    with SandboxClient(args.url, args.key) as client:
        url = public or local_url(args.host, args.port) + PATH
        found = _registration(client, url, events)
    print(found.secret)
    return 0


def _events(text: str | None) -> list[str]:
    from ..core.jobs import JOB_EVENTS

    chosen = [name.strip() for name in (text or "").split(",") if name.strip()]
    return chosen or list(JOB_EVENTS)  # unknown names: the sandbox's 400 says which


def _target(url: str | None) -> str:
    if not url:
        raise Usage("--forward-to URL is required (your app's webhook endpoint)")
    return _absolute("--forward-to", url)


def _public(url: str | None) -> str | None:
    return None if url is None else _absolute("--public-url", url)


def _absolute(flag: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Usage(f"{flag} {url}: not an absolute http(s) URL")
    return url


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


# ---- the registration --------------------------------------------------------------------------
def _registration(client: SandboxClient, url: str, events: list[str]) -> Registration:
    """The webhook already registered for `url` on this account (its events set to `events`),
    else a new one."""
    existing = _existing(client, url)
    if existing is not None:
        body = {"events": events, "active": True}
        client.json("PUT", f"/webhooks/{existing.webhook_id}", json=body)
        return existing
    made = client.json("POST", "/webhooks/register", json={"url": url, "events": events})
    return Registration(made["webhook_id"], made["url"], made["secret"], made_here=True)


def _existing(client: SandboxClient, url: str) -> Registration | None:
    page = 1
    while True:
        listed = client.json("GET", "/webhooks", params={"page": page, "limit": 100})
        match = next((hook for hook in listed["items"] if hook["url"] == url), None)
        if match is not None:
            break
        if not listed["pagination"]["has_next"]:
            return None
        page += 1
    state = client.json("GET", "/_sandbox/state")  # the only place a secret is shown again
    for hook in state["webhooks"]:
        if hook["webhook_id"] == match["webhook_id"] and hook.get("secret"):
            return Registration(hook["webhook_id"], url, hook["secret"], made_here=False)
    return None


def _delete(client: SandboxClient, found: Registration) -> None:
    try:
        client.request("DELETE", f"/webhooks/{found.webhook_id}")
    except CommandError as exc:
        if not str(exc).startswith("404"):  # deleted meanwhile: nothing left to do
            print(f"aiprod-sandbox listen: {found.webhook_id} not deleted: {exc}", file=sys.stderr)


# ---- forwarding --------------------------------------------------------------------------------
def _forward(
    listening: socket.socket,
    found: Registration,
    target: str,
    events: list[str],
    args: argparse.Namespace,
) -> int:
    import uvicorn

    from ..server import _QuietExit, http_protocol

    lines = Lines()
    verify = not args.skip_verify
    forwarder = Forwarder(target, lines.delivery, timeout=args.forward_timeout, verify=verify)
    config = uvicorn.Config(
        forwarder,
        host=args.host,
        port=listening.getsockname()[1],
        http=http_protocol(),
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = _QuietExit(config)
    lines.on_closed = lambda: setattr(server, "should_exit", True)
    subscribed = "all events" if _all(events) else ", ".join(events)
    kept = "deleted" if found.made_here else "kept: it was registered before"
    unverified = "" if verify else " (certificate not verified: --skip-verify)"
    here = local_url(args.host, listening.getsockname()[1]) + PATH
    elsewhere = [f"Listening on {here}; the sandbox posts to {found.url}"]
    with _stopping(server):
        lines.banner(
            f"Forwarding {found.url} ({found.webhook_id}, {subscribed}) to {target}{unverified}",
            *(elsewhere if found.url != here else []),
            f"Webhook signing secret: {found.secret}",
            f"Ctrl-C stops (the registration is {kept}).",
        )
        server.run(sockets=[listening])
    return 1 if lines.closed else 0


@contextlib.contextmanager
def _stopping(server: Any) -> Iterator[None]:
    """Ctrl-C or SIGTERM from the banner on stops the server, however early it comes.

    uvicorn takes both signals only once its server task runs; one that came before (between
    the banner a script waits for and then) went to asyncio's own handler, which cancelled
    the task in the middle of start-up, and the server went on serving. Here it asks the
    server to exit instead, which uvicorn checks as soon as start-up is done."""

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _all(events: list[str]) -> bool:
    from ..core.jobs import JOB_EVENTS

    return set(events) == set(JOB_EVENTS)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the command like Ctrl-C does (the registration is still deleted), also
    before and after the server runs (while it runs, uvicorn handles both)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


# ---- what is printed ---------------------------------------------------------------------------
class Lines:
    """One line per delivery on stdout: in colour (rich) on a terminal, plain otherwise. A
    reader that went away (`| head`) ends the command quietly through `on_closed`."""

    def __init__(self) -> None:
        self.closed = False
        self.on_closed: Callable[[], None] | None = None
        self._console: Any = None
        if sys.stdout.isatty():
            from rich.console import Console

            self._console = Console(soft_wrap=True, highlight=False)

    def banner(self, *lines: str) -> None:
        for line in lines:
            self._out(line, None)

    def delivery(self, item: Forwarded) -> None:
        self._out(describe(item), item)

    def _out(self, plain: str, item: Forwarded | None) -> None:
        if self.closed:
            return
        try:
            if self._console is not None:
                self._console.print(_coloured(plain, item) if item else plain, markup=False)
                sys.stdout.flush()
            else:
                print(plain, flush=True)
        except BrokenPipeError:
            self.closed = True
            # Later writes, and Python's own flush at exit, must not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            if self.on_closed is not None:
                self.on_closed()


def describe(item: Forwarded) -> str:
    """`12:01:02  job.completed  dlv_…  attempt 1  → 500  12 ms` (and why, with no answer)."""
    clock = time.strftime("%H:%M:%S", time.localtime(system_time()))
    line = (
        f"{clock}  {item.event or '(no event)'}  {item.delivery_id or '(no id)'}  "
        f"attempt {item.attempt}  → {item.status}  {item.latency_ms:.0f} ms"
    )
    return line + (f"  ({item.problem})" if item.problem else "")


def _coloured(plain: str, item: Forwarded) -> Any:
    from rich.text import Text

    text = Text(plain)
    text.stylize("dim", 0, 8)
    arrow = plain.index("→")
    style = "green" if 200 <= item.status < 300 else "yellow" if item.status < 400 else "red"
    text.stylize(f"bold {style}", arrow, arrow + 2 + len(str(item.status)))
    return text
