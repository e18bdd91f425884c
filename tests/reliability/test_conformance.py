"""Conformance: schemathesis against the served OpenAPI documents of a real server process.

Every operation of `/openapi.json`, and of `/_sandbox/openapi.json`, runs with every check
schemathesis has (`checks=all`: no server errors; status codes, content types, response
schemas and headers conform; schema-valid bodies accepted, schema-violating ones refused;
and the rest), for a bounded number of examples, derandomized so CI sees the same run every
time. Each operation gets an Enterprise account of its own (a fresh `sk_test_ent_` key: never
rate limited), so what one operation does to its account (a clock driven to the year 9999, a
revoked key, a scenario) cannot fail another operation's run.

The schema is loaded from the served document when this module is imported, so the server
process starts then: pytest parametrizes the tests by operation at collection, and the lazy
`schemathesis.pytest.from_fixture` loader fails on pytest 9.2 (it reads `Node._nodeid`,
which pytest no longer has). The module's `server` fixture stops the process at the end;
`atexit` does when the module's tests are deselected.

`KNOWN_DEFECTS` names operations whose run fails today, each with the defect; those items are
marked `xfail(strict=True)` (by `tests/reliability/conftest.py`), so the fix turns them into
XPASS failures until the entry is removed. The tests after the schemathesis runs reproduce
each finding deterministically, with the exact request.
"""

from __future__ import annotations

import atexit
import json
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonpath_ng.ext.parser import parse as jsonpath_parse
from schemathesis.openapi import from_url

from .conftest import ServerProcess, api, bearer, fresh_key, stop_and_check

MAX_EXAMPLES = 25
SERVER = ServerProcess().start()
atexit.register(SERVER.stop)

_LOOSE_DOC = (
    "BUG: the OpenAPI document is looser than the validation: a body the document allows "
    "is refused with 400 INVALID_PARAMETER ({}); the model the document is generated from "
    "must say what the validator requires"
)
KNOWN_DEFECTS: dict[str, str] = {}


def _load(document: str) -> schemathesis.BaseSchema:
    schema = from_url(f"{SERVER.base_url}{document}", timeout=10)
    schema.config.update(base_url=SERVER.base_url)
    schema.config.checks.update(included_check_names=["all"])
    schema.config.generation.update(max_examples=MAX_EXAMPLES)
    return schema


API = _load("/openapi.json")
CONTROL = _load("/_sandbox/openapi.json")
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)


class OneAccountPerOperation:
    """schemathesis auth provider: a fresh Enterprise key per operation (one account each).

    Registered as the schemas' auth, so schemathesis still leaves the key out of the cases
    where it tests a missing `Authorization` on purpose."""

    keys: dict[str, str] = {}

    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        return self.keys.setdefault(case.operation.label, fresh_key("ent"))

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), **bearer(data)}


API.auth(refresh_interval=None)(OneAccountPerOperation)
CONTROL.auth(refresh_interval=None)(OneAccountPerOperation)


@CONTROL.hook
def filter_case(ctx: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    """Verifications that wait long are not drawn (see below). A state document names each
    job, webhook and key once, which JSON Schema cannot say
    (uniqueness of one property of the items): documents that repeat one are refused with 400
    naming the field, and `tests/api/test_state.py` checks that. Here they are not drawn (in
    every phase: the coverage phase applies `filter_case` hooks only)."""
    body = case.body
    if case.operation.path == "/_sandbox/verify" and isinstance(body, dict):
        # A verification may wait up to 300 s (`within`), longer than a case's timeout: here
        # only short waits are drawn; tests/evidence/test_verify.py covers waiting. And JSON
        # Schema cannot say what a JSONPath expression is: ones that do not parse (refused
        # with 400 naming the field, as test_verify.py checks) are not drawn.
        within = body.get("within")
        return (not isinstance(within, int | float) or within <= 0.5) and _paths_parse(body)
    if case.operation.path != "/_sandbox/state" or not isinstance(body, dict):
        return True
    for section, fields in (
        ("jobs", ("job_id",)),
        ("webhooks", ("webhook_id",)),
        ("keys", ("key_id", "key")),
    ):
        items = [item for item in body.get(section) or [] if isinstance(item, dict)]
        for name in fields:
            given = [json.dumps(item[name]) for item in items if item.get(name) is not None]
            if len(given) != len(set(given)):
                return False
    return True


def _paths_parse(body: dict[str, Any]) -> bool:
    sequence = body.get("sequence")  # negative cases draw any type for any field
    matchers = [body.get("requests"), *(sequence if isinstance(sequence, list) else [])]
    for matcher in matchers:
        paths = matcher.get("jsonpath") if isinstance(matcher, dict) else None
        for expression in paths if isinstance(paths, dict) else ():
            try:
                jsonpath_parse(expression)
            except Exception:
                return False
    return True


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    yield SERVER
    # 500s are failures of the `not_a_server_error` check, request by request (and the clock
    # defect below logs them on purpose); here only a clean exit on SIGTERM is asserted.
    stop_and_check(SERVER, allow_logged_errors=True)


@pytest.fixture(autouse=True)
def _alive(server: ServerProcess) -> None:
    assert server.alive(), "the server process died"


@API.parametrize()
@BOUNDED
def test_api_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate(timeout=10)


@CONTROL.parametrize()
@BOUNDED
def test_control_api_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate(timeout=10)


# --- each finding, reproduced with its exact request ------------------------------------------


@pytest.fixture(scope="module")
def documents(server: ServerProcess) -> dict[str, dict[str, Any]]:
    return {
        "api": api(server, "GET", "/openapi.json", None).json(),
        "sandbox": api(server, "GET", "/_sandbox/openapi.json", None).json(),
    }


def _request_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    body = document["paths"][path][method.lower()]["requestBody"]
    return {**body["content"]["application/json"]["schema"], "components": document["components"]}


def _document_allows(document: dict[str, Any], method: str, path: str, body: Any) -> bool:
    validator = jsonschema.Draft202012Validator(_request_schema(document, method, path))
    return validator.is_valid(body)


def _targets(server: ServerProcess, key: str) -> dict[str, str]:
    """Ids a body test needs: a PENDING job and a webhook of the key's account."""
    job = api(server, "POST", "/pipeline/run", key, {"video_url": "https://e.com/stay_pending.mp4"})
    hook = api(
        server,
        "POST",
        "/webhooks/register",
        key,
        {"url": "https://example.com/hook", "events": ["job.completed"]},
    )
    assert job.status == 202 and hook.status == 201, (job, hook)
    return {"job_id": job.json()["job_id"], "webhook_id": hook.json()["webhook_id"]}


def _bug(reason: str) -> Any:
    """Was a strict xfail while the defect stood; kept as the record of what it was."""
    return ()


# (document, method, path, body): the document allows the body, so the server must accept it.
ALLOWED_BY_THE_DOCUMENT = [
    pytest.param(
        "api",
        "POST",
        "/pipeline/run",
        {"video_url": "https://example.com/a.mp4"},
        id="run-video_url",
    ),
    pytest.param(
        "api",
        "POST",
        "/pipeline/batch",
        {"videos": [{"video_url": "http://example.com:8080/b.mp4?x=1"}]},
        id="batch-video_url",
    ),
    pytest.param(
        "api",
        "PUT",
        "/jobs/{job_id}",
        {"callback_url": "https://example.com/cb"},
        id="update-callback_url",
    ),
    pytest.param(
        "api",
        "POST",
        "/webhooks/register",
        {"url": "https://example.com/hook", "events": ["job.failed"]},
        id="register-events",
    ),
    pytest.param(
        "api",
        "PUT",
        "/webhooks/{webhook_id}",
        {"events": ["job.progress"]},
        id="webhook-update-events",
    ),
    pytest.param("api", "POST", "/keys", {"name": "ci", "scopes": ["jobs:read"]}, id="keys-scopes"),
    pytest.param(
        "sandbox",
        "POST",
        "/_sandbox/clock",
        {"mode": "manual", "now": "2999-01-01T00:00:00Z"},
        id="clock-now",
    ),
    pytest.param(
        "sandbox",
        "PUT",
        "/_sandbox/scenario",
        {"scenario": {"name": "mine", "description": "An empty scenario"}},
        id="scenario-inline",
    ),
]

# (document, method, path, body): the document forbids the body, so the server must refuse it.
FORBIDDEN_BY_THE_DOCUMENT = [
    pytest.param(
        "api",
        "POST",
        "/pipeline/run",
        {"video_url": ""},
        marks=_bug("JobSubmit.video_url is documented as any string; the server refuses ''"),
        id="run-video_url-empty",
    ),
    pytest.param(
        "api",
        "POST",
        "/pipeline/batch",
        {"videos": [{"video_url": ""}]},
        marks=_bug("BatchItem.video_url is documented as any string; the server refuses ''"),
        id="batch-video_url-empty",
    ),
    pytest.param(
        "api",
        "PUT",
        "/jobs/{job_id}",
        {"callback_url": ""},
        marks=_bug("JobUpdate.callback_url is documented as any string; the server refuses ''"),
        id="update-callback_url-empty",
    ),
    pytest.param(
        "api",
        "POST",
        "/webhooks/register",
        {"url": "https://example.com/hook", "events": [""]},
        marks=_bug("WebhookRegister.events items are documented as any string (no enum)"),
        id="register-events-unknown",
    ),
    pytest.param(
        "api",
        "PUT",
        "/webhooks/{webhook_id}",
        {"events": [""]},
        marks=_bug("WebhookUpdate.events items are documented as any string (no enum)"),
        id="webhook-update-events-unknown",
    ),
    pytest.param(
        "api",
        "POST",
        "/keys",
        {"name": "ci", "scopes": [""]},
        marks=_bug("KeyCreate.scopes items are documented as any string (no enum)"),
        id="keys-scopes-unknown",
    ),
    pytest.param(
        "sandbox",
        "POST",
        "/_sandbox/clock",
        {"now": ""},
        marks=_bug("ClockIn.now is documented as any string (no date-time format)"),
        id="clock-now-empty",
    ),
    pytest.param(
        "sandbox",
        "PUT",
        "/_sandbox/scenario",
        {"scenario": {}},
        marks=_bug(
            "ScenarioIn.scenario is documented as any object (the scenario schema "
            "requires name and description)"
        ),
        id="scenario-inline-empty",
    ),
    pytest.param(
        "sandbox",
        "POST",
        "/_sandbox/clock/advance",
        {"seconds": False},
        marks=_bug("AdvanceIn.seconds accepts a boolean (lax mode): 200 and the clock moves 0 s"),
        id="advance-seconds-false",
    ),
    pytest.param(
        "sandbox",
        "POST",
        "/_sandbox/clock/advance",
        {"seconds": "5"},
        marks=_bug("AdvanceIn.seconds accepts a numeric string (lax mode): 200, clock +5 s"),
        id="advance-seconds-string",
    ),
    pytest.param(
        "sandbox",
        "PUT",
        "/_sandbox/state",
        "state-with-boolean-fail_at_progress",
        marks=_bug("StatePlan.fail_at_progress accepts a boolean (lax mode)"),
        id="state-fail_at_progress-false",
    ),
]


def _fill(server: ServerProcess, key: str, path: str, body: Any) -> tuple[str, Any]:
    ids = _targets(server, key)
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    if body == "state-with-boolean-fail_at_progress":
        state = api(server, "GET", "/_sandbox/state", key).json()
        state["jobs"][0]["plan"]["fail_at_progress"] = False
        body = state
    return path, body


@pytest.mark.parametrize(("which", "method", "path", "body"), ALLOWED_BY_THE_DOCUMENT)
def test_a_body_the_document_allows_is_accepted(
    server: ServerProcess,
    documents: dict[str, dict[str, Any]],
    which: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    key = fresh_key()
    assert _document_allows(documents[which], method, path, body)
    target, body = _fill(server, key, path, body)
    response = api(server, method, target, key, body)
    assert response.status != 400, f"the document allows {json.dumps(body)}: {response}"


@pytest.mark.parametrize(("which", "method", "path", "body"), FORBIDDEN_BY_THE_DOCUMENT)
def test_a_body_the_document_forbids_is_refused(
    server: ServerProcess,
    documents: dict[str, dict[str, Any]],
    which: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    key = fresh_key()
    target, body = _fill(server, key, path, body)
    assert not _document_allows(documents[which], method, path, body)
    response = api(server, method, target, key, body)
    assert response.status == 400, f"the document forbids {json.dumps(body)[:300]}: {response}"
    assert response.json()["error"]["code"] == "INVALID_PARAMETER"


def test_reset_body_requirement_matches_the_document(
    server: ServerProcess, documents: dict[str, dict[str, Any]]
) -> None:
    required = documents["sandbox"]["paths"]["/_sandbox/reset"]["post"]["requestBody"]["required"]
    response = api(server, "POST", "/_sandbox/reset", fresh_key())
    assert (response.status == 400) == required, response


def _account_still_works(server: ServerProcess, key: str) -> None:
    for path in ("/_sandbox/clock", "/jobs", "/_sandbox/state"):
        response = api(server, "GET", path, key)
        assert response.status == 200, f"GET {path} after the clock change: {response}"


CLOCK_OVERFLOW = (
    "BUG: an account's clock can be driven past datetime's range (year 9999); from then on "
    "every response that renders a time is 500 INTERNAL_ERROR (OverflowError: timestamp out "
    "of range, core/clock.py iso()) until POST /_sandbox/reset — the contract: bad input gets "
    "a clear error, never a crash"
)


def test_a_huge_clock_scale_is_refused_or_harmless(server: ServerProcess) -> None:
    key = fresh_key()
    response = api(server, "POST", "/_sandbox/clock", key, {"mode": "scaled", "scale": 1e96})
    assert response.status in (200, 400), response
    _account_still_works(server, key)


def test_a_fast_clock_does_not_run_out_of_range(server: ServerProcess) -> None:
    key = fresh_key()
    response = api(server, "POST", "/_sandbox/clock", key, {"mode": "scaled", "scale": 1e12})
    assert response.status in (200, 400), response
    time.sleep(0.5)  # 5e11 clock seconds: past the year 9999
    _account_still_works(server, key)


def test_a_clock_set_to_the_last_second_can_still_advance(server: ServerProcess) -> None:
    key = fresh_key()
    now = {"mode": "manual", "now": "9999-12-31T23:59:59Z"}
    response = api(server, "POST", "/_sandbox/clock", key, now)
    assert response.status in (200, 400), response
    response = api(server, "POST", "/_sandbox/clock/advance", key, {"seconds": 5})
    assert response.status in (200, 400), response
    _account_still_works(server, key)


def test_a_state_import_cannot_push_the_clock_out_of_range(server: ServerProcess) -> None:
    key = fresh_key()
    state = {"version": 1, "settings": {"clock": {"mode": "manual", "now": "9999-12-31T23:59:59Z"}}}
    response = api(server, "PUT", "/_sandbox/state", key, state)
    assert response.status in (200, 400), response
    response = api(server, "POST", "/_sandbox/clock/advance", key, {"seconds": 5})
    assert response.status in (200, 400), response
    _account_still_works(server, key)


def test_another_account_is_untouched_by_a_broken_clock(server: ServerProcess) -> None:
    """Accounts are isolated: whatever one account's clock does, the others keep working."""
    broken, other = fresh_key(), fresh_key()
    api(server, "POST", "/_sandbox/clock", broken, {"mode": "scaled", "scale": 1e96})
    _account_still_works(server, other)
    assert api(server, "POST", "/_sandbox/reset", broken, {}).status == 200
    _account_still_works(server, broken)  # reset puts the clock back
