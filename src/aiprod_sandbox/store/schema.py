"""The data directory's schema: its tables, each older version as it was, the steps that
migrate one version to the next, and the transactions every write runs in.

`meta.schema` holds the version. An empty database gets today's tables; an older one is taken
step by step to today's, in one transaction; a newer one is refused (`DataDirectoryError`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import DataDirectoryError

SCHEMA = 2

# Schema 1, as it was (kept to say what MIGRATIONS starts from, and for its test).
SCHEMA_1 = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY, fixture INTEGER NOT NULL, head TEXT NOT NULL,
    internal TEXT NOT NULL);
CREATE TABLE jobs (
    account_id TEXT NOT NULL, job_id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (account_id, job_id));
CREATE TABLE deliveries (
    account_id TEXT NOT NULL, delivery_id TEXT NOT NULL, seq INTEGER NOT NULL,
    entry TEXT NOT NULL, PRIMARY KEY (account_id, delivery_id));
CREATE TABLE journal (
    account_id TEXT NOT NULL, n INTEGER NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (account_id, n));
CREATE TABLE audit (
    account_id TEXT NOT NULL, n INTEGER NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (account_id, n));
"""
# Schema 2 (today's): each account's `written_at`, and jobs as compact rows (`Job.row()`,
# exact times) with the timeline's bytes in `timeline`. A schema 1 job row (a document entry,
# its `timeline` NULL once migrated) is read as such, and written compact at the next commit.
TABLES = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY, fixture INTEGER NOT NULL, head TEXT NOT NULL,
    internal TEXT NOT NULL, written_at REAL NOT NULL DEFAULT 0);
CREATE TABLE jobs (
    account_id TEXT NOT NULL, job_id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL,
    timeline BLOB, PRIMARY KEY (account_id, job_id));
CREATE TABLE deliveries (
    account_id TEXT NOT NULL, delivery_id TEXT NOT NULL, seq INTEGER NOT NULL,
    entry TEXT NOT NULL, PRIMARY KEY (account_id, delivery_id));
CREATE TABLE journal (
    account_id TEXT NOT NULL, n INTEGER NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (account_id, n));
CREATE TABLE audit (
    account_id TEXT NOT NULL, n INTEGER NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (account_id, n));
"""
MIGRATIONS: dict[int, tuple[str, ...]] = {  # schema N to N + 1
    1: (
        "ALTER TABLE accounts ADD COLUMN written_at REAL NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN timeline BLOB",
    ),
}


def migrate(db: sqlite3.Connection, where: Path) -> None:
    """Bring `db` to `SCHEMA`: create it, or migrate it, or refuse it."""
    found = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'")
    version = 0
    if found.fetchone() is not None:
        row = db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
        version = int(row[0]) if row else 0
    if version > SCHEMA:
        raise DataDirectoryError(
            f"{where}: written by a newer aiprod-sandbox (data schema {version}; this "
            f"one reads up to {SCHEMA}): upgrade aiprod-sandbox, or use another --data-dir"
        )
    with Transaction(db):
        if version == 0:
            for statement in TABLES.split(";"):
                if statement.strip():
                    db.execute(statement)
        else:
            for step in range(version, SCHEMA):
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
        db.execute(
            "INSERT INTO meta(name, value) VALUES('schema', ?) "
            "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (str(SCHEMA),),
        )


class Transaction:
    """`BEGIN` … `COMMIT`, or `ROLLBACK` when the block raises; nested ones join the outer."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._outer = False

    def __enter__(self) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._outer = True

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if not self._outer:
            return
        self._db.execute("ROLLBACK" if error is not None else "COMMIT")
