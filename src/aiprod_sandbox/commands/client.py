"""How the client commands reach a running sandbox: its URL and the account's key (a flag, else
`AIPROD_SANDBOX_URL` / `AIPROD_SANDBOX_KEY`, else the defaults here), and calls whose errors
come back as one line in the sandbox's own words (`CommandError`), never a traceback.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import ConfigError
from ..settings import Client

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_KEY = "sk_test_example_pro_key_0001"  # the example key `serve` prints


class CommandError(ConfigError):
    """What a client command reports on one line before it exits 1; `envelope` is the
    sandbox's error document when it sent one (what `--json` prints instead)."""

    def __init__(self, message: str, envelope: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.envelope = envelope


class SandboxClient:
    """A running sandbox, as one account (its key) sees it."""

    def __init__(self, url: str | None, key: str | None, timeout: float = 60.0) -> None:
        found = Client.load(url, key)
        self.url = (found.url or DEFAULT_URL).rstrip("/")
        self.key = found.key or DEFAULT_KEY
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=timeout,
            trust_env=False,  # a proxy variable must not swallow calls to 127.0.0.1
        )

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **more: Any) -> httpx.Response:
        """The sandbox's answer to a call (a success), else `CommandError` saying why."""
        try:
            response = self.http.request(method, path, **more)
        except httpx.HTTPError as exc:
            raise CommandError(f"no sandbox answered at {self.url}: {exc}") from exc
        return answer(response)

    def json(self, method: str, path: str, **more: Any) -> Any:
        """A call's JSON body (None for an empty one)."""
        response = self.request(method, path, **more)
        return response.json() if response.content else None


def answer(response: httpx.Response) -> httpx.Response:
    """`response` if it succeeded, else `CommandError` with its envelope's status, code,
    message and details, as the sandbox said them."""
    if response.is_success:
        return response
    envelope = None
    try:
        envelope = response.json()
        error = envelope["error"]
        message = f"{response.status_code} {error['code']}: {error['message']}"
        if error.get("details"):
            message += " (" + "; ".join(f"{k}: {v}" for k, v in error["details"].items()) + ")"
    except (ValueError, KeyError, TypeError):
        envelope = None
        message = f"{response.status_code}: {response.text[:200]}"
    raise CommandError(message, envelope)
