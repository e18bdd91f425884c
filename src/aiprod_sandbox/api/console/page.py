"""The console page at `/_sandbox/ui`, its scripts and its style: files shipped in the
package (`console/index.html`, `views.js`, `timeline.js`, `app.js`, `app.css`), served with a
Content-Security-Policy that runs only those files.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.responses import Response

from ..operation import Call, Handler

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""What the page may load and who may frame it: its own files and `/_sandbox/` reads only."""
# In the order the page loads them: the tabs, the timeline picture, then app.js, which starts
# the page (classic scripts share their top-level names).
SCRIPTS = {  # name → (operation id, summary)
    "views.js": ("consoleViews", "The console's tabs"),
    "timeline.js": ("consoleTimeline", "The console's timeline picture"),
    "app.js": ("consoleScript", "The console's script"),
}
FILES = {  # name in console/ → media type
    "index.html": "text/html; charset=utf-8",
    **{name: "text/javascript; charset=utf-8" for name in SCRIPTS},
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


def script(name: str) -> Handler:
    """The handler that serves the script `name`."""

    async def serve(call: Call) -> Response:
        return _file(name)

    return serve


async def style(call: Call) -> Response:
    return _file("app.css")
