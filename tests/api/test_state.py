"""State export/import and fixture-preloaded worlds: a partner can seed a known world."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import ConfigError, Settings, create_app
from tests.conftest import START, auth, new_key

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
    with pytest.raises(ConfigError, match=r"accounts.yaml.*acct_known_world.*status"):
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
    imported = client.put("/_sandbox/state", json=state, headers=target)
    assert imported.status_code == 200
    assert imported.json()["imported_jobs"] == 2
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
