"""What the sandbox accepts as a URL: an absolute http(s) URL, as the contract says for
`video_url`, `callback_url` and webhook URLs, wherever they enter (the API, state documents,
fixtures). The field type carries the JSON Schema that says exactly what its check accepts."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

MAX_URL_LENGTH = 2048


# An absolute http(s) URL: a host (an ASCII name, an IPv4 address or an [IPv6] one), an
# optional port, then any path, query and fragment without spaces or control characters.
_H16 = "[0-9A-Fa-f]{1,4}"


def _ipv6() -> str:
    """RFC 3986's IPv6address, word for word (an IPv4 address may end it)."""
    h, octet = _H16, "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    ls32 = rf"(?:{h}:{h}|{octet}(?:\.{octet}){{3}})"

    def before(most: int) -> str:  # [ *most( h16 ":" ) h16 ]
        return f"(?:(?:{h}:){{0,{most}}}{h})?"

    forms = [
        rf"(?:{h}:){{6}}{ls32}",
        rf"::(?:{h}:){{5}}{ls32}",
        rf"(?:{h})?::(?:{h}:){{4}}{ls32}",
        rf"{before(1)}::(?:{h}:){{3}}{ls32}",
        rf"{before(2)}::(?:{h}:){{2}}{ls32}",
        rf"{before(3)}::{h}:{ls32}",
        rf"{before(4)}::{ls32}",
        rf"{before(5)}::{h}",
        rf"{before(6)}::",
    ]
    return "(?:" + "|".join(forms) + ")"


_IPV6 = _ipv6()
HTTP_URL_PATTERN = (
    rf"^https?://(?:\[{_IPV6}\]|[A-Za-z0-9](?:[A-Za-z0-9._~%-]*[A-Za-z0-9])?)"
    r"(?::[0-9]{1,5})?(?:[/?#][^\x00-\x20\x7f]*)?$"
)
_HTTP_URL = re.compile(HTTP_URL_PATTERN)


def check_http_url(value: str) -> str:
    if len(value) > MAX_URL_LENGTH or not _HTTP_URL.match(value):
        raise PydanticCustomError("url", "Must be an absolute http(s) URL")
    try:
        urlsplit(value).hostname  # noqa: B018 - an [IPv6] host the pattern let by must parse
    except ValueError as exc:
        raise PydanticCustomError("url", "Must be an absolute http(s) URL") from exc
    return value


HttpUrl = Annotated[
    str,
    AfterValidator(check_http_url),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": HTTP_URL_PATTERN,
            "maxLength": MAX_URL_LENGTH,
            "description": "An absolute http(s) URL",
        }
    ),
]


def local_url(host: str, port: int) -> str:
    """The URL a server listening on `host:port` is reached at from this machine."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"
