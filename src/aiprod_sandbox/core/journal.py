"""The request journal: one entry per API request of an account, as the middleware saw it.

Written by the HTTP layer (`api/middleware.py`) after each answer, listed by
`GET /_sandbox/requests`, and read by the integration advisor (`advisor.py`): the fields here
are the whole of that contract, checked by mypy on both sides. Bounded per account (the
account's `journal` deque, `journal_size` entries).
"""

from __future__ import annotations

from typing import NamedTuple

from .clock import iso


class JournalEntry(NamedTuple):
    """Immutable and typed; a named tuple rather than a frozen dataclass because one is made
    for every request, and a tuple is made in a third of the time."""

    request_id: str
    at: float  # on the account's clock
    method: str
    path: str
    query: str
    status: int  # 0: the client left before an answer
    duration_ms: float
    key: str  # masked
    scenarios: tuple[str, ...] = ()  # active for the account then
    rules: tuple[str, ...] = ()  # scenario rules that fired on it
    user_agent: str | None = None
    conditional: bool = False  # sent with If-None-Match
    body_sha: str | None = None  # a short hash of the body: the same body, the same hash
    retry_after: int | None = None  # the answer's Retry-After, when it had one

    @property
    def timestamp(self) -> str:
        return iso(self.at)
