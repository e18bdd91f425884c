"""State export/import and fixture-preloaded worlds: a partner can seed a known world."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import ConfigError, Settings, create_app
from aiprod_sandbox.webhook_http.signing import verify
from tests.conftest import START, auth, new_key
from tests.support.receivers import Running

WORLD = """\
accounts:
  - account_id: acct_known_world
    tier: free
    keys:
      - {key: sk_test_known_world_key_0001, name: World key}
    jobs:
      - job_id: job_done
        status: COMPLETED
        input: {video_url: "https://example.com/done.mp4", preset: brand_campaign}
        metadata: {customer_id: cust_1}
        created_at: "2026-05-01T10:00:00Z"
      - job_id: job_broken
        status: FAILED
        input: {video_url: "https://example.com/broken.mp4"}
        error: {code: DOWNLOAD_FAILED, message: "404 from origin"}
        created_at: "2026-05-01T11:00:00Z"
      - job_id: job_waiting
        status: PENDING
        input: {video_url: "https://example.com/stay_pending.mp4"}
        created_at: "2026-05-01T12:00:00Z"
      - job_id: job_running
        status: PROCESSING
        progress: 30
        input: {video_url: "https://example.com/slow.mp4"}
        created_at: "2026-05-01T12:30:00Z"
"""


@pytest.fixture
def world(tmp_path: Path) -> Path:
    (tmp_path / "accounts.yaml").write_text(WORLD)
    return tmp_path


def test_fixture_accounts_start_with_jobs_in_every_state(world: Path) -> None:
    settings = Settings(fixtures=world, clock="manual", start_time=START, strict_keys=True)
    headers = auth("sk_test_known_world_key_0001")
    with TestClient(create_app(settings)) as client:
        listed = client.get("/jobs?sort=created_at", headers=headers).json()["items"]
        assert [(j["job_id"], j["status"]) for j in listed] == [
            ("job_done", "COMPLETED"),
            ("job_broken", "FAILED"),
            ("job_waiting", "PENDING"),
            ("job_running", "PROCESSING"),
        ]
        done = client.get("/jobs/job_done", headers=headers).json()
        assert done["result"]["video_url"].startswith("http://testserver/_sandbox/files/")
        assert done["metadata"] == {"customer_id": "cust_1"}
        assert listed[1]["error"]["code"] == "DOWNLOAD_FAILED"
        assert client.delete("/jobs/job_waiting", headers=headers).json()["status"] == "CANCELLED"
        running = client.get("/jobs/job_running", headers=headers).json()
        assert running["progress"] == 30
        client.post("/_sandbox/clock/advance", json={"seconds": 3600}, headers=headers)
        assert client.get("/jobs/job_running", headers=headers).json()["status"] == "COMPLETED"


def test_a_bad_preloaded_job_stops_the_server_with_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(WORLD.replace("status: FAILED", "status: BROKEN"))
    with pytest.raises(ConfigError, match=r"accounts.yaml:13: accounts\[0\]\.jobs\[1\]\.status: "):
        create_app(Settings(fixtures=tmp_path))


def test_export_then_import_recreates_the_world_in_another_account(client: TestClient) -> None:
    source, target = auth(new_key()), auth(new_key())
    client.post("/_sandbox/timing", json={"job_timing": "simulated"}, headers=source)
    running = client.post(
        "/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=source
    ).json()["job_id"]
    client.post("/_sandbox/timing", json={"job_timing": "instant"}, headers=source)
    done = client.post(
        "/pipeline/run",
        json={"video_url": "https://e.com/b.mp4", "metadata": {"k": "v"}},
        headers=source,
    ).json()
    state = client.get("/_sandbox/state", headers=source).json()
    assert [job["job_id"] for job in state["jobs"]] == [running, done["job_id"]]
    # A key belongs to one account: the source's keys cannot be copied, and nothing changes.
    refused = client.put("/_sandbox/state", json=state, headers=target)
    assert refused.status_code == 400
    assert "another account" in refused.json()["error"]["details"]["keys[0].key"]
    assert client.get("/jobs", headers=target).json()["pagination"]["total"] == 0
    del state["keys"]  # leave them out: the target keeps its own
    imported = client.put("/_sandbox/state", json=state, headers=target)
    assert imported.status_code == 200
    assert imported.json()["imported_jobs"] == 2
    assert imported.json()["imported_keys"] is None
    for job_id in (running, done["job_id"]):
        mine = client.get(f"/jobs/{job_id}", headers=source).json()
        theirs = client.get(f"/jobs/{job_id}", headers=target).json()
        mine["result"] = theirs["result"] = None  # links name their own account
        assert mine == theirs


def test_import_can_set_clock_timing_and_presets(
    client: TestClient, headers: dict[str, str]
) -> None:
    document = {
        "settings": {
            "job_timing": "simulated",
            "clock": {"mode": "manual", "now": "2030-01-01T00:00:00Z"},
        },
        "presets": [
            {
                "id": "house_style",
                "name": "House",
                "description": "Ours",
                "music_style": "jazz",
                "resolution": "1280x720",
                "base_duration_seconds": 30,
                "cost_per_minute": 1.0,
                "created_at": "2029-12-01T00:00:00Z",
            }
        ],
        "jobs": [],
    }
    assert client.put("/_sandbox/state", json=document, headers=headers).status_code == 200
    assert client.get("/_sandbox/clock", headers=headers).json()["now"] == "2030-01-01T00:00:00Z"
    presets = client.get("/presets", headers=headers).json()["items"]
    assert [p["id"] for p in presets] == ["house_style"]
    accepted = client.post(
        "/pipeline/run",
        headers=headers,
        json={"video_url": "https://e.com/a.mp4", "preset": "house_style"},
    )
    assert accepted.status_code == 202
    refused = client.post(
        "/pipeline/run",
        headers=headers,
        json={"video_url": "https://e.com/a.mp4", "preset": "brand_campaign"},
    )
    assert refused.json()["error"]["details"]["preset"].startswith("Unknown preset")


def test_import_rejects_a_bad_document_with_every_field(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.put(
        "/_sandbox/state",
        headers=headers,
        json={"jobs": [{"status": "DONE", "input": {}}], "surprise": 1},
    )
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert {"jobs[0].status", "jobs[0].input.video_url", "surprise"} <= set(details)


def _whole_world(client: TestClient, key: str, receiver_url: str) -> dict[str, Any]:
    """An account with something of everything, exported: a webhook, a callback job, a
    rotated and a read-only key, a scenario, its own presets and settings, jobs ended and not."""
    headers = auth(key)
    hook = client.post(
        "/webhooks/register",
        json={"url": receiver_url, "events": ["job.completed"]},
        headers=headers,
    ).json()
    client.post("/webhooks/register", json=WEBHOOK_OFF, headers=headers)
    old = client.post("/keys", json={"name": "old"}, headers=headers).json()
    client.delete(f"/keys/{old['key_id']}", headers=headers)
    client.post("/keys", json={"name": "reports", "scopes": ["jobs:read"]}, headers=headers)
    client.post("/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=headers)
    client.post(
        "/pipeline/run", json={"video_url": "https://e.com/stay_pending.mp4"}, headers=headers
    )
    # The clock stands still, and waits for the attempts due now: the delivery is settled
    # before the export, so the document owes the receiver nothing.
    client.post("/_sandbox/clock/advance", json={"seconds": 0}, headers=headers)
    client.post("/_sandbox/timing", json={"job_timing": "simulated"}, headers=headers)
    client.put("/_sandbox/scenario", json={"name": "rate-limit-storm"}, headers=headers)
    state: dict[str, Any] = client.get("/_sandbox/state", headers=headers).json()
    assert state["webhooks"][0]["secret"] == hook["secret"]
    assert [d["status"] for d in state["deliveries"]["items"]] == ["delivered"]
    return state


WEBHOOK_OFF = {"url": "https://hooks.example.com/off", "events": ["job.failed"], "active": False}


def test_a_whole_account_round_trips_into_a_fresh_server(receiver: Running) -> None:
    settings = Settings(seed=7, clock="manual", start_time=START)
    key = new_key()
    with TestClient(create_app(settings)) as first:
        state = _whole_world(first, key, receiver.url)
    assert [k["name"] for k in state["keys"]] == ["Default key", "old", "reports"]
    assert state["keys"][1]["revoked_at"] is not None
    assert state["keys"][2]["scopes"] == ["jobs:read"]
    assert state["settings"]["scenario"] == {"name": "rate-limit-storm", "scenario": None}
    assert state["settings"]["job_timing"] == "simulated"
    assert state["settings"]["callback_secret"].startswith("whsec_")
    assert [w["active"] for w in state["webhooks"]] == [True, False]
    with TestClient(create_app(settings)) as second:
        # The same seed and key open the same account id; the import makes it whole again.
        done = second.put("/_sandbox/state", json=state, headers=auth(key))
        assert done.status_code == 200, done.text
        assert (done.json()["imported_webhooks"], done.json()["imported_keys"]) == (2, 3)
        assert second.get("/_sandbox/state", headers=auth(key)).json() == state
        rotated = auth(state["keys"][1]["key"])
        assert second.get("/jobs", headers=rotated).json()["error"]["code"] == "KEY_REVOKED"
        reports = auth(state["keys"][2]["key"])
        assert second.get("/jobs", headers=reports).status_code == 429  # the scenario came too
        second.delete("/_sandbox/scenario", headers=auth(key))
        assert second.get("/jobs", headers=reports).status_code == 200
        written = second.post(
            "/pipeline/run", json={"video_url": "https://e.com/b.mp4"}, headers=reports
        )
        assert written.json()["error"]["code"] == "INSUFFICIENT_SCOPE"


def test_an_imported_webhook_signs_with_its_own_secret(
    client: TestClient, headers: dict[str, str], receiver: Running
) -> None:
    secret = "whsec_" + "s" * 32
    document = {
        "webhooks": [
            {
                "webhook_id": "wh_imported",
                "url": receiver.url,
                "events": ["job.completed"],
                "secret": secret,
            }
        ]
    }
    assert client.put("/_sandbox/state", json=document, headers=headers).status_code == 200
    client.post("/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=headers)
    assert receiver.receiver.wait_until(lambda got: len(got) == 1, timeout=10)
    delivery = receiver.receiver.received[0]
    assert delivery.json()["webhook_id"] == "wh_imported"
    assert verify(secret, delivery.body, delivery.headers["x-aiprod-signature"])


def test_an_import_keeps_the_callers_key_and_drops_the_others(
    client: TestClient, headers: dict[str, str], key: str
) -> None:
    other = client.post("/keys", json={"name": "other"}, headers=headers).json()["key"]
    imported_key = "sk_test_imported_key_" + "0" * 16
    document = {"keys": [{"name": "imported", "key": imported_key, "scopes": ["jobs:read"]}]}
    done = client.put("/_sandbox/state", json=document, headers=headers)
    assert done.status_code == 200, done.text
    state = client.get("/_sandbox/state", headers=headers).json()
    names = {k["name"]: k for k in state["keys"]}
    assert set(names) == {"Default key", "imported"}
    assert names["Default key"]["key"] == key  # the caller is never locked out
    assert client.get("/jobs", headers=auth(imported_key)).status_code == 200
    # The dropped key is no longer this account's: it opens an account of its own.
    assert (
        client.get("/_sandbox/account", headers=auth(other)).json()["account_id"]
        != (client.get("/_sandbox/account", headers=headers).json()["account_id"])
    )


def test_an_import_refuses_repeats_and_unknown_scenarios_naming_each_field(
    client: TestClient, headers: dict[str, str]
) -> None:
    client.post("/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=headers)
    hook = {"webhook_id": "wh_1", "url": "https://e.com/h", "events": ["job.failed"]}
    key = {"key_id": "key_1", "name": "k", "key": "sk_test_" + "k" * 20}
    job = {"job_id": "job_1", "input": {"video_url": "https://e.com/a.mp4"}}
    document = {
        "webhooks": [hook, hook],
        "keys": [key, key],
        "jobs": [job, job],
        "settings": {"scenario": {"name": "no-such-scenario"}},
    }
    refused = client.put("/_sandbox/state", json=document, headers=headers)
    assert refused.status_code == 400
    assert set(refused.json()["error"]["details"]) == {
        "webhooks[1].webhook_id",
        "keys[1].key_id",
        "keys[1].key",
        "jobs[1].job_id",
        "settings.scenario.name",
    }
    assert client.get("/jobs", headers=headers).json()["pagination"]["total"] == 1  # untouched


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "ftp://e.com/h"),
        ("events", ["job.finished"]),
        ("events", []),
        ("secret", "not-a-secret"),
    ],
)
def test_an_imported_webhook_meets_the_apis_rules(
    client: TestClient, headers: dict[str, str], field: str, value: Any
) -> None:
    hook: dict[str, Any] = {"url": "https://e.com/h", "events": ["job.failed"], field: value}
    refused = client.put("/_sandbox/state", json={"webhooks": [hook]}, headers=headers)
    assert refused.status_code == 400
    assert f"webhooks[0].{field}" in refused.json()["error"]["details"]


def test_an_import_never_moves_the_clock_back(client: TestClient, headers: dict[str, str]) -> None:
    forward = {"settings": {"clock": {"mode": "manual", "now": "2031-01-01T00:00:00Z"}}}
    assert client.put("/_sandbox/state", json=forward, headers=headers).status_code == 200
    back = {"settings": {"clock": {"mode": "manual", "now": "2029-01-01T00:00:00Z"}}}
    assert client.put("/_sandbox/state", json=back, headers=headers).status_code == 200
    assert client.get("/_sandbox/clock", headers=headers).json()["now"] == "2031-01-01T00:00:00Z"


def test_settings_under_a_scenario_export_as_the_account_set_them(
    client: TestClient, headers: dict[str, str]
) -> None:
    inline = {"name": "manual-clock", "description": "a manual clock", "clock": "manual"}
    client.put("/_sandbox/scenario", json={"scenario": inline}, headers=headers)
    assert client.get("/_sandbox/clock", headers=headers).json()["mode"] == "manual"
    state = client.get("/_sandbox/state", headers=headers).json()
    assert state["settings"]["clock"]["mode"] == "real"  # the account's own, beneath it
    assert state["settings"]["scenario"]["scenario"]["name"] == "manual-clock"
    other = auth(new_key())
    del state["keys"]
    assert client.put("/_sandbox/state", json=state, headers=other).status_code == 200
    assert client.get("/_sandbox/clock", headers=other).json()["mode"] == "manual"
    client.delete("/_sandbox/scenario", headers=other)
    assert client.get("/_sandbox/clock", headers=other).json()["mode"] == "real"


SEEDED = """\
accounts:
  - account_id: acct_seeded
    keys:
      - {key: sk_test_seeded_key_000000001, name: Main}
      - key: sk_test_seeded_key_000000002
        name: Old
        key_id: key_old
        created_at: "2026-01-01T00:00:00Z"
        revoked_at: "2026-02-01T00:00:00Z"
    webhooks:
      - webhook_id: wh_seeded
        url: {url}
        events: [job.completed]
        secret: whsec_seededseededseeded01
"""


def test_fixture_accounts_start_with_their_webhooks_and_keys(
    tmp_path: Path, receiver: Running
) -> None:
    (tmp_path / "accounts.yaml").write_text(SEEDED.replace("{url}", receiver.url))
    settings = Settings(fixtures=tmp_path, clock="manual", start_time=START, strict_keys=True)
    headers = auth("sk_test_seeded_key_000000001")
    with TestClient(create_app(settings)) as client:
        hooks = client.get("/webhooks", headers=headers).json()["items"]
        assert [(h["webhook_id"], h["events"]) for h in hooks] == [("wh_seeded", ["job.completed"])]
        keys = {k["key_id"]: k for k in client.get("/keys", headers=headers).json()["items"]}
        assert keys["key_old"]["revoked_at"] == "2026-02-01T00:00:00Z"
        old = client.get("/jobs", headers=auth("sk_test_seeded_key_000000002"))
        assert old.json()["error"]["code"] == "KEY_REVOKED"
        client.post("/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=headers)
        assert receiver.receiver.wait_until(lambda got: len(got) == 1, timeout=10)
        delivery = receiver.receiver.received[0]
        signature = delivery.headers["x-aiprod-signature"]
        assert verify("whsec_seededseededseeded01", delivery.body, signature)


@pytest.mark.parametrize(
    ("wrong", "right", "problem"),
    [
        (
            "{url}",
            "ftp://hooks.example.com/in",
            "accounts.yaml:12: accounts[0].webhooks[0].url: Must be an absolute http(s) URL",
        ),
        (
            '"2026-02-01T00:00:00Z"',
            "last tuesday",
            "accounts.yaml:9: accounts[0].keys[1].revoked_at: "
            "Must be an ISO 8601 time with an offset or Z",
        ),
    ],
    ids=["webhook-url", "key-time"],
)
def test_a_bad_fixture_webhook_or_key_stops_the_server_at_its_line(
    tmp_path: Path, wrong: str, right: str, problem: str
) -> None:
    text = SEEDED.replace(wrong, right).replace("{url}", "https://hooks.example.com/in")
    (tmp_path / "accounts.yaml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        create_app(Settings(fixtures=tmp_path))
    assert [p.removeprefix(f"{tmp_path}/") for p in str(raised.value).splitlines()] == [problem]


def test_ids_made_after_an_import_into_a_fresh_server_are_new() -> None:
    """A fresh server's account draws from the start of its id sequence again: what it makes
    after an import must not take the id of something the document brought."""
    settings = Settings(seed=7, clock="manual", start_time=START)
    key = new_key()
    with TestClient(create_app(settings)) as first:
        made = [
            first.post(
                "/pipeline/run", json={"video_url": f"https://e.com/{n}.mp4"}, headers=auth(key)
            )
            for n in range(3)
        ]
        state = first.get("/_sandbox/state", headers=auth(key)).json()
    with TestClient(create_app(settings)) as second:
        assert second.put("/_sandbox/state", json=state, headers=auth(key)).status_code == 200
        again = [
            second.post(
                "/pipeline/run", json={"video_url": f"https://e.com/{n}.mp4"}, headers=auth(key)
            )
            for n in range(3)
        ]
        listed = second.get("/jobs?limit=100", headers=auth(key)).json()
    old = {answer.json()["job_id"] for answer in made}
    new = {answer.json()["job_id"] for answer in again}
    assert not old & new
    assert listed["pagination"]["total"] == 6


def test_an_account_with_more_jobs_than_one_import_takes_still_exports(
    client: TestClient, headers: dict[str, str]
) -> None:
    document = {"jobs": [{"input": {"video_url": "https://e.com/a.mp4"}} for _ in range(10_000)]}
    assert client.put("/_sandbox/state", json=document, headers=headers).status_code == 200
    for _ in range(3):
        client.post("/pipeline/run", json={"video_url": "https://e.com/b.mp4"}, headers=headers)
    exported = client.get("/_sandbox/state", headers=headers)
    assert exported.status_code == 200
    jobs = exported.json()["jobs"]
    assert len(jobs) == 10_003
    assert len({job["job_id"] for job in jobs}) == 10_003


def _busy_world(client: TestClient, key: str, hook_url: str) -> None:
    """Everything a restart must bring back: a delivery between two attempts, a job still
    processing, a scenario's rules part-counted, usage, the keys' audit trail, the journal."""
    headers = auth(key)
    client.post(
        "/webhooks/register", json={"url": hook_url, "events": ["job.completed"]}, headers=headers
    )
    client.post("/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=headers)
    client.post("/_sandbox/clock/advance", json={"seconds": 0.5}, headers=headers)
    client.post("/_sandbox/timing", json={"job_timing": "simulated"}, headers=headers)
    client.post("/pipeline/run", json={"video_url": "https://e.com/b.mp4"}, headers=headers)
    client.post("/_sandbox/clock/advance", json={"seconds": 20}, headers=headers)
    spare = client.post("/keys", json={"name": "spare"}, headers=headers).json()
    client.delete(f"/keys/{spare['key_id']}", headers=headers)
    assert client.put(
        "/_sandbox/scenario", json={"name": "intermittent-500s"}, headers=headers
    ).is_success
    statuses = [client.get("/jobs?limit=1", headers=headers).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_export_import_export_is_byte_for_byte_the_same(receivers: Any) -> None:
    failing = receivers.plain(500, 500, 500, default=200)
    settings = Settings(seed=7, clock="manual", start_time=START)
    key = new_key()
    with TestClient(create_app(settings)) as first:
        _busy_world(first, key, failing.url)
        exported = first.get("/_sandbox/state", headers=auth(key)).content
    document = json.loads(exported)
    assert document["version"] == 2
    deliveries = document["deliveries"]["items"]
    assert [(d["status"], len(d["attempts"])) for d in deliveries] == [("pending", 3)]
    assert deliveries[0]["next_attempt_at"] is not None
    statuses = {job["status"] for job in document["jobs"]}
    assert statuses == {"COMPLETED", "PROCESSING"}
    assert len(document["journal"]["entries"]) == 8
    assert {r["event"] for r in document["audit"]["records"]} >= {"key.created", "key.revoked"}
    assert document["usage"]["today"] == 8
    rules = document["scenario_progress"]["rules"]
    assert [(r["matched"], r["fired"]) for r in rules] == [(3, 2)]
    with TestClient(create_app(settings)) as second:
        done = second.put("/_sandbox/state", content=exported, headers=auth(key))
        assert done.status_code == 200, done.text
        assert second.get("/_sandbox/state", headers=auth(key)).content == exported
        # The scenario's rule carries on counting: its first two calls are long gone.
        assert second.get("/jobs?limit=1", headers=auth(key)).status_code == 200
        # The retry still due comes at its time, with the bytes first signed.
        second.post("/_sandbox/clock/advance", json={"seconds": 3600}, headers=auth(key))
        first_id = deliveries[0]["delivery_id"]

        def mine(got: list[Any]) -> list[Any]:
            return [item for item in got if item.delivery_id == first_id]

        assert failing.receiver.wait_until(lambda got: len(mine(got)) == 4, timeout=10)
        got = mine(failing.receiver.received)
        assert [item.attempt for item in got] == [1, 2, 3, 4]
        assert got[3].body == got[0].body
