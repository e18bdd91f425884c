"""Shared helpers of the HTTP-level tests: the error-envelope check and job submission."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import yaml
from starlette.testclient import TestClient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

GUIDE_BODY: dict[str, Any] = {
    "video_url": "https://example.com/input.mp4",
    "voice_text": "Hello, this is a test",
    "voice_language": "en",
    "music_style": "orchestral",
}

FULL_BODY: dict[str, Any] = {
    "video_url": "https://example.com/video.mp4",
    "voice_text": "Sample narration",
    "voice_language": "en",
    "music_style": "upbeat",
    "preset": "brand_campaign",
    "callback_url": "https://yourserver.com/callback",
    "metadata": {"customer_id": "cust_123", "project": "Q1_2026_Campaign"},
}

# The contract's table (section 2): status -> error type.
ERROR_TYPES = {
    400: "validation_error",
    401: "auth_error",
    403: "permission_error",
    404: "not_found_error",
    405: "validation_error",
    409: "conflict_error",
    410: "not_found_error",
    413: "validation_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable_error",
}

JOB_FIELDS = {
    "job_id",
    "status",
    "progress",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
    "estimated_duration_seconds",
    "input",
    "metadata",
    "result",
    "error",
}
INPUT_FIELDS = {
    "video_url",
    "voice_text",
    "voice_language",
    "music_style",
    "preset",
    "callback_url",
}
RESULT_FIELDS = {"video_url", "cost_estimate", "quality_score", "processing_time_seconds"}
ACCEPTED_FIELDS = {"job_id", "status", "estimated_duration_seconds", "created_at"}
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

LANGUAGE_MESSAGE = "Must be 2-letter code (e.g., 'en', 'fr')"


def assert_error(
    response: httpx.Response, status: int, code: str, *, details: bool | None = None
) -> dict[str, Any]:
    """The response is the contract's error envelope with this status and code; returns it.

    `details=True` requires a non-empty `details`, `False` requires none, `None` does not care.
    """
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"type", "message", "code", "details", "retry_after", "request_id"}
    assert error["type"] == ERROR_TYPES[status], error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["request_id"] == response.headers["x-request-id"], error
    assert error["request_id"].startswith("req_")
    if details is True:
        assert isinstance(error.get("details"), dict) and error["details"], error
        assert all(isinstance(v, str) and v for v in error["details"].values()), error
    elif details is False:
        assert not error.get("details"), error
    return dict(error)


def video(name: str = "input") -> str:
    """An input URL; magic names (fixtures/outcomes.yaml) pick a job's outcome."""
    return f"https://example.com/videos/{name}.mp4"


def submit(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    """POST /pipeline/run (video_url defaults to an ordinary input); asserts 202."""
    body = {"video_url": video(), **fields}
    response = client.post("/pipeline/run", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


def get_job(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def list_jobs(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/jobs", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def fixture_data(name: str) -> Any:
    """A shipped fixture file (the README's tables are generated from these)."""
    return yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))
