"""The baseline for `bench/startup.py`: a bare Starlette app with one constant `/health`, served
by uvicorn the way `aiprod-sandbox serve` serves the sandbox (no log config, no access log).

    python bench/bare_app.py --port 8081
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"status":"ok","version":"bare","environment":"sandbox"}'


async def health(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    app = Starlette(routes=[Route("/health", health)])
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
