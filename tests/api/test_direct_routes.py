"""The hot endpoints' direct route (`api/direct.py`) must pick exactly what Starlette's router
would, or leave the request to it: for any method and path, the same operation with the same
path parameters, and never a request the router would answer with a 404 or a 405."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import Match, Route
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from aiprod_sandbox.api.middleware import RequestContextMiddleware
from tests.conftest import auth, new_key

APP = create_app(Settings(seed=7))
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PREFIXES = (
    "/health",
    "/pipeline/run",
    "/pipeline/batch",
    "/pipeline/",
    "/pipeline",
    "/jobs",
    "/jobs/",
    "/webhooks/",
    "/keys/",
    "/_sandbox/clock",
    "/",
    "",
)
SEGMENT = st.text(
    alphabet=st.sampled_from(list("abcrun_-.%~/ é0123456789")), min_size=0, max_size=12
)


def _direct() -> Any:
    layer = APP.middleware_stack = APP.middleware_stack or APP.build_middleware_stack()
    while not isinstance(layer, RequestContextMiddleware):
        layer = layer.app
    return layer.direct


def _operation_ids() -> dict[tuple[str, str], str]:
    ids = {(op.path, op.method): op.operation_id for op in APP.state.operations}
    ids.update({(path, "HEAD"): op_id for (path, method), op_id in ids.items() if method == "GET"})
    return ids


def _router_choice(scope: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The operation the router runs for `scope` (first full match), or None (404 or 405)."""
    for route in APP.router.routes:
        assert isinstance(route, Route)
        match, child = route.matches(scope)
        if match is Match.FULL:
            return _operation_ids()[(route.path, scope["method"])], child["path_params"]
    return None


@settings(max_examples=600, deadline=None)
@given(method=st.sampled_from(METHODS), prefix=st.sampled_from(PREFIXES), rest=SEGMENT)
def test_the_direct_route_agrees_with_the_router_or_defers(
    method: str, prefix: str, rest: str
) -> None:
    path = prefix + rest
    if not path.startswith("/"):
        path = "/" + path
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    found = _direct().find(scope)
    if found is None:
        return  # the router's to answer, as it always was
    endpoint, params = found
    assert _router_choice(scope) == (endpoint.__name__, params), (method, path)


def test_literal_paths_and_other_methods_stay_with_the_router() -> None:
    direct = _direct()
    for method, path in [
        ("GET", "/pipeline/run"),  # the router takes it as the job "run"
        ("DELETE", "/pipeline/run"),  # a 405 that lists POST
        ("GET", "/jobs/"),  # no route: a 404, not a redirect
        ("PUT", "/pipeline/job_1"),  # a 405 that lists GET, HEAD (and DELETE if any)
    ]:
        assert direct.find({"method": method, "path": path, "root_path": ""}) is None
    assert direct.find({"method": "GET", "path": "/health", "root_path": "/mounted"}) is None
    assert direct.find({"method": "GET", "path": "/pipeline/job_1", "root_path": ""}) is not None


def test_answers_through_the_direct_route_are_the_routers() -> None:
    """Over HTTP: what the hot paths answer carries every layer's part — request id, the
    rate-limit headers, the envelope of an error raised before the handler, the journal."""
    h = auth(new_key())
    with TestClient(create_app(Settings(seed=7))) as client:
        job = {"video_url": "https://e.com/a.mp4"}
        accepted = client.post("/pipeline/run", json=job, headers=h)
        assert accepted.status_code == 202
        assert accepted.headers["x-request-id"].startswith("req_")
        assert accepted.headers["x-content-type-options"] == "nosniff"
        assert "x-ratelimit-limit" in accepted.headers
        job_id = accepted.json()["job_id"]
        assert client.head(f"/pipeline/{job_id}", headers=h).status_code == 200
        assert client.get("/pipeline/nope", headers=h).json()["error"]["code"] == "JOB_NOT_FOUND"
        unauthorised = client.get(f"/pipeline/{job_id}")
        assert unauthorised.status_code == 401
        assert unauthorised.json()["error"]["request_id"] == unauthorised.headers["x-request-id"]
        not_allowed = client.delete("/pipeline/run", headers=h)
        assert not_allowed.status_code == 405 and "POST" in not_allowed.headers["allow"]
        journal = client.get("/_sandbox/requests", headers=h).json()["items"]
        # The journal keeps the account's requests (not the 405 or the keyless 401).
        assert [(e["method"], e["status"]) for e in journal] == [
            ("GET", 404),
            ("HEAD", 200),
            ("POST", 202),
        ]
        assert job_id in journal[-1]["job_ids"]
