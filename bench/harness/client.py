"""A small JSON client over http.client, for set-up calls and for probes whose own cost must
stay small (no connection pool, no retries: one keep-alive connection to 127.0.0.1)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from email.message import Message
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message  # case-insensitive: answer.headers.get("x-ratelimit-limit", "0")
    body: Any  # the JSON body, None when empty


class Client:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:PORT, sending `key` as a Bearer token."""

    def __init__(self, port: int, key: str | None = None, timeout: float = 10.0) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    def call(self, method: str, path: str, body: Any = None) -> Answer:
        headers = self._headers
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers = {**headers, "Content-Type": "application/json"}
        self._connection.request(method, path, body=data, headers=headers)
        response = self._connection.getresponse()
        raw = response.read()
        return Answer(response.status, response.headers, json.loads(raw) if raw else None)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def call(port: int, method: str, path: str, key: str | None = None, body: Any = None) -> Answer:
    """One request on a connection of its own (60 s timeout)."""
    with Client(port, key, timeout=60) as client:
        return client.call(method, path, body)
