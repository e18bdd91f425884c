"""`--data-dir`: every account kept in SQLite and brought back by the next server on the same
directory, with its pending work; one server a directory; schemas migrated or refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import ConfigError, Settings, create_app
from aiprod_sandbox.store.schema import SCHEMA, SCHEMA_1
from aiprod_sandbox.store.sqlite import SqliteStore
from tests.conftest import START, auth, new_key


class Wall:
    """A wall clock the test moves: the time a server is down, without waiting for it."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def _settings(data_dir: Path, **more: Any) -> Settings:
    return Settings(seed=7, clock="manual", start_time=START, data_dir=data_dir, **more)


def _export(client: TestClient, key: str) -> bytes:
    response = client.get("/_sandbox/state", headers=auth(key))
    assert response.status_code == 200, response.text
    return response.content


def _everything(client: TestClient, key: str, hook_url: str) -> dict[str, str]:
    """Jobs in each state, webhooks, a revoked and a rotated key, a delivery between two
    attempts, a scenario, its own timing; returns the ids to look for."""
    h = auth(key)
    made: dict[str, str] = {}
    hook = client.post(
        "/webhooks/register", json={"url": hook_url, "events": ["job.completed"]}, headers=h
    ).json()
    made["webhook"] = hook["webhook_id"]
    made["completed"] = client.post(
        "/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=h
    ).json()["job_id"]
    made["failed"] = client.post(
        "/pipeline/run", json={"video_url": "https://e.com/fail_voice_synthesis.mp4"}, headers=h
    ).json()["job_id"]
    made["pending"] = client.post(
        "/pipeline/run", json={"video_url": "https://e.com/stay_pending.mp4"}, headers=h
    ).json()["job_id"]
    cancelled = client.post(
        "/pipeline/run", json={"video_url": "https://e.com/stay_pending.mp4"}, headers=h
    ).json()["job_id"]
    assert client.delete(f"/jobs/{cancelled}", headers=h).is_success
    made["cancelled"] = cancelled
    client.post("/_sandbox/clock/advance", json={"seconds": 0.5}, headers=h)
    client.post("/_sandbox/timing", json={"job_timing": "simulated"}, headers=h)
    made["processing"] = client.post(
        "/pipeline/run", json={"video_url": "https://e.com/b.mp4"}, headers=h
    ).json()["job_id"]
    client.post("/_sandbox/clock/advance", json={"seconds": 20}, headers=h)
    old = client.post("/keys", json={"name": "old"}, headers=h).json()
    made["rotated"] = client.post("/keys", json={"name": "new"}, headers=h).json()["key"]
    client.delete(f"/keys/{old['key_id']}", headers=h)  # rotated: a new key, the old revoked
    spare = client.post("/keys", json={"name": "spare"}, headers=h).json()
    client.delete(f"/keys/{spare['key_id']}", headers=h)
    made["revoked"] = spare["key"]
    put = client.put("/_sandbox/scenario", json={"name": "intermittent-500s"}, headers=h)
    assert put.is_success
    assert [client.get("/jobs", headers=h).status_code for _ in range(3)] == [500, 500, 200]
    return made


def test_a_restart_brings_back_every_account_byte_for_byte(
    tmp_path: Path, receivers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    failing = receivers.plain(500, 500, 500, default=200)
    key, other = new_key(), new_key("free")
    with TestClient(create_app(_settings(tmp_path))) as first:
        made = _everything(first, key, failing.url)
        first.post("/pipeline/run", json={"video_url": "https://e.com/o.mp4"}, headers=auth(other))
        before, before_other = _export(first, key), _export(first, other)
    # Stopping says what becomes of the retry still owed: it is kept, not dropped.
    assert "1 deliveries left pending (kept: their attempts resume when the server starts" in (
        caplog.text
    )
    document = json.loads(before)
    statuses = {job["job_id"]: job["status"] for job in document["jobs"]}
    assert [statuses[made[s]] for s in ("completed", "failed", "pending", "cancelled")] == [
        "COMPLETED",
        "FAILED",
        "PENDING",
        "CANCELLED",
    ]
    assert statuses[made["processing"]] == "PROCESSING"
    [delivery] = [d for d in document["deliveries"]["items"] if d["status"] == "pending"]
    with TestClient(create_app(_settings(tmp_path))) as second:
        assert _export(second, key) == before
        assert _export(second, other) == before_other
        h = auth(key)
        assert second.get("/jobs", headers=auth(made["revoked"])).status_code == 401
        assert second.get("/jobs", headers=auth(made["rotated"])).status_code == 200
        assert second.get("/jobs", headers=h).status_code == 200  # the scenario counted on
        # The retry still due comes at its time on the clock, with the bytes first signed.
        second.post("/_sandbox/clock/advance", json={"seconds": 3600}, headers=h)
        assert failing.receiver.wait_until(
            lambda got: sum(i.delivery_id == delivery["delivery_id"] for i in got) == 4, 10
        )
        got = [i for i in failing.receiver.received if i.delivery_id == delivery["delivery_id"]]
        assert [item.attempt for item in got] == [1, 2, 3, 4]
        assert got[3].body == got[0].body
        after = second.get(f"/_sandbox/deliveries/{delivery['delivery_id']}", headers=h).json()
        assert after["status"] == "delivered"
        due = delivery["next_attempt_at"]
        assert after["attempts"][-1]["scheduled_at"][:19] == due[:19]


def test_work_that_fell_due_while_down_runs_at_once(tmp_path: Path, receivers: Any) -> None:
    """A real clock has moved on while the server was down: a job's steps and a webhook
    retry that fell due in between run as soon as it is back, in time order."""
    failing = receivers.plain(500, default=200)
    wall = Wall(START)
    settings = Settings(seed=7, data_dir=tmp_path, job_timing="simulated")
    key = new_key()
    h = auth(key)
    with TestClient(create_app(settings, wall=wall)) as first:
        first.post(
            "/webhooks/register",
            json={"url": failing.url, "events": ["job.started"]},
            headers=h,
        )
        job = first.post("/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=h)
        job_id = job.json()["job_id"]
        wall.at += 30  # the queue time is over: the job starts, its first attempt fails
        assert failing.receiver.wait_until(lambda got: len(got) == 1, timeout=10)
        for _ in range(100):
            state = json.loads(_export(first, key))
            if state["deliveries"]["items"][0]["attempts"]:
                break
        assert first.get(f"/pipeline/{job_id}", headers=h).json()["status"] == "PROCESSING"
    wall.at += 24 * 3600  # down for a day
    with TestClient(create_app(settings, wall=wall)) as second:
        assert failing.receiver.wait_until(lambda got: len(got) == 2, timeout=10)
        assert second.get(f"/pipeline/{job_id}", headers=h).json()["status"] == "COMPLETED"
    assert [item.attempt for item in failing.receiver.received] == [1, 2]


def test_a_reset_account_stays_reset_and_the_other_untouched(tmp_path: Path) -> None:
    key, other = new_key(), new_key()
    with TestClient(create_app(_settings(tmp_path))) as first:
        for k in (key, other):
            first.post("/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=auth(k))
        assert first.post("/_sandbox/reset", headers=auth(key)).is_success
    with TestClient(create_app(_settings(tmp_path))) as second:
        assert second.get("/jobs", headers=auth(key)).json()["items"] == []
        assert len(second.get("/jobs", headers=auth(other)).json()["items"]) == 1


def test_a_second_server_on_the_directory_refuses_by_name(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path))):
        with pytest.raises(ConfigError, match=r"in use by another aiprod-sandbox \(pid \d+"):
            create_app(_settings(tmp_path))
    with TestClient(create_app(_settings(tmp_path))):  # the first let go when it stopped
        pass


def test_a_newer_schema_is_refused_and_an_older_one_migrated(tmp_path: Path) -> None:
    newer, older = tmp_path / "newer", tmp_path / "older"
    SqliteStore(newer).close()
    with sqlite3.connect(newer / "sandbox.db") as db:
        db.execute("UPDATE meta SET value=? WHERE name='schema'", (str(SCHEMA + 1),))
    with pytest.raises(ConfigError, match=rf"newer aiprod-sandbox \(data schema {SCHEMA + 1}"):
        create_app(_settings(newer))
    # Schema 1, with an account in it, as that version wrote it: no `written_at`, and jobs
    # as the state document's entries.
    key = new_key()
    with TestClient(create_app(_settings(tmp_path / "today"))) as first:
        for _ in range(3):
            first.post(
                "/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=auth(key)
            )
        before = _export(first, key)
    older.mkdir()
    with (
        sqlite3.connect(tmp_path / "today" / "sandbox.db") as today,
        sqlite3.connect(older / "sandbox.db") as db,
    ):
        db.executescript(SCHEMA_1)
        db.execute("INSERT INTO meta VALUES('schema', '1')")
        for row in today.execute("SELECT account_id, fixture, head, internal FROM accounts"):
            db.execute("INSERT INTO accounts VALUES(?, ?, ?, ?)", row)
        for table in ("deliveries", "journal", "audit"):  # the same in both schemas
            for row in today.execute(f"SELECT * FROM {table}"):  # noqa: S608
                marks = ", ".join("?" * len(row))
                db.execute(f"INSERT INTO {table} VALUES({marks})", row)  # noqa: S608
        account_id = json.loads(before)["account_id"]
        for seq, job in enumerate(json.loads(before)["jobs"], start=1):
            db.execute(
                "INSERT INTO jobs VALUES(?, ?, ?, ?)",
                (account_id, job["job_id"], seq, json.dumps(job)),
            )
        secret = today.execute("SELECT value FROM meta WHERE name='secret:links'").fetchone()
        db.execute("INSERT INTO meta VALUES('secret:links', ?)", secret)
    with TestClient(create_app(_settings(older))) as second:
        assert _export(second, key) == before
    with sqlite3.connect(older / "sandbox.db") as db:
        assert db.execute("SELECT value FROM meta WHERE name='schema'").fetchone() == (str(SCHEMA),)
        # Written again at the first commit: compact rows, and when.
        assert db.execute("SELECT count(*) FROM jobs WHERE timeline IS NULL").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM accounts WHERE written_at > 0").fetchone()[0]


def test_a_failed_write_is_a_500_and_the_next_commit_writes_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk, once: the answer waiting on that commit is a 500 (nothing acknowledged),
    the server goes on, and the next commit writes the account whole."""
    key = new_key()
    real_write = SqliteStore._write
    failures = [sqlite3.OperationalError("database or disk is full")]

    def write_once_failing(store: SqliteStore, account: Any) -> None:
        if failures:
            raise failures.pop()
        real_write(store, account)

    with TestClient(create_app(_settings(tmp_path))) as first:
        first.get("/jobs", headers=auth(key))
        monkeypatch.setattr(SqliteStore, "_write", write_once_failing)
        failed = first.post(
            "/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=auth(key)
        )
        assert failed.status_code == 500
        assert failed.json()["error"]["type"] == "server_error"
        done = first.post(
            "/pipeline/run", json={"video_url": "https://e.com/b.mp4"}, headers=auth(key)
        )
        assert done.status_code == 202
        before = _export(first, key)
    with TestClient(create_app(_settings(tmp_path))) as second:
        assert _export(second, key) == before
        assert len(second.get("/jobs", headers=auth(key)).json()["items"]) == 2


def test_a_folder_that_cannot_be_one_is_refused_with_a_reason(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "sandbox.db").write_bytes(b"not a database, " * 100)
    with pytest.raises(ConfigError, match=r"sandbox.db: not a sandbox database"):
        create_app(_settings(garbage))
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(ConfigError, match=r"a-file: cannot be used as --data-dir"):
        create_app(_settings(a_file))
