"""Authentication, accounts, tiers and scopes (contract sections 2 and 3).

Every endpoint but /health, /openapi.json and signed file links needs `Bearer sk_test_…`;
each new test key is its own account; the tier comes from the key's prefix; strict keys
accept only fixture keys; a key's scopes limit what it may do.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from aiprod_sandbox import Settings
from tests.api.helpers import GUIDE_BODY, assert_error, list_jobs, submit, video
from tests.conftest import auth, new_key

PRO_FIXTURE_KEY = "sk_test_example_pro_key_0001"
FREE_FIXTURE_KEY = "sk_test_free_example_key_0001"
READONLY_FIXTURE_KEY = "sk_test_example_readonly_0001"
BATCH_BODY = {"videos": [{"url": video("a")}]}

# Every authenticated API endpoint, with a body that would be valid.
AUTHENTICATED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/pipeline/run", GUIDE_BODY),
    ("POST", "/pipeline/batch", BATCH_BODY),
    ("GET", "/pipeline/job_doesnotexist0000", None),
    ("GET", "/jobs", None),
    ("GET", "/jobs/job_doesnotexist0000", None),
    ("PUT", "/jobs/job_doesnotexist0000", {"metadata": {"a": "b"}}),
    ("DELETE", "/jobs/job_doesnotexist0000", None),
    ("GET", "/presets", None),
]


def call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), AUTHENTICATED)
def test_missing_authorization_header_is_401_missing_api_key(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    assert_error(call(client, method, path, body, {}), 401, "MISSING_API_KEY")


@pytest.mark.parametrize(("method", "path", "body"), AUTHENTICATED)
def test_live_key_is_refused_on_every_endpoint(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    headers = auth("sk_live_abcdefghijklmnop1234")
    assert_error(call(client, method, path, body, headers), 401, "LIVE_KEY_IN_SANDBOX")


@pytest.mark.parametrize(
    "header",
    [
        "Basic x",
        "Basic c2tfdGVzdF9wcm9fMTIzNDU2Nzg5MDEyMzQ1Ng==",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Token sk_test_pro_abcdefghijklmnop",
        "sk_test_pro_abcdefghijklmnop",
    ],
)
def test_malformed_authorization_header_is_401_invalid_api_key(
    client: TestClient, header: str
) -> None:
    response = client.get("/jobs", headers={"Authorization": header})
    error = assert_error(response, 401, "INVALID_API_KEY", details=True)
    assert error["message"] == "Invalid API key"  # the guide's words, which partners compare
    assert "Bearer sk_test_" in error["details"]["Authorization"]


@pytest.mark.parametrize(
    "secret",
    [
        "sk_test_short",
        "sk_test_",
        "sk_test_" + "a" * 15,  # one short of the 16 characters a test key needs
        "random",
        "hello-world-this-is-not-a-key",
        "sk_test_has-dashes-in-the-key-0000",
        "sk_test_has.dots.in.the.key.00000",
        "sk_TEST_abcdefghijklmnopqrst",
        "pk_test_abcdefghijklmnopqrst",
        "sk_test_" + "a" * 249,  # one past the longest key: a key's length is bounded
        "sk_test_" + "a" * 100_000,
    ],
    ids=lambda secret: secret[:40],
)
def test_malformed_key_is_401_invalid_api_key(client: TestClient, secret: str) -> None:
    error = assert_error(client.get("/jobs", headers=auth(secret)), 401, "INVALID_API_KEY")
    assert error["message"] == "Invalid API key"  # the guide's words, which partners compare
    assert "16 to 248" in error["details"]["key"]  # the hint is in details
    if len(secret) > 8:
        assert secret not in str(error), "keys never appear unmasked in errors"


def test_shortest_well_formed_test_key_is_accepted(client: TestClient) -> None:
    response = client.get("/jobs", headers=auth("sk_test_" + "a" * 16))
    assert response.status_code == 200, response.text


def test_longest_well_formed_test_key_is_accepted(client: TestClient) -> None:
    response = client.get("/jobs", headers=auth("sk_test_" + "a" * 248))
    assert response.status_code == 200, response.text


def test_bearer_scheme_is_case_insensitive(client: TestClient, key: str) -> None:
    assert client.get("/jobs", headers={"Authorization": f"bearer {key}"}).status_code == 200
    assert client.get("/jobs", headers={"Authorization": f"BEARER {key}"}).status_code == 200


def test_live_key_message_says_to_use_a_test_key(client: TestClient) -> None:
    secret = "sk_live_xxxxxxxxxxxxxxxx"
    response = client.post("/pipeline/run", json=GUIDE_BODY, headers=auth(secret))
    error = assert_error(response, 401, "LIVE_KEY_IN_SANDBOX")
    assert "test key" in error["message"].lower()
    assert "sk_test_" in error["message"]
    assert secret not in response.text, "keys never appear unmasked in errors"


def test_live_key_creates_no_account(client: TestClient, app: Any) -> None:
    secret = "sk_live_abcdefghijklmnop1234"
    before = len(app.state.sandbox.accounts)
    client.get("/jobs", headers=auth(secret))
    assert len(app.state.sandbox.accounts) == before
    assert app.state.sandbox.accounts.lookup(secret) is None


@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/_sandbox/openapi.json"])
def test_public_endpoints_need_no_key(app: Any, path: str) -> None:
    # Plain client: /openapi.json is fetched without the documented-route check here.
    with TestClient(app) as plain:
        response = plain.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"].startswith("req_")


def test_health_needs_no_key_and_says_sandbox(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["environment"] == "sandbox"


def test_public_endpoints_ignore_a_bad_key(client: TestClient) -> None:
    response = client.get("/health", headers=auth("sk_live_abcdefghijklmnop1234"))
    assert response.status_code == 200


class TestAccounts:
    def test_each_new_key_is_its_own_account(self, client: TestClient) -> None:
        key_a, key_b = new_key(), new_key()
        job = submit(client, auth(key_a), video_url=video("stay_pending"))
        job_id = job["job_id"]
        for method, path in [
            ("GET", f"/pipeline/{job_id}"),
            ("GET", f"/jobs/{job_id}"),
            ("DELETE", f"/jobs/{job_id}"),
        ]:
            response = client.request(method, path, headers=auth(key_b))
            error = assert_error(response, 404, "JOB_NOT_FOUND")
            assert error["message"] == "Job not found"  # the guide's 404 message
        response = client.put(
            f"/jobs/{job_id}", json={"metadata": {"owner": "b"}}, headers=auth(key_b)
        )
        assert_error(response, 404, "JOB_NOT_FOUND")
        # B's attempts changed nothing for A.
        own = client.get(f"/jobs/{job_id}", headers=auth(key_a)).json()
        assert own["status"] == "PENDING"
        assert own["metadata"] == {}

    def test_job_lists_are_per_account(self, client: TestClient) -> None:
        key_a, key_b = new_key(), new_key()
        ids_a = {submit(client, auth(key_a))["job_id"] for _ in range(3)}
        id_b = submit(client, auth(key_b))["job_id"]
        listed_a = list_jobs(client, auth(key_a))
        listed_b = list_jobs(client, auth(key_b))
        assert {item["job_id"] for item in listed_a["items"]} == ids_a
        assert listed_a["pagination"]["total"] == 3
        assert [item["job_id"] for item in listed_b["items"]] == [id_b]
        assert listed_b["pagination"]["total"] == 1

    def test_a_fresh_key_starts_with_no_jobs(self, client: TestClient) -> None:
        submit(client, auth(new_key()))
        listed = list_jobs(client, auth(new_key()))
        assert listed["items"] == []
        assert listed["pagination"]["total"] == 0

    def test_same_key_is_the_same_account_across_requests(
        self, client: TestClient, headers: dict[str, str]
    ) -> None:
        job_id = submit(client, headers)["job_id"]
        assert client.get(f"/pipeline/{job_id}", headers=headers).status_code == 200


class TestTiers:
    def test_free_key_cannot_batch(self, client: TestClient) -> None:
        response = client.post("/pipeline/batch", json=BATCH_BODY, headers=auth(new_key("free")))
        error = assert_error(response, 403, "TIER_FEATURE_UNAVAILABLE")
        assert error["message"] == "Your tier does not support batch processing"

    def test_free_key_can_submit_single_jobs(self, client: TestClient) -> None:
        submit(client, auth(new_key("free")))

    @pytest.mark.parametrize("tier", ["pro", "enterprise"])
    def test_pro_and_enterprise_keys_can_batch(self, client: TestClient, tier: str) -> None:
        response = client.post("/pipeline/batch", json=BATCH_BODY, headers=auth(new_key(tier)))
        assert response.status_code == 202, response.text

    def test_key_without_tier_prefix_gets_the_default_tier_pro(self, client: TestClient) -> None:
        response = client.post(
            "/pipeline/batch", json=BATCH_BODY, headers=auth("sk_test_noprefixkey0000000001")
        )
        assert response.status_code == 202, response.text

    def test_tier_prefix_wins_over_the_default_tier(self, app: Any) -> None:
        secret = new_key("free")
        with TestClient(app) as plain:
            plain.get("/jobs", headers=auth(secret))
        account, _ = app.state.sandbox.accounts.lookup(secret)
        assert account.tier == "free"


class TestDefaultTierSetting:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(seed=7, default_tier="free")

    def test_unprefixed_key_gets_the_configured_default_tier(self, client: TestClient) -> None:
        response = client.post(
            "/pipeline/batch", json=BATCH_BODY, headers=auth("sk_test_noprefixkey0000000002")
        )
        assert_error(response, 403, "TIER_FEATURE_UNAVAILABLE")

    def test_pro_prefix_still_pro(self, client: TestClient) -> None:
        response = client.post("/pipeline/batch", json=BATCH_BODY, headers=auth(new_key("pro")))
        assert response.status_code == 202, response.text


class TestStrictKeys:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(seed=7, strict_keys=True)

    def test_unknown_well_formed_key_is_401_invalid_api_key(self, client: TestClient) -> None:
        secret = new_key()
        error = assert_error(client.get("/jobs", headers=auth(secret)), 401, "INVALID_API_KEY")
        assert error["message"] == "Invalid API key"
        assert "strict keys" in error["details"]["key"]
        assert secret not in str(error)

    def test_unknown_key_creates_no_account(self, client: TestClient, app: Any) -> None:
        before = len(app.state.sandbox.accounts)
        client.post("/pipeline/run", json=GUIDE_BODY, headers=auth(new_key()))
        assert len(app.state.sandbox.accounts) == before

    def test_fixture_pro_key_works(self, client: TestClient) -> None:
        headers = auth(PRO_FIXTURE_KEY)
        job_id = submit(client, headers)["job_id"]
        assert client.get(f"/pipeline/{job_id}", headers=headers).json()["status"] == "COMPLETED"
        response = client.post("/pipeline/batch", json=BATCH_BODY, headers=headers)
        assert response.status_code == 202, response.text

    def test_fixture_free_key_works_but_cannot_batch(self, client: TestClient) -> None:
        headers = auth(FREE_FIXTURE_KEY)
        submit(client, headers)
        response = client.post("/pipeline/batch", json=BATCH_BODY, headers=headers)
        error = assert_error(response, 403, "TIER_FEATURE_UNAVAILABLE")
        assert error["message"] == "Your tier does not support batch processing"

    def test_live_key_is_still_live_key_in_sandbox(self, client: TestClient) -> None:
        response = client.get("/jobs", headers=auth("sk_live_abcdefghijklmnop1234"))
        assert_error(response, 401, "LIVE_KEY_IN_SANDBOX")


class TestScopes:
    """The fixture key `sk_test_example_readonly_0001` has only `jobs:read`."""

    @pytest.fixture
    def headers(self) -> dict[str, str]:
        return auth(READONLY_FIXTURE_KEY)

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", "/pipeline/run", GUIDE_BODY),
            ("POST", "/pipeline/batch", BATCH_BODY),
            ("PUT", "/jobs/job_doesnotexist0000", {"metadata": {"a": "b"}}),
            ("DELETE", "/jobs/job_doesnotexist0000", None),
        ],
    )
    def test_read_only_key_cannot_write(
        self, client: TestClient, headers: dict[str, str], method: str, path: str, body: Any
    ) -> None:
        response = call(client, method, path, body, headers)
        assert_error(response, 403, "INSUFFICIENT_SCOPE")

    @pytest.mark.parametrize("path", ["/jobs", "/presets", "/jobs?status=COMPLETED"])
    def test_read_only_key_can_read(
        self, client: TestClient, headers: dict[str, str], path: str
    ) -> None:
        assert client.get(path, headers=headers).status_code == 200

    def test_read_only_key_reads_jobs_of_its_account(
        self, client: TestClient, headers: dict[str, str]
    ) -> None:
        response = client.get("/pipeline/job_doesnotexist0000", headers=headers)
        assert_error(response, 404, "JOB_NOT_FOUND")  # past the scope check: not 403

    def test_scope_is_checked_before_the_body(
        self, client: TestClient, headers: dict[str, str]
    ) -> None:
        response = client.post("/pipeline/run", content=b"not json", headers=headers)
        assert_error(response, 403, "INSUFFICIENT_SCOPE")

    def test_scope_is_checked_before_the_tier(
        self, client: TestClient, headers: dict[str, str]
    ) -> None:
        response = client.post("/pipeline/batch", json={"videos": []}, headers=headers)
        assert_error(response, 403, "INSUFFICIENT_SCOPE")

    class TestWithStrictKeys:
        @pytest.fixture
        def settings(self) -> Settings:
            return Settings(seed=7, strict_keys=True)

        def test_read_only_fixture_key_works_with_strict_keys(self, client: TestClient) -> None:
            headers = auth(READONLY_FIXTURE_KEY)
            assert client.get("/jobs", headers=headers).status_code == 200
            response = client.post("/pipeline/run", json=GUIDE_BODY, headers=headers)
            assert_error(response, 403, "INSUFFICIENT_SCOPE")


def test_error_request_id_equals_the_header_and_is_unique(client: TestClient) -> None:
    ids = set()
    for _ in range(5):
        response = client.get("/jobs")
        error = assert_error(response, 401, "MISSING_API_KEY")
        ids.add(error["request_id"])
    assert len(ids) == 5
