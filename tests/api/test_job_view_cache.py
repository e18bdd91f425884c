"""`GET /pipeline/{id}` keeps the body of an ended job's view and serves it again: the body
must be exactly what a fresh view says, change with the result link (its second, its host),
never outlive the job it was made for, and stay within its bound."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from aiprod_sandbox.api.context import VIEWS_KEPT
from aiprod_sandbox.api.middleware import RequestContextMiddleware
from tests.conftest import START, auth, new_key

JOB = {"video_url": "https://e.com/a.mp4"}


def _caches(app: Any) -> Any:
    layer = app.middleware_stack
    while not isinstance(layer, RequestContextMiddleware):
        layer = layer.app
    return layer.caches


def test_a_kept_view_is_the_fresh_one_and_follows_the_link() -> None:
    app = create_app(Settings(seed=7, clock="manual", start_time=START))
    h = auth(new_key())
    with TestClient(app) as client:
        job_id = client.post("/pipeline/run", json=JOB, headers=h).json()["job_id"]
        first = client.get(f"/pipeline/{job_id}", headers=h)
        assert first.json()["status"] == "COMPLETED"
        assert client.get(f"/pipeline/{job_id}", headers=h).content == first.content
        assert len(_caches(app).views) == 1
        # Another host: the result link names it.
        other = client.get(f"/pipeline/{job_id}", headers={**h, "Host": "sandbox.test:9"})
        assert other.json()["result"]["video_url"].startswith("http://sandbox.test:9/")
        # A second later the link expires a second later: a new token, as a fresh view has.
        client.post("/_sandbox/clock/advance", json={"seconds": 1}, headers=h)
        later = client.get(f"/pipeline/{job_id}", headers=h)
        assert later.json()["result"]["video_url"] != first.json()["result"]["video_url"]
        _caches(app).views.clear()
        assert client.get(f"/pipeline/{job_id}", headers=h).content == later.content


def test_an_imported_job_of_the_same_id_is_never_served_the_old_view() -> None:
    app = create_app(Settings(seed=7, clock="manual", start_time=START))
    h = auth(new_key())
    with TestClient(app) as client:
        job_id = client.post("/pipeline/run", json=JOB, headers=h).json()["job_id"]
        assert client.get(f"/pipeline/{job_id}", headers=h).json()["metadata"] == {}
        document = client.get("/_sandbox/state", headers=h).json()
        document["jobs"][0]["metadata"] = {"imported": "yes"}
        assert client.put("/_sandbox/state", json=document, headers=h).status_code == 200
        again = client.get(f"/pipeline/{job_id}", headers=h).json()
        assert again["metadata"] == {"imported": "yes"}


def test_the_kept_views_are_bounded() -> None:
    app = create_app(Settings(seed=7, clock="manual", start_time=START, job_timing="instant"))
    h = auth(new_key("enterprise"))
    with TestClient(app) as client:
        jobs = [
            client.post("/pipeline/run", json=JOB, headers=h).json()["job_id"]
            for _ in range(VIEWS_KEPT + 10)
        ]
        for job_id in jobs:
            assert client.get(f"/pipeline/{job_id}", headers=h).status_code == 200
        assert len(_caches(app).views) == VIEWS_KEPT
