"""`GET /jobs` (guide "Pagination", contract section 5): the pagination block, limits, pages
past the end, sorting by `created_at` / `status` either way, and the `status` filter.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings
from tests.api.helpers import assert_error, list_jobs, submit, video
from tests.conftest import START

PAGINATION_FIELDS = {"page", "limit", "total", "pages", "has_next", "has_previous"}


@pytest.fixture
def settings() -> Settings:
    # A manual clock, moved between submissions, gives every job its own created_at.
    return Settings(seed=7, clock="manual", start_time=START)


def make_jobs(
    client: TestClient, app: Any, key: str, headers: dict[str, str], names: list[str]
) -> list[str]:
    """Submits one job per magic name, one second apart; returns ids in submission order."""
    ids = []
    for name in names:
        ids.append(submit(client, headers, video_url=video(name))["job_id"])
        app.state.sandbox.accounts.lookup(key)[0].clock.advance(1)
    return ids


def ids_of(page: dict[str, Any]) -> list[str]:
    return [item["job_id"] for item in page["items"]]


def test_empty_list(client: TestClient, headers: dict[str, str]) -> None:
    assert list_jobs(client, headers) == {
        "items": [],
        "pagination": {
            "page": 1,
            "limit": 10,
            "total": 0,
            "pages": 0,
            "has_next": False,
            "has_previous": False,
        },
    }


def test_default_limit_is_10_and_pages_walk_everything(
    client: TestClient, app: Any, key: str, headers: dict[str, str]
) -> None:
    ids = make_jobs(client, app, key, headers, ["job"] * 25)
    first = list_jobs(client, headers)
    assert set(first["pagination"]) == PAGINATION_FIELDS
    assert first["pagination"] == {
        "page": 1,
        "limit": 10,
        "total": 25,
        "pages": 3,
        "has_next": True,
        "has_previous": False,
    }
    second = list_jobs(client, headers, page=2)
    third = list_jobs(client, headers, page=3)
    assert second["pagination"]["has_next"] and second["pagination"]["has_previous"]
    assert third["pagination"]["has_next"] is False
    assert third["pagination"]["has_previous"] is True
    assert [len(p["items"]) for p in (first, second, third)] == [10, 10, 5]
    walked = ids_of(first) + ids_of(second) + ids_of(third)
    assert walked == ids[::-1]  # default sort: newest first


@pytest.mark.parametrize("page", [4, 5, 1000])
def test_page_past_the_end_is_200_and_empty(
    client: TestClient, app: Any, key: str, headers: dict[str, str], page: int
) -> None:
    make_jobs(client, app, key, headers, ["job"] * 25)
    listed = list_jobs(client, headers, page=page)
    assert listed["items"] == []
    assert listed["pagination"] == {
        "page": page,
        "limit": 10,
        "total": 25,
        "pages": 3,
        "has_next": False,
        "has_previous": True,
    }


def test_page_2_of_an_empty_list(client: TestClient, headers: dict[str, str]) -> None:
    listed = list_jobs(client, headers, page=2)
    assert listed["items"] == []
    assert listed["pagination"]["pages"] == 0
    assert listed["pagination"]["has_next"] is False


@pytest.mark.parametrize(("limit", "pages"), [(1, 7), (3, 3), (7, 1), (100, 1)])
def test_limits(
    client: TestClient, app: Any, key: str, headers: dict[str, str], limit: int, pages: int
) -> None:
    ids = make_jobs(client, app, key, headers, ["job"] * 7)
    listed = list_jobs(client, headers, limit=limit)
    assert listed["pagination"]["limit"] == limit
    assert listed["pagination"]["pages"] == pages
    assert ids_of(listed) == ids[::-1][:limit]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"page": 0}, "page"),
        ({"page": -3}, "page"),
        ({"page": "two"}, "page"),
        ({"sort": "name"}, "sort"),
        ({"sort": "+created_at"}, "sort"),
        ({"sort": "created_at,status"}, "sort"),
        ({"sort": "CREATED_AT"}, "sort"),
        ({"sort": ""}, "sort"),
        ({"status": "pending"}, "status"),
        ({"status": "DONE"}, "status"),
    ],
)
def test_bad_query_parameter_is_400_naming_it(
    client: TestClient, headers: dict[str, str], params: dict[str, Any], name: str
) -> None:
    response = client.get("/jobs", params=params, headers=headers)
    error = assert_error(response, 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {name}


def test_every_bad_query_parameter_is_reported_at_once(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get(
        "/jobs", params={"limit": 101, "page": 0, "sort": "x", "status": "y"}, headers=headers
    )
    error = assert_error(response, 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {"limit", "page", "sort", "status"}


def test_limit_100_is_the_maximum_accepted(client: TestClient, headers: dict[str, str]) -> None:
    assert list_jobs(client, headers, limit=100)["pagination"]["limit"] == 100


# Submission order and the status each magic name ends in.
MIXED = ["stay_pending", "job", "fail_download", "job", "stay_pending", "fail_internal", "job"]


@pytest.fixture
def mixed(client: TestClient, app: Any, key: str, headers: dict[str, str]) -> list[tuple[str, str]]:
    ids = make_jobs(client, app, key, headers, MIXED)
    client.delete(f"/jobs/{ids[4]}", headers=headers)  # the second stay_pending: CANCELLED
    return [
        (job_id, client.get(f"/jobs/{job_id}", headers=headers).json()["status"]) for job_id in ids
    ]


def test_statuses_of_the_mixed_set(mixed: list[tuple[str, str]]) -> None:
    assert [status for _, status in mixed] == [
        "PENDING",
        "COMPLETED",
        "FAILED",
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "COMPLETED",
    ]


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "status", "-status", None])
def test_sort_orders(
    client: TestClient, headers: dict[str, str], mixed: list[tuple[str, str]], sort: str | None
) -> None:
    params = {"limit": 100} if sort is None else {"limit": 100, "sort": sort}
    listed = ids_of(list_jobs(client, headers, **params))
    oldest_first = [job_id for job_id, _ in mixed]
    newest_first = oldest_first[::-1]
    status_of = dict(mixed)
    if sort == "created_at":
        expected = oldest_first
    elif sort in ("-created_at", None):
        expected = newest_first
    else:
        # Alphabetical by status (reversed for -status), ties newest first either way.
        order = sorted({s for _, s in mixed}, reverse=sort == "-status")
        expected = [i for status in order for i in newest_first if status_of[i] == status]
    assert listed == expected


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "status", "-status"])
def test_sort_is_stable_across_pages(
    client: TestClient, headers: dict[str, str], mixed: list[tuple[str, str]], sort: str
) -> None:
    whole = ids_of(list_jobs(client, headers, limit=100, sort=sort))
    walked: list[str] = []
    for page in (1, 2, 3, 4):
        walked += ids_of(list_jobs(client, headers, limit=2, page=page, sort=sort))
    assert walked == whole


@pytest.mark.parametrize("status", ["PENDING", "COMPLETED", "FAILED", "CANCELLED", "PROCESSING"])
def test_status_filter(
    client: TestClient, headers: dict[str, str], mixed: list[tuple[str, str]], status: str
) -> None:
    listed = list_jobs(client, headers, status=status, limit=100)
    expected = [job_id for job_id, s in mixed[::-1] if s == status]
    assert ids_of(listed) == expected
    assert listed["pagination"]["total"] == len(expected)
    assert listed["pagination"]["pages"] == (1 if expected else 0)
    assert all(item["status"] == status for item in listed["items"])


def test_status_filter_paginates(
    client: TestClient, headers: dict[str, str], mixed: list[tuple[str, str]]
) -> None:
    first = list_jobs(client, headers, status="COMPLETED", limit=2)
    assert first["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 3,
        "pages": 2,
        "has_next": True,
        "has_previous": False,
    }
    second = list_jobs(client, headers, status="COMPLETED", limit=2, page=2)
    assert len(second["items"]) == 1
    assert second["pagination"]["has_next"] is False


def test_status_filter_with_sort(
    client: TestClient, headers: dict[str, str], mixed: list[tuple[str, str]]
) -> None:
    listed = list_jobs(client, headers, status="FAILED", sort="created_at")
    assert ids_of(listed) == [job_id for job_id, s in mixed if s == "FAILED"]


def test_list_items_are_whole_jobs(
    client: TestClient, headers: dict[str, str], mixed: list[tuple[str, str]]
) -> None:
    for item in list_jobs(client, headers, limit=100)["items"]:
        assert item == client.get(f"/jobs/{item['job_id']}", headers=headers).json()
