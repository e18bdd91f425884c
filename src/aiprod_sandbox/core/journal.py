"""The request journal: one entry per API request of an account, as the middleware saw it,
with the evidence a partner's test asserts on (headers, bodies, what the request caused).

Written by the HTTP layer (`api/middleware.py`) after each answer; listed and filtered by
`GET /_sandbox/requests`, matched by `POST /_sandbox/verify` (`matching.py`), exported as HAR,
and read by the integration advisor (`advisor.py`): the fields here are the whole of that
contract, checked by mypy on both sides.

Bounded per account twice over: at most `entries` entries, and at most `budget` bytes of
evidence (headers and bodies, each body cut at `body_bytes` with its full size kept). The
oldest entries go first; `evicted` counts them, so a listing can say that it is not whole.

The HTTP layer appends an `Exchange`: the evidence as the budget counts it (headers packed,
bodies cut), in a plain tuple. It becomes a `JournalEntry` (its text decoded, the headers an
entry reads found) when the journal is next read, so an entry the bound lets go unread never
costs that work: most are never read, and every API request makes one (issue 20).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .clock import iso

# Headers as they came over the wire (lowercase names), packed into one bytes value of
# `name: value` lines: one object instead of two per header, which the collector never walks.
Headers = bytes
ENTRY_OVERHEAD = 900  # bytes an entry costs besides its headers and bodies (measured, rounded)
TRUNCATED = "…[truncated: {shown} of {size} bytes]"  # the marker after a cut body


_NAME_VALUE = b": ".join  # a (name, value) pair as one line, joined in C


def pack_headers(pairs: Iterable[tuple[bytes, bytes]]) -> Headers:
    return b"\n".join(map(_NAME_VALUE, pairs))


def header_pairs(packed: Headers) -> list[tuple[bytes, bytes]]:
    """The (name, value) pairs of packed headers, in order (HTTP allows no newline in either,
    and no colon in a name)."""
    if not packed:
        return []
    pairs = []
    for line in packed.split(b"\n"):
        name, _, value = line.partition(b": ")
        pairs.append((name, value))
    return pairs


class JournalEntry(NamedTuple):
    """Immutable and typed; a named tuple rather than a frozen dataclass because one is made
    for every request, and a tuple is made in a third of the time. Headers are kept as they
    came (keys unmasked: the account's own); every way out masks them (`masking.py`)."""

    request_id: str
    at: float  # on the account's clock
    method: str
    path: str
    query: str
    status: int  # 0: the client left before an answer, or a fault dropped the connection
    duration_ms: float
    key: str  # masked
    scenarios: tuple[str, ...] = ()  # active for the account then
    rules: tuple[str, ...] = ()  # scenario rules that fired on it
    user_agent: str | None = None
    conditional: bool = False  # sent with If-None-Match
    body_sha: str | None = None  # a short hash of the body: the same body, the same hash
    retry_after: int | None = None  # the answer's Retry-After, when it had one
    request_headers: Headers = b""
    request_body: bytes = b""  # at most the journal's body_bytes of it
    request_size: int = 0  # the whole body's size
    response_headers: Headers = b""
    response_body: bytes = b""
    response_size: int = 0
    job_ids: tuple[str, ...] = ()  # the jobs it named or created
    delivery_ids: tuple[str, ...] = ()  # the webhook deliveries its jobs' events caused
    fault: str | None = None  # a fault after the handler: what the client got instead

    @property
    def timestamp(self) -> str:
        return iso(self.at)

    @property
    def evidence_bytes(self) -> int:
        return evidence_bytes(self)


class Exchange(NamedTuple):
    """One request as the HTTP layer saw it, before it is made a `JournalEntry`: what is only
    known then (the time, the status, the jobs it caused) is taken then, the headers packed
    and the bodies cut (what the budget counts); the rest of the entry is made by `entry()`."""

    request_id: str
    at: float
    method: str
    path: str
    query: bytes
    status: int
    duration: float  # seconds, unrounded (rounding a float to 3 places is not cheap)
    key: str
    scenarios: tuple[str, ...]
    rules: tuple[str, ...]
    body_sha: str | None
    fault: str | None
    job_ids: tuple[str, ...]
    delivery_ids: tuple[str, ...]
    request_headers: Headers
    request_body: bytes  # at most the journal's body_bytes of it
    request_size: int
    response_headers: Headers
    response_body: bytes
    response_size: int

    def entry(self) -> JournalEntry:
        user_agent, conditional = None, False
        for name, value in header_pairs(self.request_headers):
            if name == b"user-agent" and user_agent is None:
                user_agent = value.decode("latin-1")
            elif name == b"if-none-match":
                conditional = True
        answer = header_pairs(self.response_headers)
        retry_after = next((value for name, value in answer if name == b"retry-after"), b"")
        return JournalEntry(
            request_id=self.request_id,
            at=self.at,
            method=self.method,
            path=self.path,
            query=self.query.decode("latin-1"),
            status=self.status,
            duration_ms=round(self.duration * 1000, 3),
            key=self.key,
            scenarios=self.scenarios,
            rules=self.rules,
            user_agent=user_agent,
            conditional=conditional,
            body_sha=self.body_sha,
            retry_after=int(retry_after) if retry_after.isdigit() else None,
            request_headers=self.request_headers,
            request_body=self.request_body,
            request_size=self.request_size,
            response_headers=self.response_headers,
            response_body=self.response_body,
            response_size=self.response_size,
            job_ids=self.job_ids,
            delivery_ids=self.delivery_ids,
            fault=self.fault,
        )


def evidence_bytes(item: JournalEntry | Exchange) -> int:
    """What an entry holds beyond its fixed part, the measure of the journal's budget: the
    same for an exchange as for the entry it becomes."""
    return (
        len(item.request_body)
        + len(item.response_body)
        + len(item.request_headers)
        + len(item.response_headers)
    )


def shown(body: bytes, size: int) -> str:
    """A kept body as text, with the truncation marker when it was cut."""
    text = body.decode("utf-8", errors="replace")
    if size > len(body):
        text += TRUNCATED.format(shown=len(body), size=size)
    return text


class Journal:
    """One account's entries, oldest first, within its two bounds."""

    def __init__(self, entries: int, budget: int, body_bytes: int) -> None:
        self.limit = entries
        self.budget = budget
        self.body_bytes = body_bytes
        self._items: deque[JournalEntry | Exchange] = deque()
        self._unmade = False  # an exchange was appended since a read last made entries
        self._sizes: deque[int] = deque()  # what each entry counts against the budget
        self._bytes = 0
        self.evicted = 0  # entries let go to stay within the bounds, since the last clear
        self.added = 0  # entries ever added, since the last clear

    def append(self, entry: JournalEntry | Exchange, evidence: int | None = None) -> None:
        """`evidence`: `evidence_bytes(entry)`, where the caller has the lengths at hand."""
        size = ENTRY_OVERHEAD + (evidence_bytes(entry) if evidence is None else evidence)
        items = self._items
        items.append(entry)
        if type(entry) is Exchange:
            self._unmade = True
        self._sizes.append(size)
        self._bytes += size
        self.added += 1
        while len(items) > self.limit or (self._bytes > self.budget and len(items) > 1):
            items.popleft()
            self._bytes -= self._sizes.popleft()
            self.evicted += 1

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def _entries(self) -> deque[JournalEntry]:
        """Every item an entry: the exchanges appended since the last read are made ones."""
        if self._unmade:
            self._items = deque(
                item.entry() if type(item) is Exchange else item for item in self._items
            )
            self._unmade = False
        return self._items  # type: ignore[return-value]  # no Exchange is left in it

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self._entries())

    def __reversed__(self) -> Iterator[JournalEntry]:
        return reversed(self._entries())

    def __getitem__(self, index: int) -> JournalEntry:
        return self._entries()[index]

    def restore(self, entries: list[JournalEntry], added: int, evicted: int) -> None:
        """The journal becomes `entries` (oldest first; beyond the bounds, the oldest go), with
        the counts of entries ever added and let go that an export gave."""
        self.clear()
        for entry in entries:
            self.append(entry)
        self.added = max(added, self.added)
        self.evicted = max(evicted, self.evicted)

    def oldest_at(self) -> float | None:
        return self._items[0].at if self._items else None

    def clear(self) -> None:
        self._items.clear()
        self._unmade = False
        self._sizes.clear()
        self._bytes = 0
        self.evicted = 0
        self.added = 0
