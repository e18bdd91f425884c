"""Where accounts are kept: the store interface, the change marks the core keeps for it, and
the in-memory store (the default).

The account's objects (`Account`, its job book, delivery log, journal) are the working copy
every request reads. A store keeps what must outlive the process. The core does not know
which store it has: it marks what changed (`Changes`: the job book and the delivery log mark
each job and delivery they touch; a reset or an import marks everything), and the sandbox
asks the store to `commit` an account at the moments that make a write durable — before an
answer leaves the server, and after due work or a webhook attempt changed the account.

- `MemoryStore`: nothing outlives the process; marks cost nothing and commits do nothing.
- `store/sqlite.py`'s `SqliteStore` (`serve --data-dir`): every commit is one SQLite
  transaction; start-up loads every account back with its pending work.

`docs/architecture.md` says how a shared store (Redis) would implement the same interface.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .accounts import Account
    from .scenarios import Scenario


class Changes:
    """What changed in one account since the store last wrote it: ids of jobs and deliveries
    written or dropped, in the order they were first touched, or everything. The first mark
    after a write tells the store (`on_dirty`), so it commits only accounts that changed."""

    __slots__ = (
        "jobs",
        "deliveries",
        "dropped_jobs",
        "dropped_deliveries",
        "all",
        "_dirty",
        "_on_dirty",
    )

    def __init__(self, on_dirty: Callable[[], None] = lambda: None) -> None:
        self.jobs: dict[str, None] = {}
        self.deliveries: dict[str, None] = {}
        self.dropped_jobs: set[str] = set()
        self.dropped_deliveries: set[str] = set()
        self.all = True  # a new account: write all of it
        self._dirty = False
        self._on_dirty = on_dirty

    def _mark(self) -> None:
        if not self._dirty:
            self._dirty = True
            self._on_dirty()

    def job(self, job_id: str) -> None:
        self.jobs[job_id] = None
        self._mark()

    def drop_job(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)
        self.dropped_jobs.add(job_id)
        self._mark()

    def delivery(self, delivery_id: str) -> None:
        self.deliveries[delivery_id] = None
        self._mark()

    def drop_delivery(self, delivery_id: str) -> None:
        self.deliveries.pop(delivery_id, None)
        self.dropped_deliveries.add(delivery_id)
        self._mark()

    def touch(self) -> None:
        """Something else changed (the journal, the keys, a setting): write the account."""
        self._mark()

    def everything(self) -> None:
        """The account's world was replaced (an import, a reset): write all of it again."""
        self.all = True
        self._mark()

    def clear(self) -> None:
        """Written: nothing has changed since."""
        self.jobs.clear()
        self.deliveries.clear()
        self.dropped_jobs.clear()
        self.dropped_deliveries.clear()
        self.all = False
        self._dirty = False


class NoChanges(Changes):
    """The marks of an account whose store keeps nothing: each costs one call, and no memory."""

    __slots__ = ()

    def job(self, job_id: str) -> None:
        pass

    def drop_job(self, job_id: str) -> None:
        pass

    def delivery(self, delivery_id: str) -> None:
        pass

    def drop_delivery(self, delivery_id: str) -> None:
        pass

    def touch(self) -> None:
        pass

    def everything(self) -> None:
        pass


NO_CHANGES = NoChanges()


@dataclass
class StoredAccount:
    """One account as a store gives it back at start-up: the head of its state document (its
    settings, keys, webhooks, usage, counters), `internal` (what the sandbox keeps of it that
    no document shows: its clock's anchors, id sequences, the keys it began with), its jobs
    (compact rows, `Job.row()` and the timeline's bytes; or, from an older store, document
    entries), and its deliveries, journal entries and key events as document entries, oldest
    first."""

    account_id: str
    fixture: bool
    head: dict[str, Any]
    internal: dict[str, Any]
    jobs: list[dict[str, Any]] = field(default_factory=list)  # as document entries
    job_rows: list[tuple[list[Any], bytes]] = field(default_factory=list)  # `Job.row()`s
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


class Store(Protocol):
    """What the sandbox asks of a store. Implementations: `MemoryStore` here, `SqliteStore`
    in `store/sqlite.py`."""

    durable: bool

    def bind(self, library: Callable[[], Mapping[str, Scenario]]) -> None:
        """How to read the scenario library (a scenario of it is kept by name)."""
        ...

    def secret(self, name: str, make: Callable[[], str]) -> str:
        """A server secret kept with the accounts (`make` makes it the first time)."""
        ...

    def loaded(self, account: Account) -> None:
        """The account was just brought back from `load`: nothing of it is unwritten."""
        ...

    def load(self) -> Iterator[StoredAccount]:
        """Every account stored, once, at start-up."""
        ...

    def watch(self, account: Account) -> None:
        """Keep `account` from now on: give it the change marks this store reads."""
        ...

    def commit(self, account: Account) -> None:
        """Make what changed in `account` durable now (one transaction)."""
        ...

    def commit_dirty(self) -> None:
        """Commit every account marked since its last commit."""
        ...

    async def settle(self, account: Account) -> None:
        """Return once what changed in `account` is durable (the HTTP layer waits on it
        before an answer leaves: `durable` stores only)."""
        ...

    def forget(self, account_id: str) -> None:
        """The account was let go: drop what is kept of it."""
        ...

    def close(self, *, write: bool = True) -> None:
        """Write what is left (unless not `write`: a server that failed to start) and let go
        of the store's files."""
        ...


class MemoryStore:
    """Accounts live in memory only: the default, and what the pytest plugin uses."""

    durable = False

    def bind(self, library: Callable[[], Mapping[str, Scenario]]) -> None:
        pass

    def secret(self, name: str, make: Callable[[], str]) -> str:
        return make()

    def loaded(self, account: Account) -> None:
        pass

    def load(self) -> Iterator[StoredAccount]:
        return iter(())

    def watch(self, account: Account) -> None:
        account.changes = NO_CHANGES

    def commit(self, account: Account) -> None:
        pass

    def commit_dirty(self) -> None:
        pass

    async def settle(self, account: Account) -> None:
        pass

    def forget(self, account_id: str) -> None:
        pass

    def close(self, *, write: bool = True) -> None:
        pass
