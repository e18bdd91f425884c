"""What one request carries through the stack: its id, its account and key, extra headers."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Scope

from ..core.accounts import Account
from ..core.keys import ApiKey
from ..core.ratelimit import Decision
from ..core.sandbox import Sandbox
from ..core.scenarios import Respond
from ..settings import Settings

SCOPE_KEY = "aiprod"


@dataclass(slots=True)
class RequestNotes:
    """What the layers note on a request for its journal entry (`core/journal.py`)."""

    body_sha: str | None = None  # operation.py, when it reads the body
    rules: tuple[str, ...] = ()  # faults.py: the scenario rules that fired
    # operation.py, once auth found the account: where its job book and delivery log stood,
    # so the journal can link the jobs the request created and the deliveries they began
    jobs_mark: int = -1
    deliveries_mark: int = 0
    fault: str | None = None  # faults.py: a fault after the handler, as the journal says it
    after: tuple[str, Respond] | None = None  # faults.py: that fault, until the handler answers


VIEWS_KEPT = 1024  # serialized job views an app keeps (an ended job's never changes)


@dataclass
class AppCaches:
    """What an app keeps between requests to answer the next ones faster; each bounded."""

    # A request scope's base URL (the same host, asked for again and again), bounded in
    # operation.py.
    base_urls: dict[tuple[Any, ...], str] = field(default_factory=dict)
    # The body of `GET /pipeline/{id}` for an ended job, by (id(job), base URL, the second its
    # result link expires): the job itself is kept beside the body, so its id is not reused
    # while cached, and an import's job of the same id is another object.
    views: OrderedDict[tuple[int, str, int], tuple[object, bytes]] = field(
        default_factory=OrderedDict
    )

    def view(self, key: tuple[int, str, int], job: object) -> bytes | None:
        found = self.views.get(key)
        if found is None or found[0] is not job:
            return None
        self.views.move_to_end(key)
        return found[1]

    def keep_view(self, key: tuple[int, str, int], job: object, body: bytes) -> None:
        self.views[key] = (job, body)
        while len(self.views) > VIEWS_KEPT:
            self.views.popitem(last=False)


@dataclass(slots=True)
class RequestContext:
    sandbox: Sandbox
    settings: Settings  # the server's (the core has its own part of them: sandbox.config)
    started: float
    request_id: str | None = None
    account: Account | None = None
    key: ApiKey | None = None
    admin: bool = False
    # Let in only because its key is one the account began with, revoked, dropped or without
    # the `sandbox` scope: the one thing it may do is a reset with keys (api/control.py).
    reclaiming: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    # The rate limit's decision on an API call, as its X-RateLimit-* headers (middleware.py);
    # a scripted answer's figures are in `headers` instead, and those win.
    limit: Decision | None = None
    notes: RequestNotes = field(default_factory=RequestNotes)
    caches: AppCaches = field(default_factory=AppCaches)  # the app's, shared by its requests

    def ensure_request_id(self) -> str:
        """The request's id: from its account's own request-id sequence once the account is
        known, else the server's (deterministic per seed, apart from every other id)."""
        if self.request_id is None:
            source = self.account.request_ids if self.account else self.sandbox.request_ids
            self.request_id = source.new("req")
        return self.request_id


def context_of(scope: Scope) -> RequestContext:
    ctx = scope.get(SCOPE_KEY)
    if not isinstance(ctx, RequestContext):  # pragma: no cover - the middleware always sets it
        raise RuntimeError("RequestContextMiddleware is not installed")
    return ctx
