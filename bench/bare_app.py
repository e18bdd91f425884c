"""The baseline for `bench/startup.py` and `bench/run.py`: a bare Starlette app with constant
endpoints shaped like the sandbox's, served by uvicorn the way `aiprod-sandbox serve` serves
the sandbox (no log config, no access log, one worker, log level warning).

- `GET /health`: the sandbox's health body.
- `GET /pipeline/{job_id}`: one constant COMPLETED job, the size and shape of the sandbox's.
- `POST /pipeline/run`: reads the request body, answers 202 with a constant accepted job.

No auth, validation, state or headers of its own: what is left is the framework's cost, the
floor the sandbox's figures are divided by.

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
JOB = (
    b'{"job_id":"job_bench0000000000","status":"COMPLETED","progress":100,'
    b'"created_at":"2026-11-29T04:55:32Z","updated_at":"2026-11-29T04:55:32Z",'
    b'"started_at":"2026-11-29T04:55:32Z","completed_at":"2026-11-29T04:55:32Z",'
    b'"estimated_duration_seconds":225,"input":{"video_url":"https://example.com/video.mp4",'
    b'"voice_text":null,"voice_language":null,"music_style":null,"preset":null,'
    b'"callback_url":null},"metadata":{},"result":{"video_url":"http://127.0.0.1:8081/'
    b"_sandbox/files/job_bench0000000000.mp4?token=WyJhY2N0XzgxZWQ2YzY4NWM3OTExODkiLCJqb2Jf"
    b'bXphOW1mdzJxdzNhd3hoNCIsMTc5NTkzMTczMl0.Iye95aC7-HvIyvgqWS6CORe7KDk","cost_estimate":1.82,'
    b'"quality_score":0.98,"processing_time_seconds":218},"error":null}'
)
ACCEPTED = (
    b'{"job_id":"job_bench0000000000","status":"PENDING","estimated_duration_seconds":222,'
    b'"created_at":"2026-11-29T04:55:32Z"}'
)
JSON = "application/json"


async def health(request: Request) -> Response:
    return Response(BODY, media_type=JSON)


async def get_job(request: Request) -> Response:
    return Response(JOB, media_type=JSON)


async def submit(request: Request) -> Response:
    await request.body()
    return Response(ACCEPTED, 202, media_type=JSON)


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/health", health),
            Route("/pipeline/run", submit, methods=["POST"]),
            Route("/pipeline/{job_id}", get_job),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        workers=1,
    )


if __name__ == "__main__":
    main()
