"""The guide's quick start through the HTTP surface: submit, read, COMPLETED, download."""

from __future__ import annotations

from starlette.testclient import TestClient

GUIDE_BODY = {
    "video_url": "https://example.com/input.mp4",
    "voice_text": "Hello, this is a test",
    "voice_language": "en",
    "music_style": "orchestral",
}


def test_submit_then_read_shows_completed_with_downloadable_video(
    client: TestClient, headers: dict[str, str]
) -> None:
    accepted = client.post("/pipeline/run", json=GUIDE_BODY, headers=headers)
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["status"] == "PENDING"
    assert body["job_id"].startswith("job_")
    job = client.get(f"/pipeline/{body['job_id']}", headers=headers).json()
    assert job["status"] == "COMPLETED"
    assert job["progress"] == 100
    video = client.get(job["result"]["video_url"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
