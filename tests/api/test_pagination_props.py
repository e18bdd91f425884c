"""Property tests of `GET /jobs` pagination (guide "Pagination", contract section 5).

For any set of jobs (0-35, of mixed statuses, created at a few different times), any limit,
any sort and any status filter, walking pages 1..pages returns every matching job exactly
once, in the sort's order, and every page's block (`total`, `pages`, `has_next`,
`has_previous`) agrees with the walk; the page after the last is empty.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from aiprod_sandbox import Settings
from tests.conftest import START, auth, new_key

# Magic input name -> the status its job has at the next read.
KINDS = {"ok": "COMPLETED", "stay_pending": "PENDING", "fail_download": "FAILED"}


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=7, clock="manual", start_time=START)


@st.composite
def job_sets(draw: st.DrawFn) -> list[tuple[str, bool, bool]]:
    """Per job: its magic name, whether to cancel it (pending ones only), and whether the
    clock moves on before the next one is submitted."""
    count = draw(st.integers(0, 35))
    return [
        (
            draw(st.sampled_from(sorted(KINDS))),
            draw(st.booleans()),
            draw(st.integers(0, 5)) == 0,
        )
        for _ in range(count)
    ]


def create(
    client: TestClient, app: Any, key: str, jobs: list[tuple[str, bool, bool]]
) -> list[tuple[str, str]]:
    """Submits the jobs in batches (a new batch each time the clock moves); returns
    (job_id, status) in submission order."""
    headers = auth(key)
    created: list[tuple[str, str]] = []
    pending: list[tuple[str, bool]] = []

    def flush() -> None:
        if not pending:
            return
        body = {"videos": [{"url": f"https://example.com/{name}.mp4"} for name, _ in pending]}
        response = client.post("/pipeline/batch", json=body, headers=headers)
        assert response.status_code == 202, response.text
        for job, (name, cancel) in zip(response.json()["jobs"], pending, strict=True):
            status = KINDS[name]
            if cancel and status == "PENDING":
                assert client.delete(f"/jobs/{job['job_id']}", headers=headers).status_code == 200
                status = "CANCELLED"
            created.append((job["job_id"], status))
        pending.clear()

    for name, cancel, tick in jobs:
        pending.append((name, cancel))
        if tick:
            flush()
            app.state.sandbox.accounts.lookup(key)[0].clock.advance(1)
    flush()
    return created


def expected_order(
    created: list[tuple[str, str]], sort: str | None, status: str | None
) -> list[str]:
    newest_first = created[::-1]
    if sort == "created_at":
        ordered = created
    elif sort in (None, "-created_at"):
        ordered = newest_first
    else:  # alphabetical by status (reversed for -status), ties newest first
        ordered = sorted(newest_first, key=lambda job: job[1], reverse=sort == "-status")
    return [job_id for job_id, s in ordered if status is None or s == status]


@hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    jobs=job_sets(),
    limit=st.one_of(st.integers(1, 12), st.integers(1, 100), st.none()),
    sort=st.sampled_from([None, "created_at", "-created_at", "status", "-status"]),
    status=st.sampled_from([None, "PENDING", "COMPLETED", "FAILED", "CANCELLED"]),
)
def test_walking_the_pages_partitions_the_list(
    client: TestClient,
    app: Any,
    jobs: list[tuple[str, bool, bool]],
    limit: int | None,
    sort: str | None,
    status: str | None,
) -> None:
    key = new_key("enterprise")  # a fresh account per example, never rate limited
    headers = auth(key)
    created = create(client, app, key, jobs)
    expected = expected_order(created, sort, status)
    params: dict[str, Any] = {}
    for name, value in (("limit", limit), ("sort", sort), ("status", status)):
        if value is not None:
            params[name] = value
    size = 10 if limit is None else limit
    total = len(expected)
    pages = -(-total // size)

    walked: list[str] = []
    for page in range(1, pages + 2):  # one past the end
        response = client.get("/jobs", params={**params, "page": page}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["pagination"] == {
            "page": page,
            "limit": size,
            "total": total,
            "pages": pages,
            "has_next": page < pages,
            "has_previous": page > 1,
        }
        ids = [item["job_id"] for item in body["items"]]
        if page <= pages:
            assert 1 <= len(ids) <= size
            assert len(ids) == size or page == pages
        else:
            assert ids == []
        if status is not None:
            assert all(item["status"] == status for item in body["items"])
        walked += ids

    assert len(walked) == len(set(walked)), "a job was listed twice"
    assert walked == expected
