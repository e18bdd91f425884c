"""`GET /health`: no key, not counted; says the sandbox is up and which version it is."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from .._version import __version__
from .operation import Call, Operation
from .responses import JsonBytes


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = Field(examples=[__version__])
    environment: Literal["sandbox"] = "sandbox"


_BODY = Health(version=__version__).model_dump_json().encode()


async def health(call: Call) -> Response:
    return JsonBytes(_BODY)


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
