"""The console page at `/_sandbox/ui` and its script and style: three files shipped in the
package (`console/index.html`, `app.js`, `app.css`), served with a Content-Security-Policy
that runs only those files.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.responses import Response

from ..operation import Call

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""What the page may load and who may frame it: its own files and `/_sandbox/` reads only."""
FILES = {  # name in console/ → media type
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


# ---- the files ---------------------------------------------------------------------------


@cache  # the files are constant: each is read once
def _read(name: str) -> bytes:
    return resources.files("aiprod_sandbox").joinpath("console", name).read_bytes()


def _file(name: str) -> Response:
    return Response(
        _read(name),
        media_type=FILES[name],
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP},
    )


async def page(call: Call) -> Response:
    return _file("index.html")


async def script(call: Call) -> Response:
    return _file("app.js")


async def style(call: Call) -> Response:
    return _file("app.css")
