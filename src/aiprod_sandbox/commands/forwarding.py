"""The ASGI app behind `aiprod-sandbox listen --forward-to`: every webhook delivery the sandbox
posts here goes on to the partner's app, byte for byte, and the app's answer comes back.

What is forwarded: the exact body, and every header of the delivery (the signature, the
`X-AIPROD-*` headers, `Content-Type`, `User-Agent`) except the hop-by-hop ones a proxy must
not pass on. What the sandbox gets back: the app's status and (at most `ANSWER_LIMIT` bytes
of) its body, so its retry schedule runs against the real app; 502 when the app cannot be
reached (naming TLS when its certificate is refused), 504 when it does not answer within the
timeout (`FORWARD_TIMEOUT` unless told) — both are retried like any other failure. `verify`
off skips checking the app's certificate (an https app with a self-signed one). Each forwarded
attempt is reported to `on_forwarded` as a `Forwarded` record.

Light at import (nothing but the standard library and the settings' defaults), so the command
line's parser can read `FORWARD_TIMEOUT`; what it runs on is imported when it runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..settings import Settings
from ..webhook_http.asgi import lifespan, whole_body

if TYPE_CHECKING:
    import aiohttp
    from starlette.types import Receive, Scope, Send

# Below the sandbox's attempt timeout, so a slow app is reported here as a 504 before the
# sandbox gives up on the attempt (a timeout, with no answer to show).
ATTEMPT_TIMEOUT = Settings.webhook_timeout  # the sandbox's default
FORWARD_TIMEOUT = 25.0
MAX_FORWARD_TIMEOUT = 3600.0
ANSWER_LIMIT = 64 * 1024  # the sandbox keeps only an excerpt of an answer anyway

# RFC 9110 section 7.6.1's connection-specific fields, plus the ones the new connection sets
# itself (Host, Content-Length): a proxy must not forward them.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_ANSWER_HEADERS = frozenset({"content-type", "content-encoding"})


@dataclass(frozen=True)
class Forwarded:
    """One delivery attempt as it went through: what the sandbox sent, what it got back."""

    event: str
    delivery_id: str
    attempt: int
    status: int  # what the sandbox was answered: the app's status, else 502 / 504
    app_answered: bool
    latency_ms: float
    problem: str | None = None  # why the app gave no answer


def forwarded_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The delivery's headers without the hop-by-hop ones (nor those `Connection` names)."""
    pairs = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [(n, v) for n, v in pairs if n.lower() not in HOP_BY_HOP and n.lower() not in named]


class Forwarder:
    """Forwards every POST to `target`; any other method is answered with what this is."""

    def __init__(
        self,
        target: str,
        on_forwarded: Callable[[Forwarded], None],
        *,
        timeout: float = FORWARD_TIMEOUT,
        verify: bool = True,
    ) -> None:
        self.target = target
        self.on_forwarded = on_forwarded
        self.timeout = timeout
        self.verify = verify  # False: the app's certificate is not checked (--skip-verify)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # the app's bytes go back as they came
                # only the delivery's own headers reach the app, none aiohttp would add
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, on_shutdown=self.aclose)
            return
        if scope["type"] != "http":
            return
        body = await whole_body(receive)
        if body is None:
            return  # the sandbox left mid-body: half a delivery is not forwarded
        if scope["method"] != "POST":
            await _reply(send, 200, [], _json({"forwarding_to": self.target}))
            return
        from ..core.clock import monotonic

        headers = forwarded_headers(scope["headers"])
        started = monotonic()
        answer = await self._forward(headers, body)
        latency_ms = (monotonic() - started) * 1000
        await _reply(send, answer.status, answer.headers, answer.body)
        attempt = _header(headers, "x-aiprod-attempt")
        self.on_forwarded(
            Forwarded(
                event=_header(headers, "x-aiprod-event"),
                delivery_id=_header(headers, "x-aiprod-delivery"),
                attempt=int(attempt) if attempt.isdigit() else 0,
                status=answer.status,
                app_answered=answer.problem is None,
                latency_ms=latency_ms,
                problem=answer.problem,
            )
        )

    async def _forward(self, headers: list[tuple[str, str]], body: bytes) -> _Answer:
        """What the sandbox is answered: the app's answer, else 502 / 504 saying why."""
        import aiohttp

        try:
            async with asyncio.timeout(self.timeout):
                async with self._http().post(
                    self.target,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    ssl=self.verify,  # True: aiohttp's default checks
                ) as response:
                    kept = [
                        (name, value)
                        for name, value in response.headers.items()
                        if name.lower() in _ANSWER_HEADERS
                    ]
                    content = await _read_bounded(response.content, ANSWER_LIMIT)
                    return _Answer(response.status, kept, content)
        except TimeoutError:
            why = f"app timed out after {self.timeout:g} s"
            return _Answer(504, [], _json({"error": why}), why)
        except aiohttp.ClientSSLError as exc:
            why = f"app's TLS failed: {exc} (a self-signed certificate? --skip-verify)"
            return _Answer(502, [], _json({"error": why}), why)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            why = f"app unreachable: {exc or type(exc).__name__}"
            return _Answer(502, [], _json({"error": why}), why)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    problem: str | None = None


def _header(headers: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key.lower() == name), "")


async def _read_bounded(stream: aiohttp.StreamReader, limit: int) -> bytes:
    answer = bytearray()
    while len(answer) < limit:
        chunk = await stream.read(limit - len(answer))
        if not chunk:
            break
        answer += chunk
    return bytes(answer)


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


async def _reply(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    out = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if not any(name == b"content-type" for name, _ in out):
        out.append((b"content-type", b"application/json"))
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
