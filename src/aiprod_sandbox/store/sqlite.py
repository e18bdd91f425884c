"""The data directory (`serve --data-dir`): every account in one SQLite database, written as
it changes, and brought back at start-up with its pending work.

One transaction per commit (`core/store.py` says when): the account's head (its document
without the long lists, and what the sandbox keeps besides), and a row for each job, delivery,
journal entry and key event that changed. SQLite in WAL mode makes each transaction atomic and
durable against the process dying at any instant (`kill -9`): a commit is in the log before
the answer leaves, and a torn write is rolled back when the file is next opened. `synchronous
= NORMAL` trades the last transactions before a power cut (not a process crash) for speed.

The directory holds `sandbox.db` (and SQLite's `-wal` and `-shm` files) and `lock`: a second
server on the same directory finds the lock held and refuses to start, naming the first. The
schema is versioned (`meta.schema`): an older one is migrated in place, a newer one refused.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from pydantic_core import to_json

from ..core.accounts import Account
from ..core.scenarios import Scenario
from ..core.snapshot import dumps, export_head, internal_of
from ..core.snapshot.records import audit_entry, delivery_entry, journal_entry, loads
from ..core.store import Changes, StoredAccount
from ..errors import DataDirectoryError
from .schema import Transaction, migrate

DATABASE = "sandbox.db"
LOCK = "lock"
LISTS = ("jobs", "deliveries", "journal", "audit")


class SqliteStore:
    """Accounts in `PATH/sandbox.db`, written as they change (see the module docstring)."""

    durable = True

    def __init__(self, path: Path, *, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self._library: Callable[[], Mapping[str, Scenario]] = dict
        self._wall = wall
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._lock = _take_lock(path / LOCK)
        except OSError as exc:
            raise DataDirectoryError(f"{path}: cannot be used as --data-dir: {exc}") from exc
        self._db = sqlite3.connect(path / DATABASE, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            migrate(self._db, self.path)
        except sqlite3.DatabaseError as exc:
            self._abandon()
            raise DataDirectoryError(
                f"{path / DATABASE}: not a sandbox database this version can read ({exc}): "
                "give --data-dir an empty folder, or one an aiprod-sandbox wrote"
            ) from exc
        except BaseException:
            self._abandon()
            raise
        self._accounts: dict[str, Account] = {}
        self._dirty: dict[str, None] = {}
        self._heads: dict[str, int] = {}  # hash of the head last written
        self._written: dict[str, tuple[int, int]] = {}  # journal and audit counts written
        self._group: asyncio.Future[None] | None = None  # the commit the next answers wait on
        self._migrating: set[str] = set()  # accounts read from an older schema's rows

    def _abandon(self) -> None:
        self._db.close()
        self._lock.close()

    def bind(self, library: Callable[[], Mapping[str, Scenario]]) -> None:
        self._library = library

    def _transaction(self) -> Transaction:
        return Transaction(self._db)

    def secret(self, name: str, make: Callable[[], str]) -> str:
        """A server secret kept with the data (result links stay valid across restarts)."""
        key = f"secret:{name}"
        row = self._db.execute("SELECT value FROM meta WHERE name=?", (key,)).fetchone()
        if row is not None:
            return str(row[0])
        value = make()
        with self._transaction():
            self._db.execute("INSERT INTO meta(name, value) VALUES(?, ?)", (key, value))
        return value

    # ---- start-up ----------------------------------------------------------------------------
    def load(self) -> Iterator[StoredAccount]:
        db = self._db
        rows = db.execute("SELECT account_id, fixture, head, internal FROM accounts").fetchall()
        for account_id, fixture, head, internal in rows:
            entries, rows = [], []
            for seq, entry, timeline in db.execute(
                "SELECT seq, entry, timeline FROM jobs WHERE account_id=? ORDER BY seq",
                (account_id,),
            ):
                if timeline is None:  # schema 1's document entry
                    entries.append({**loads(entry), "seq": seq})
                else:
                    rows.append((loads(entry), timeline))
            if entries:
                self._migrating.add(account_id)
            yield StoredAccount(
                account_id=account_id,
                fixture=bool(fixture),
                head=loads(head),
                internal=loads(internal),
                jobs=entries,
                job_rows=rows,
                deliveries=self._list("deliveries", "seq", account_id),
                journal=self._list("journal", "n", account_id),
                audit=self._list("audit", "n", account_id),
            )

    def _list(self, table: str, order: str, account_id: str) -> list[dict[str, Any]]:
        query = f"SELECT entry FROM {table} WHERE account_id=? ORDER BY {order}"  # noqa: S608
        return [loads(entry) for (entry,) in self._db.execute(query, (account_id,))]

    # ---- writing -----------------------------------------------------------------------------
    def watch(self, account: Account) -> None:
        account_id = account.account_id
        self._accounts[account_id] = account
        account.changes = Changes(lambda: self._dirty.setdefault(account_id, None))
        account.changes.touch()

    def loaded(self, account: Account) -> None:
        """The account was just brought back: what is stored is what it holds (an account
        read from schema 1's rows is written again whole, compact, at the next commit)."""
        self._written[account.account_id] = (account.journal.added, account.audit.seq)
        if account.account_id in self._migrating:
            account.changes.everything()
            return
        account.changes.clear()
        self._dirty.pop(account.account_id, None)

    def commit(self, account: Account) -> None:
        try:
            with self._transaction():
                self._write(account)
        except Exception:
            self._failed([account])
            raise

    async def settle(self, account: Account) -> None:
        """Return once what changed in `account` is committed. Answers that reach this point
        in the same turn of the event loop share one transaction (a group commit): under
        load one COMMIT acknowledges many requests, and each still waits for its own."""
        self._dirty.setdefault(account.account_id, None)
        group = self._group
        if group is None:
            loop = asyncio.get_running_loop()
            group = self._group = loop.create_future()
            loop.call_soon(self._commit_group)
        await asyncio.shield(group)

    def _commit_group(self) -> None:
        group, self._group = self._group, None
        assert group is not None
        try:
            self.commit_dirty()
        except Exception as exc:  # every answer waiting on it learns: none is acknowledged
            group.set_exception(exc)
        else:
            group.set_result(None)

    def commit_dirty(self) -> None:
        if not self._dirty:
            return
        written: list[Account] = []
        try:
            with self._transaction():
                while self._dirty:
                    account_id = next(iter(self._dirty))
                    del self._dirty[account_id]
                    account = self._accounts.get(account_id)
                    if account is not None:
                        written.append(account)
                        self._write(account)
        except Exception:
            self._failed(written)
            raise

    def _failed(self, accounts: list[Account]) -> None:
        """The transaction was rolled back (a full disk, say): what these accounts hold is
        written whole at the next commit, which retries it."""
        for account in accounts:
            self._heads.pop(account.account_id, None)
            self._written.pop(account.account_id, None)
            account.changes.everything()
            self._dirty.setdefault(account.account_id, None)

    def forget(self, account_id: str) -> None:
        self._accounts.pop(account_id, None)
        self._dirty.pop(account_id, None)
        self._heads.pop(account_id, None)
        self._written.pop(account_id, None)
        with self._transaction():
            self._db.execute("DELETE FROM accounts WHERE account_id=?", (account_id,))
            for table in LISTS:
                self._db.execute(f"DELETE FROM {table} WHERE account_id=?", (account_id,))  # noqa: S608

    def close(self, *, write: bool = True) -> None:
        try:
            if write:
                self.commit_dirty()
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()
            self._lock.close()

    def _write(self, account: Account) -> None:
        """Write what changed in `account` (inside a transaction)."""
        db, changes, account_id = self._db, account.changes, account.account_id
        self._dirty.pop(account_id, None)
        document = export_head(account, self._library(), lists=False)
        document["settings"]["clock"] = None  # `internal` keeps the clock, by its anchors
        head, internal = dumps(document), dumps(internal_of(account))
        if self._heads.get(account_id) != hash(head + internal) or changes.all:
            db.execute(
                "INSERT INTO accounts(account_id, fixture, head, internal, written_at) "
                "VALUES(?, ?, ?, ?, ?) ON CONFLICT(account_id) DO UPDATE SET "
                "head=excluded.head, internal=excluded.internal, written_at=excluded.written_at",
                (account_id, account.fixture, head, internal, self._wall()),
            )
            self._heads[account_id] = hash(head + internal)
        if changes.all:
            for table in LISTS:
                db.execute(f"DELETE FROM {table} WHERE account_id=?", (account_id,))  # noqa: S608
            self._written[account_id] = (0, 0)
            job_ids: Any = [job.job_id for job in account.jobs]
            delivery_ids: Any = [d.delivery_id for d in account.deliveries.all()]
        else:
            job_ids, delivery_ids = changes.jobs, changes.deliveries
            for job_id in changes.dropped_jobs:
                db.execute("DELETE FROM jobs WHERE account_id=? AND job_id=?", (account_id, job_id))
            for delivery_id in changes.dropped_deliveries:
                db.execute(
                    "DELETE FROM deliveries WHERE account_id=? AND delivery_id=?",
                    (account_id, delivery_id),
                )
        for job_id in job_ids:
            job = account.jobs.find(job_id)
            if job is None:
                db.execute("DELETE FROM jobs WHERE account_id=? AND job_id=?", (account_id, job_id))
                continue
            db.execute(
                "INSERT INTO jobs(account_id, job_id, seq, entry, timeline) VALUES(?, ?, ?, ?, ?) "
                "ON CONFLICT(account_id, job_id) DO UPDATE SET entry=excluded.entry, "
                "timeline=excluded.timeline",
                (account_id, job_id, job.seq, to_json(job.row()), job.timeline_data),
            )
        for delivery_id in delivery_ids:
            delivery = account.deliveries.get(delivery_id)
            if delivery is None:
                continue
            db.execute(
                "INSERT INTO deliveries(account_id, delivery_id, seq, entry) VALUES(?, ?, ?, ?) "
                "ON CONFLICT(account_id, delivery_id) DO UPDATE SET entry=excluded.entry",
                (account_id, delivery_id, delivery.seq, dumps(delivery_entry(delivery))),
            )
        self._write_logs(account)
        changes.clear()

    def _write_logs(self, account: Account) -> None:
        """The journal entries and key events added since the last write; those the bounds
        let go since, deleted (each numbered by its place among all ever added)."""
        db, account_id = self._db, account.account_id
        journal, audit = account.journal, account.audit
        written_journal, written_audit = self._written.get(account_id, (0, 0))
        if journal.added < written_journal or audit.seq < written_audit:  # cleared since
            db.execute("DELETE FROM journal WHERE account_id=?", (account_id,))
            db.execute("DELETE FROM audit WHERE account_id=?", (account_id,))
            written_journal = written_audit = 0
        new = min(journal.added - written_journal, len(journal))
        first = journal.added - len(journal)  # entries numbered up to here are gone
        for offset in range(len(journal) - new, len(journal)):
            db.execute(
                "INSERT OR REPLACE INTO journal(account_id, n, entry) VALUES(?, ?, ?)",
                (account_id, first + offset + 1, dumps(journal_entry(journal[offset]))),
            )
        if new:
            db.execute("DELETE FROM journal WHERE account_id=? AND n<=?", (account_id, first))
        records = audit.items
        new = min(audit.seq - written_audit, len(records))
        first = audit.seq - len(records)
        for offset in range(len(records) - new, len(records)):
            db.execute(
                "INSERT OR REPLACE INTO audit(account_id, n, entry) VALUES(?, ?, ?)",
                (account_id, first + offset + 1, dumps(audit_entry(records[offset]))),
            )
        if new:
            db.execute("DELETE FROM audit WHERE account_id=? AND n<=?", (account_id, first))
        self._written[account_id] = (journal.added, audit.seq)


def _take_lock(path: Path) -> IO[str]:
    """Hold `path` locked while the server runs (the OS lets go when the process dies, even
    by `kill -9`); a second server finds it held and is told by whom."""
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DataDirectoryError(
            f"{path.parent} is in use by another aiprod-sandbox ({holder}): stop it, or give "
            "this one another --data-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.ctime()}\n")
    handle.flush()
    return handle
