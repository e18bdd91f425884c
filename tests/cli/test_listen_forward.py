"""`aiprod-sandbox listen --forward-to` end to end, over real sockets: a real `serve --clock
manual` child, the real `listen` command as a child, and a partner app (a small HTTP server in
a thread) that checks signatures with the guide's own code and answers 500 to the first
delivery. Only 127.0.0.1 is used, and every wait has a timeout."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiprod_sandbox.commands.forwarding import Forwarded, Forwarder, forwarded_headers
from tests.support.guide_webhook import verify_webhook
from tests.support.lines import LineReader
from tests.support.serve import (
    CLI,
    SandboxProcess,
    clean_env,
    http_client,
    launch,
    random_key,
    shut_down,
)

WAIT = 10.0
BANNER = re.compile(r"^Forwarding (?P<url>http://127\.0\.0\.1:\d+/\S*) \((?P<id>wh_\w+), ")
SECRET = re.compile(r"whsec_\w+")
EVENTS = ["job.started", "job.progress", "job.progress", "job.progress", "job.completed"]


# ---- the partner's app -------------------------------------------------------------------------
@dataclass
class Got:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    status: int


@dataclass
class PartnerApp:
    """Verifies each delivery with the guide's `verify_webhook` (401 when it fails, as the
    guide's Flask handler does), then answers `statuses` in order, then 200."""

    statuses: list[int] = field(default_factory=list)
    secret: str = ""
    got: list[Got] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            signature = headers.get("x-aiprod-signature", "")
            ok = bool(self.secret) and verify_webhook(body, signature, self.secret)
            status = (self.statuses.pop(0) if self.statuses else 200) if ok else 401
            self.got.append(Got(headers, body, ok, status))
            self.lock.notify_all()
            return status

    def wait_for(self, count: int) -> list[Got]:
        with self.lock:
            arrived = self.lock.wait_for(lambda: len(self.got) >= count, WAIT)
            assert arrived, f"the app got {len(self.got)} deliveries, not {count}"
            return list(self.got)


def serve_app(
    app: PartnerApp, tls: ssl.SSLContext | None = None
) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = app.handle({k.lower(): v for k, v in self.headers.items()}, body)
            answer = json.dumps({"ok": status == 200}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:  # the handshake is each connection's own thread's (a refused one too)
        server.socket = tls.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    threading.Thread(target=server.serve_forever, name="partner-app", daemon=True).start()
    scheme = "https" if tls is not None else "http"
    return server, f"{scheme}://127.0.0.1:{server.server_address[1]}/aiprod-webhook"


@pytest.fixture
def partner() -> Iterator[tuple[PartnerApp, str]]:
    app = PartnerApp(statuses=[500])
    server, url = serve_app(app)
    yield app, url
    server.shutdown()
    server.server_close()


# ---- the sandbox and the listen command --------------------------------------------------------
@pytest.fixture(scope="module")
def manual_sandbox() -> Iterator[SandboxProcess]:
    """A server of its own: on a manual clock, so a test walks the retry schedule at once."""
    server = launch(["--clock", "manual"])
    yield server
    shut_down(server)


@pytest.fixture
def account(manual_sandbox: SandboxProcess) -> Iterator[Api]:
    """A new account on that server (a fresh key), straight over HTTP."""
    with http_client() as client:
        yield Api(client, manual_sandbox.base_url, random_key())


@dataclass
class Api:
    client: httpx.Client
    base: str
    key: str

    def call(self, method: str, path: str, **more: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"}
        response = self.client.request(method, self.base + path, headers=headers, **more)
        assert response.is_success, response.text
        return response.json()

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/_sandbox/deliveries")["items"])

    def webhook_ids(self) -> list[str]:
        return [hook["webhook_id"] for hook in self.call("GET", "/webhooks")["items"]]


class Listener:
    """`aiprod-sandbox listen ...` as a child; its stdout read in a thread."""

    def __init__(self, args: Sequence[str]) -> None:
        self.process = subprocess.Popen(
            [str(CLI), "listen", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
            text=True,
            encoding="utf-8",
        )
        assert self.process.stdout is not None
        self.out = LineReader(self.process.stdout)

    @property
    def lines(self) -> list[str]:
        return self.out.lines

    def wait_line(self, wanted: Callable[[str], bool]) -> str:
        line = self.out.wait_line(wanted, WAIT)
        if line is None:
            self.process.kill()
            pytest.fail(f"listen printed no such line; it printed {self.lines}\n{self.stderr()}")
        return line

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"listen did not stop within {WAIT} s of signal {sig}")
        self.out.rest(WAIT)
        return code

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()


@pytest.fixture
def listeners() -> Iterator[Callable[..., Listener]]:
    started: list[Listener] = []

    def start(*args: str) -> Listener:
        started.append(Listener(args))
        return started[-1]

    yield start
    for listener in started:
        if listener.process.poll() is None:
            listener.process.kill()
            listener.process.wait(timeout=WAIT)
        for stream in (listener.process.stdout, listener.process.stderr):
            if stream is not None:
                stream.close()


def forward(account: Api, target: str, *more: str) -> list[str]:
    at = ["--url", account.base, "--key", account.key]
    return ["--forward-to", target, "--port", "0", *at, *more]


def headers_lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


# ---- the tests ---------------------------------------------------------------------------------
def test_every_event_reaches_the_app_byte_for_byte_and_a_500_is_retried(
    account: Api, partner: tuple[PartnerApp, str], listeners: Callable[..., Listener]
) -> None:
    app, target = partner
    listener = listeners(*forward(account, target))
    banner = BANNER.match(listener.wait_line(lambda line: bool(BANNER.match(line))))
    assert banner is not None
    secret_line = listener.wait_line(lambda line: "whsec_" in line)
    secret = SECRET.search(secret_line)
    assert secret is not None
    app.secret = secret.group()
    assert account.webhook_ids() == [banner["id"]]

    job_id = account.call("POST", "/pipeline/run", json={"video_url": "https://example.com/a.mp4"})[
        "job_id"
    ]
    got = app.wait_for(len(EVENTS))
    assert [item.status for item in got] == [500, 200, 200, 200, 200]
    # The retry of the first delivery, 1 s later on the sandbox's (manual) clock:
    account.call("POST", "/_sandbox/clock/advance", json={"seconds": 1})
    got = app.wait_for(len(EVENTS) + 1)
    assert all(item.signature_ok for item in got), "the guide's verify_webhook refused one"

    deliveries = {d["delivery_id"]: d for d in account.deliveries()}
    assert sorted(d["event"] for d in deliveries.values()) == sorted(EVENTS)
    assert {d["job_id"] for d in deliveries.values()} == {job_id}
    assert all(d["status"] == "delivered" for d in deliveries.values())
    for item in got:
        delivery = deliveries[item.headers["x-aiprod-delivery"]]
        attempt = delivery["attempts"][int(item.headers["x-aiprod-attempt"]) - 1]
        assert item.body == attempt["request_body"].encode()  # byte for byte
        assert attempt["response_status"] == item.status
        sent = headers_lower(attempt["request_headers"])
        for name in ("x-aiprod-signature", "x-aiprod-event", "x-aiprod-delivery"):
            assert item.headers[name] == sent[name]
        for name in ("x-aiprod-attempt", "x-aiprod-timestamp", "content-type", "user-agent"):
            assert item.headers[name] == sent[name]
    first = deliveries[got[0].headers["x-aiprod-delivery"]]
    assert [(a["attempt"], a["response_status"]) for a in first["attempts"]] == [(1, 500), (2, 200)]

    retried = first["delivery_id"]
    listener.wait_line(lambda line: retried in line and "attempt 2" in line)
    assert listener.stop(signal.SIGINT) == 0
    ours = [line for line in listener.lines if re.search(r"  attempt \d+  → \d+  \d+ ms", line)]
    assert len(ours) == len(EVENTS) + 1
    assert any(retried in line and "attempt 1  → 500" in line for line in ours)
    assert any(retried in line and "attempt 2  → 200" in line for line in ours)
    assert sum(line.count(app.secret) for line in listener.lines) == 1  # printed once
    assert "\x1b[" not in "\n".join(listener.lines)  # no colour into a pipe
    assert banner["id"] not in account.webhook_ids()  # Ctrl-C deleted the registration
    assert "Traceback" not in listener.stderr()


def test_an_unreachable_app_is_a_502_for_the_sandbox_and_sigterm_cleans_up(
    account: Api, listeners: Callable[..., Listener]
) -> None:
    with socket.socket() as free:  # a port nothing listens on once closed
        free.bind(("127.0.0.1", 0))
        closed = free.getsockname()[1]
    listener = listeners(*forward(account, f"http://127.0.0.1:{closed}/hook"))
    banner = BANNER.match(listener.wait_line(lambda line: bool(BANNER.match(line))))
    assert banner is not None
    test = account.call("POST", f"/webhooks/{banner['id']}/test")
    line = listener.wait_line(lambda line: test["delivery_id"] in line)
    assert "→ 502" in line and "app unreachable" in line
    (delivery,) = [d for d in account.deliveries() if d["delivery_id"] == test["delivery_id"]]
    assert delivery["attempts"][0]["response_status"] == 502
    assert listener.stop(signal.SIGTERM) == 0
    assert banner["id"] not in account.webhook_ids()


def test_a_bad_key_is_the_envelopes_401_on_one_line(
    account: Api, listeners: Callable[..., Listener]
) -> None:
    args = ["--forward-to", "http://127.0.0.1:9/hook", "--port", "0", "--url", account.base]
    bad = listeners(*args, "--key", "not-a-key")
    assert bad.process.wait(timeout=WAIT) == 1
    err = bad.stderr()
    assert "401 INVALID_API_KEY" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_print_secret_is_the_secret_the_next_listen_signs_with(
    account: Api, partner: tuple[PartnerApp, str], listeners: Callable[..., Listener]
) -> None:
    app, target = partner
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = str(free.getsockname()[1])
    at = ["--url", account.base, "--key", account.key, "--port", port]
    printed = subprocess.run(
        [str(CLI), "listen", "--print-secret", *at],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=WAIT,
        check=True,
    )
    secret = printed.stdout.strip()
    assert SECRET.fullmatch(secret) and printed.stderr == ""
    (registered,) = account.webhook_ids()

    app.secret, app.statuses = secret, []
    listener = listeners("--forward-to", target, *at)
    assert secret in listener.wait_line(lambda line: "whsec_" in line)  # the same one
    account.call("POST", f"/webhooks/{registered}/test")
    (got,) = app.wait_for(1)
    assert got.signature_ok and got.status == 200
    assert listener.stop(signal.SIGINT) == 0
    assert account.webhook_ids() == [registered]  # kept: it was there before this listen


# ---- on a terminal, into a closed pipe ---------------------------------------------------------
def read_until(fd: int, needle: bytes) -> bytes:
    """What the child wrote on `fd` until the pattern `needle` shows (bounded by WAIT)."""
    seen = b""
    deadline = time.monotonic() + WAIT
    while not re.search(needle, seen):
        left = deadline - time.monotonic()
        readable, _, _ = select.select([fd], [], [], max(0.0, left))
        if not readable:
            pytest.fail(f"no {needle!r} within {WAIT} s; got {seen!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # a terminal whose child has gone
            chunk = b""
        if not chunk:
            pytest.fail(f"output ended before {needle!r}; got {seen!r}")
        seen += chunk
    return seen


def spawn(
    args: list[str], stdout: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(CLI), "listen", *args],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=clean_env(env),
    )


def finish(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=WAIT)
        pytest.fail(f"listen did not end within {WAIT} s")
    return process.returncode, err.decode()


def test_colour_on_a_terminal_only(account: Api, partner: tuple[PartnerApp, str]) -> None:
    app, target = partner
    app.statuses = []
    main, child = pty.openpty()
    process = spawn(forward(account, target), child, {"TERM": "xterm-256color"})
    os.close(child)
    try:
        banner = read_until(main, b"Ctrl-C").decode()
        app.secret = SECRET.findall(banner)[0]
        hook = re.search(r"\((wh_\w+), ", banner)
        assert hook is not None
        test = account.call("POST", f"/webhooks/{hook.group(1)}/test")
        line = read_until(main, re.escape(test["delivery_id"].encode()) + rb".* ms")
        assert b"\x1b[" in line  # rich's colour, on a terminal
        assert app.wait_for(1)[0].status == 200
        process.send_signal(signal.SIGINT)
        code, err = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
            finish(process)
        os.close(main)
    assert code == 0 and "Traceback" not in err
    assert hook.group(1) not in account.webhook_ids()


def test_a_reader_that_went_away_ends_it_quietly(
    account: Api, partner: tuple[PartnerApp, str]
) -> None:
    _, target = partner
    reading, writing = os.pipe()
    process = spawn(forward(account, target), writing)
    os.close(writing)
    try:
        banner = read_until(reading, b"Ctrl-C").decode()
    finally:
        os.close(reading)  # `listen ... | head -3`: the reader leaves
    hook = re.search(r"\((wh_\w+), ", banner)
    assert hook is not None
    account.call("POST", f"/webhooks/{hook.group(1)}/test")  # its line meets a closed pipe
    code, err = finish(process)
    assert code == 1 and err == ""  # no traceback, no complaint
    assert hook.group(1) not in account.webhook_ids()


# ---- the forwarder alone -----------------------------------------------------------------------
def test_hop_by_hop_headers_stay_behind_and_the_rest_go_on() -> None:
    raw = [
        (b"Host", b"127.0.0.1:9000"),
        (b"Content-Length", b"2"),
        (b"Connection", b"keep-alive, X-Hop"),
        (b"X-Hop", b"1"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Content-Type", b"application/json"),
        (b"User-Agent", b"AIPROD-Webhooks/1.0"),
        (b"X-AIPROD-Signature", b"abc"),
        (b"X-AIPROD-Delivery", b"dlv_1"),
    ]
    assert forwarded_headers(raw) == [
        ("Content-Type", "application/json"),
        ("User-Agent", "AIPROD-Webhooks/1.0"),
        ("X-AIPROD-Signature", "abc"),
        ("X-AIPROD-Delivery", "dlv_1"),
    ]


def test_an_app_that_never_answers_is_a_504_within_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        target = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        reported: list[Forwarded] = []
        forwarder = Forwarder(target, reported.append, timeout=0.3)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        async def deliver() -> None:
            headers = [(b"x-aiprod-event", b"job.completed"), (b"x-aiprod-attempt", b"2")]
            scope = {"type": "http", "method": "POST", "path": "/listen", "headers": headers}
            try:
                await forwarder(scope, receive, send)
            finally:
                await forwarder.aclose()

        started = time.monotonic()
        asyncio.run(asyncio.wait_for(deliver(), WAIT))
        assert time.monotonic() - started < 5
    assert sent[0]["status"] == 504
    (item,) = reported
    assert (item.event, item.attempt, item.status, item.app_answered) == (
        "job.completed",
        2,
        504,
        False,
    )
    assert item.problem == "app timed out after 0.3 s"


def test_print_secret_into_a_closed_pipe_ends_quietly(account: Api) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = str(free.getsockname()[1])
    reading, writing = os.pipe()
    os.close(reading)  # `listen --print-secret | true`: nobody reads
    process = spawn(
        ["--print-secret", "--port", port, "--url", account.base, "--key", account.key], writing
    )
    os.close(writing)
    code, err = finish(process)
    assert code == 1 and err == ""


def test_events_chooses_what_the_registration_subscribes_to(
    account: Api, partner: tuple[PartnerApp, str], listeners: Callable[..., Listener]
) -> None:
    _, target = partner
    listener = listeners(*forward(account, target, "--events", "job.completed, job.failed"))
    line = listener.wait_line(lambda line: bool(BANNER.match(line)))
    assert "(wh_" in line and "job.completed, job.failed)" in line
    (hook,) = account.call("GET", "/webhooks")["items"]
    assert hook["events"] == ["job.completed", "job.failed"]
    assert listener.stop(signal.SIGINT) == 0
    assert account.webhook_ids() == []


# ---- --forward-timeout, --public-url, --skip-verify --------------------------------------------
ANY_BANNER = re.compile(r"^Forwarding (?P<url>\S+) \((?P<id>wh_\w+), ")


def free_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port: int = free.getsockname()[1]
        return port


def started(listener: Listener) -> tuple[re.Match[str], str]:
    """The banner's match and the secret, once the listener has printed both."""
    banner = ANY_BANNER.match(listener.wait_line(lambda line: bool(ANY_BANNER.match(line))))
    assert banner is not None
    secret = SECRET.search(listener.wait_line(lambda line: "whsec_" in line))
    assert secret is not None
    return banner, secret.group()


def test_forward_timeout_makes_a_silent_app_a_504_sooner(
    account: Api, listeners: Callable[..., Listener]
) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        target = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        listener = listeners(*forward(account, target, "--forward-timeout", "1.5"))
        banner, _ = started(listener)
        began = time.monotonic()
        test = account.call("POST", f"/webhooks/{banner['id']}/test")
        line = listener.wait_line(lambda line: test["delivery_id"] in line)
        took = time.monotonic() - began
    assert "→ 504" in line and "app timed out after 1.5 s" in line
    assert 1.4 < took < 10  # its 1.5 s, not the default 25
    (delivery,) = [d for d in account.deliveries() if d["delivery_id"] == test["delivery_id"]]
    assert delivery["attempts"][0]["response_status"] == 504
    assert listener.stop() == 0


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "inf", "soon"])
def test_a_forward_timeout_that_cannot_work_is_a_usage_error(seconds: str) -> None:
    done = subprocess.run(
        [
            str(CLI),
            "listen",
            "--forward-to",
            "http://127.0.0.1:9/hook",
            "--forward-timeout",
            seconds,
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=WAIT,
    )
    assert done.returncode == 2 and "--forward-timeout" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_default_forward_timeout_is_below_the_sandboxs_attempt_timeout() -> None:
    from aiprod_sandbox.commands.forwarding import FORWARD_TIMEOUT
    from aiprod_sandbox.settings import Settings

    assert FORWARD_TIMEOUT < Settings().webhook_timeout


def test_the_public_url_is_registered_and_the_listener_still_forwards(
    account: Api, partner: tuple[PartnerApp, str], listeners: Callable[..., Listener]
) -> None:
    app, target = partner
    app.statuses = []
    port = free_port()
    public = f"http://localhost:{port}/listen"  # another way to this listener, as a container's
    at = ["--url", account.base, "--key", account.key, "--port", str(port)]
    listener = listeners("--forward-to", target, "--public-url", public, *at)
    banner, app.secret = started(listener)
    assert banner["url"] == public
    assert f"Listening on http://127.0.0.1:{port}/listen" in "\n".join(listener.lines)
    (hook,) = account.call("GET", "/webhooks")["items"]
    assert (hook["webhook_id"], hook["url"]) == (banner["id"], public)

    account.call("POST", f"/webhooks/{banner['id']}/test")
    (got,) = app.wait_for(1)
    assert got.signature_ok and got.status == 200
    assert listener.stop() == 0
    assert account.webhook_ids() == []


def test_public_url_must_be_an_absolute_http_url(account: Api) -> None:
    done = subprocess.run(
        [str(CLI), "listen", "--forward-to", "http://127.0.0.1:9/hook", "--port", "0"]
        + ["--public-url", "host.docker.internal:9000/listen", "--url", account.base],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=WAIT,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "aiprod-sandbox listen: --public-url host.docker.internal:9000/listen: "
        "not an absolute http(s) URL"
    )


def self_signed(directory: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that no authority signed (made by
    `openssl`, which the test skips without)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl to make a self-signed certificate with")
    cert_file, key_file = directory / "app.crt", directory / "app.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=partner app"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key_file), "-out", str(cert_file)],
        capture_output=True,
        check=True,
        timeout=WAIT,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture
def tls_partner(tmp_path: Path) -> Iterator[tuple[PartnerApp, str]]:
    app = PartnerApp()
    server, url = serve_app(app, self_signed(tmp_path))
    yield app, url
    server.shutdown()
    server.server_close()


def test_skip_verify_reaches_an_app_with_a_self_signed_certificate(
    account: Api, tls_partner: tuple[PartnerApp, str], listeners: Callable[..., Listener]
) -> None:
    app, target = tls_partner
    assert target.startswith("https://127.0.0.1:")
    refusing = listeners(*forward(account, target))
    banner, _ = started(refusing)
    assert "--skip-verify" not in banner.string
    test = account.call("POST", f"/webhooks/{banner['id']}/test")
    line = refusing.wait_line(lambda line: test["delivery_id"] in line)
    assert "→ 502" in line and "TLS" in line and "--skip-verify" in line
    assert app.got == []
    assert refusing.stop() == 0

    skipping = listeners(*forward(account, target, "--skip-verify"))
    banner, app.secret = started(skipping)
    assert banner.string.endswith("(certificate not verified: --skip-verify)")
    test = account.call("POST", f"/webhooks/{banner['id']}/test")
    (got,) = app.wait_for(1)
    assert got.signature_ok and got.status == 200
    assert "→ 200" in skipping.wait_line(lambda line: test["delivery_id"] in line)
    assert skipping.stop() == 0
