"""The OpenAPI documents (contract principle 4): `/openapi.json` describes the guide's API and
every route the app serves outside `/_sandbox/`; `/_sandbox/openapi.json` the extensions; both
are valid OpenAPI; there is no `/docs` or `/redoc`.

The documents are fetched with a plain client: the `client` fixture checks every response
against these same documents, which is what is under test here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.api.helpers import assert_error


@pytest.fixture
def plain(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api_doc(plain: TestClient) -> dict[str, Any]:
    response = plain.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json())


@pytest.fixture
def sandbox_doc(plain: TestClient) -> dict[str, Any]:
    response = plain.get("/_sandbox/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def served(app: Any, *, sandbox: bool) -> set[tuple[str, str]]:
    """(path, method) of every route the app serves, HEAD aside (implied by GET)."""
    pairs = set()
    for route in app.routes:
        assert isinstance(route, Route)
        if route.path.startswith("/_sandbox/") != sandbox:
            continue
        for method in route.methods or ():
            if method != "HEAD":
                pairs.add((route.path, method.lower()))
    return pairs


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, ops in document["paths"].items() for method in ops}


def test_api_document_is_openapi_3_1(api_doc: dict[str, Any]) -> None:
    assert api_doc["openapi"].startswith("3.1")
    assert api_doc["info"]["title"]
    assert api_doc["info"]["version"]


def test_api_document_validates(api_doc: dict[str, Any]) -> None:
    validate(api_doc)


def test_sandbox_document_validates(sandbox_doc: dict[str, Any]) -> None:
    validate(sandbox_doc)


def test_api_document_covers_every_api_route(app: Any, api_doc: dict[str, Any]) -> None:
    missing = served(app, sandbox=False) - documented(api_doc)
    assert not missing, f"served but not documented: {sorted(missing)}"
    assert ("/openapi.json", "get") in documented(api_doc)  # the guide lists it


def test_api_document_has_the_guides_endpoints(api_doc: dict[str, Any]) -> None:
    expected = {
        ("/pipeline/run", "post"),
        ("/pipeline/{job_id}", "get"),
        ("/pipeline/batch", "post"),
        ("/jobs", "get"),
        ("/jobs/{job_id}", "get"),
        ("/jobs/{job_id}", "put"),
        ("/jobs/{job_id}", "delete"),
        ("/presets", "get"),
        ("/health", "get"),
    }
    assert expected <= documented(api_doc)


def test_every_documented_operation_is_served(
    app: Any, api_doc: dict[str, Any], sandbox_doc: dict[str, Any]
) -> None:
    served_all = served(app, sandbox=False) | served(app, sandbox=True)
    assert documented(api_doc) <= served_all
    assert documented(sandbox_doc) <= served_all


def test_api_document_has_no_sandbox_paths(api_doc: dict[str, Any]) -> None:
    assert not [path for path in api_doc["paths"] if path.startswith("/_sandbox")]


def test_sandbox_document_has_only_sandbox_paths(sandbox_doc: dict[str, Any]) -> None:
    assert sandbox_doc["paths"]
    assert all(path.startswith("/_sandbox/") for path in sandbox_doc["paths"])


def test_sandbox_document_covers_every_sandbox_route(app: Any, sandbox_doc: dict[str, Any]) -> None:
    missing = served(app, sandbox=True) - documented(sandbox_doc)
    assert not missing, f"served but not documented: {sorted(missing)}"


def test_operation_ids_are_unique(api_doc: dict[str, Any], sandbox_doc: dict[str, Any]) -> None:
    ids = [
        op["operationId"]
        for document in (api_doc, sandbox_doc)
        for ops in document["paths"].values()
        for op in ops.values()
    ]
    assert len(ids) == len(set(ids))


def test_security_matches_what_needs_a_key(api_doc: dict[str, Any]) -> None:
    assert api_doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, ops in api_doc["paths"].items():
        for method, op in ops.items():
            public = path in ("/health", "/openapi.json")
            assert (op.get("security") == []) == public, (path, method)
            if not public:
                assert "401" in op["responses"], (path, method)


def test_every_operation_documents_the_error_envelope(api_doc: dict[str, Any]) -> None:
    for path, ops in api_doc["paths"].items():
        for method, op in ops.items():
            assert "500" in op["responses"], (path, method)
            for status, response in op["responses"].items():
                if status == "default" or int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema["$ref"].endswith("/ErrorEnvelope"), (path, method, status)


def test_job_submission_documents_its_request_body(api_doc: dict[str, Any]) -> None:
    op = api_doc["paths"]["/pipeline/run"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    model = api_doc["components"]["schemas"][name]
    assert "video_url" in model["required"]
    assert set(model["properties"]) == {
        "video_url",
        "voice_text",
        "voice_language",
        "music_style",
        "preset",
        "callback_url",
        "metadata",
    }
    assert model.get("additionalProperties") is False
    assert "202" in op["responses"]


def test_list_query_parameters_are_documented(api_doc: dict[str, Any]) -> None:
    params = {p["name"]: p for p in api_doc["paths"]["/jobs"]["get"]["parameters"]}
    assert {"page", "limit", "sort", "status"} <= set(params)
    assert params["limit"]["schema"]["maximum"] == 100
    assert params["limit"]["schema"]["default"] == 10
    assert params["page"]["schema"]["minimum"] == 1


@pytest.mark.parametrize(
    "path", ["/docs", "/redoc", "/docs/oauth2-redirect", "/swagger", "/openapi.yaml"]
)
def test_no_docs_ui_routes(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "ROUTE_NOT_FOUND")


def test_documents_are_served_the_same_each_time(plain: TestClient) -> None:
    assert plain.get("/openapi.json").content == plain.get("/openapi.json").content
