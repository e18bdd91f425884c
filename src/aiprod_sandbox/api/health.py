"""`GET /health`: no key, not counted; says the sandbox is up and which version it is."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from .._version import __version__
from .operation import Call, Operation
from .responses import json_response


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = Field(examples=[__version__])
    environment: Literal["sandbox"] = "sandbox"


_BODY = json_response(Health(version=__version__)).body


async def health(call: Call) -> Response:
    return Response(_BODY, media_type="application/json")


OPERATIONS = (
    Operation(
        "GET",
        "/health",
        health,
        "Health check",
        "Health",
        "health",
        auth=False,
        responses={200: (Health, "The sandbox is serving")},
    ),
)
