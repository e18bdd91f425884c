"""Field types shared by more than one resource's request models."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

MAX_URL_LENGTH = 2048


def check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(value) > MAX_URL_LENGTH:
        raise PydanticCustomError("url", "Must be an absolute http(s) URL")
    return value


HttpUrl = Annotated[str, AfterValidator(check_http_url)]
