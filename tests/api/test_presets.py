"""`GET /presets` (guide "Cache API Responses", contract section 5): at least six presets
including `brand_campaign`, paginated like every list, cacheable with `ETag`,
`Cache-Control: max-age=3600` and 304 on `If-None-Match`.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import assert_error


def get(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    return client.get("/presets", params=params, headers=headers)


def test_presets_list_the_guides_presets(client: TestClient, headers: dict[str, str]) -> None:
    response = get(client, headers, limit=100)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "pagination"}
    ids = [preset["id"] for preset in body["items"]]
    assert len(ids) >= 6
    assert len(set(ids)) == len(ids)
    assert "brand_campaign" in ids
    assert body["pagination"]["total"] == len(ids)


def test_each_preset_names_a_music_style_the_api_accepts(
    client: TestClient, headers: dict[str, str]
) -> None:
    for preset in get(client, headers, limit=100).json()["items"]:
        assert preset["name"]
        response = client.post(
            "/pipeline/run",
            json={
                "video_url": "https://example.com/a.mp4",
                "preset": preset["id"],
                "music_style": preset["music_style"],
            },
            headers=headers,
        )
        assert response.status_code == 202, (preset, response.text)


def test_etag_and_cache_control(client: TestClient, headers: dict[str, str]) -> None:
    response = get(client, headers)
    etag = response.headers["etag"]
    assert etag.startswith(('"', 'W/"')) and etag.endswith('"') and len(etag) > 2
    assert "max-age=3600" in [part.strip() for part in response.headers["cache-control"].split(",")]


def test_etag_is_stable(client: TestClient, headers: dict[str, str]) -> None:
    assert get(client, headers).headers["etag"] == get(client, headers).headers["etag"]


def test_if_none_match_with_the_etag_is_304(client: TestClient, headers: dict[str, str]) -> None:
    etag = get(client, headers).headers["etag"]
    response = client.get("/presets", headers={**headers, "If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert "max-age=3600" in response.headers["cache-control"]
    assert response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("template", ["W/{etag}", '"other", {etag}', "*"])
def test_if_none_match_forms_that_match(
    client: TestClient, headers: dict[str, str], template: str
) -> None:
    etag = get(client, headers).headers["etag"]
    response = client.get(
        "/presets", headers={**headers, "If-None-Match": template.format(etag=etag)}
    )
    assert response.status_code == 304


@pytest.mark.parametrize("value", ['"not-the-etag"', '"', "", 'W/"other"'])
def test_if_none_match_with_another_etag_is_200(
    client: TestClient, headers: dict[str, str], value: str
) -> None:
    plain = get(client, headers)
    response = client.get("/presets", headers={**headers, "If-None-Match": value})
    assert response.status_code == 200
    assert response.json() == plain.json()
    assert response.headers["etag"] == plain.headers["etag"]


def test_pages_have_their_own_etags(client: TestClient, headers: dict[str, str]) -> None:
    one = get(client, headers, limit=2, page=1)
    two = get(client, headers, limit=2, page=2)
    assert one.headers["etag"] != two.headers["etag"]
    response = client.get(
        "/presets",
        params={"limit": 2, "page": 2},
        headers={**headers, "If-None-Match": one.headers["etag"]},
    )
    assert response.status_code == 200
    assert response.json() == two.json()


def test_pagination_walks_every_preset_once(client: TestClient, headers: dict[str, str]) -> None:
    everything = [p["id"] for p in get(client, headers, limit=100).json()["items"]]
    total = len(everything)
    pages = -(-total // 2)
    walked = []
    for page in range(1, pages + 1):
        body = get(client, headers, limit=2, page=page).json()
        assert body["pagination"] == {
            "page": page,
            "limit": 2,
            "total": total,
            "pages": pages,
            "has_next": page < pages,
            "has_previous": page > 1,
        }
        walked += [p["id"] for p in body["items"]]
    assert walked == everything
    past = get(client, headers, limit=2, page=pages + 1).json()
    assert past["items"] == []
    assert past["pagination"]["has_next"] is False


def test_default_limit_is_10(client: TestClient, headers: dict[str, str]) -> None:
    body = get(client, headers).json()
    assert body["pagination"]["limit"] == 10
    assert len(body["items"]) == min(10, body["pagination"]["total"])


def test_sort_by_created_at_either_way(client: TestClient, headers: dict[str, str]) -> None:
    newest = get(client, headers, limit=100).json()["items"]
    oldest = get(client, headers, limit=100, sort="created_at").json()["items"]
    assert get(client, headers, limit=100, sort="-created_at").json()["items"] == newest
    assert oldest == newest[::-1]
    stamps = [p["created_at"] for p in oldest]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"sort": "status"}, "sort"),
        ({"sort": "name"}, "sort"),
    ],
)
def test_bad_query_is_400_naming_the_parameter(
    client: TestClient, headers: dict[str, str], params: dict[str, Any], name: str
) -> None:
    error = assert_error(get(client, headers, **params), 400, "INVALID_PARAMETER")
    assert set(error["details"]) == {name}


def test_presets_need_a_key(client: TestClient) -> None:
    assert_error(client.get("/presets"), 401, "MISSING_API_KEY")
