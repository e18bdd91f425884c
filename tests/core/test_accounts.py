"""Accounts and keys: authentication errors, one isolated account per new key, tiers from key
prefixes, fixture accounts, masking, deterministic ids and the bounded registry."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiprod_sandbox.api.auth import bearer_token
from aiprod_sandbox.core.accounts import Account
from aiprod_sandbox.core.catalog import Catalog, load_catalog
from aiprod_sandbox.core.deliveries import DELIVERY_KIND, Delivery
from aiprod_sandbox.core.jobs import JobInput, JobStatus
from aiprod_sandbox.core.journal import JournalEntry
from aiprod_sandbox.core.keys import SCOPES, ApiKey, mask_key
from aiprod_sandbox.core.registry import Accounts
from aiprod_sandbox.core.tiers import tier_of_key
from aiprod_sandbox.core.tokens import Tokens
from aiprod_sandbox.errors import (
    AuthError,
    KeyRevoked,
    LiveKeyInSandbox,
    MissingApiKey,
    RateLimited,
    ServiceUnavailable,
)
from aiprod_sandbox.settings import Settings
from tests.core.fakes import START, FakeWall

_serial = itertools.count(1)
PRO_FIXTURE_KEY = "sk_test_example_pro_key_0001"
READONLY_FIXTURE_KEY = "sk_test_example_readonly_0001"


def fresh_key(prefix: str = "sk_test_") -> str:
    return f"{prefix}core{next(_serial):016d}"


def bearer(key: str) -> str:
    return f"Bearer {key}"


def authenticate(accounts: Accounts, authorization: str | None) -> tuple[Account, ApiKey]:
    """As a request is let in: its header's key, its account, and never a revoked key."""
    account, key = accounts.identify(bearer_token(authorization))
    if key.revoked_at is not None:
        raise KeyRevoked()
    return account, key


def registry(catalog: Catalog, wall: FakeWall | None = None, **overrides: object) -> Accounts:
    return Accounts(Settings(seed=7).replace(**overrides).core(), catalog, wall or FakeWall())


# ---- authentication errors --------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, ""])
def test_no_header_is_a_missing_key(catalog: Catalog, header: str | None) -> None:
    with pytest.raises(MissingApiKey) as caught:
        authenticate(registry(catalog), header)
    assert (caught.value.status, caught.value.code) == (401, "MISSING_API_KEY")


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer    ",
        "sk_test_core0000000000000001",
        "Token sk_test_core0000000000000001",
    ],
)
def test_a_malformed_header_is_an_invalid_key(catalog: Catalog, header: str) -> None:
    with pytest.raises(AuthError) as caught:
        authenticate(registry(catalog), header)
    assert (caught.value.status, caught.value.type, caught.value.code) == (
        401,
        "auth_error",
        "INVALID_API_KEY",
    )


def test_a_malformed_header_is_not_reported_as_a_missing_key(catalog: Catalog) -> None:
    with pytest.raises(AuthError) as caught:
        authenticate(registry(catalog), "Basic dXNlcjpwYXNz")
    assert not isinstance(caught.value, MissingApiKey)


def test_a_live_key_is_refused_with_a_hint(catalog: Catalog) -> None:
    accounts = registry(catalog)
    before = len(accounts)
    secret = "sk_live_abcdefghijklmnopqrstuvwx"
    with pytest.raises(LiveKeyInSandbox) as caught:
        authenticate(accounts, bearer(secret))
    assert (caught.value.status, caught.value.code) == (401, "LIVE_KEY_IN_SANDBOX")
    assert "test key" in caught.value.message
    assert secret not in caught.value.message
    assert len(accounts) == before


@pytest.mark.parametrize(
    "secret",
    [
        "sk_test_short",
        "sk_test_has-a-dash-in-it-000",
        "sk_test_" + "é" * 16,
        "pk_test_abcdefghijklmnopqrstuvwx",
        "sk_test_abcdefghijklmnop extra",
    ],
)
def test_a_badly_formed_key_is_invalid_and_starts_no_account(catalog: Catalog, secret: str) -> None:
    accounts = registry(catalog)
    before = len(accounts)
    with pytest.raises(AuthError) as caught:
        authenticate(accounts, bearer(secret))
    assert type(caught.value) is AuthError
    assert caught.value.code == "INVALID_API_KEY"
    assert secret not in caught.value.message
    assert len(accounts) == before


def test_strict_keys_refuse_unknown_keys_but_accept_fixture_keys(catalog: Catalog) -> None:
    accounts = registry(catalog, strict_keys=True)
    before = len(accounts)
    secret = fresh_key()
    with pytest.raises(AuthError) as caught:
        authenticate(accounts, bearer(secret))
    assert caught.value.code == "INVALID_API_KEY"
    assert secret not in caught.value.message
    assert len(accounts) == before
    account, _ = authenticate(accounts, bearer(PRO_FIXTURE_KEY))
    assert account.account_id == "acct_example_pro"


def test_strict_keys_accept_keys_added_to_an_account(catalog: Catalog) -> None:
    accounts = registry(catalog, strict_keys=True)
    account, _ = authenticate(accounts, bearer(PRO_FIXTURE_KEY))
    secret = fresh_key()
    accounts.add_key(account, secret, "created through the API")
    assert authenticate(accounts, bearer(secret))[0] is account


def test_a_revoked_key_is_refused_and_the_accounts_other_keys_still_work(
    catalog: Catalog, wall: FakeWall
) -> None:
    accounts = registry(catalog, wall)
    first = fresh_key()
    account, key = authenticate(accounts, bearer(first))
    second = fresh_key()
    accounts.add_key(account, second, "rotation")
    key.revoked_at = account.now()
    with pytest.raises(KeyRevoked) as caught:
        authenticate(accounts, bearer(first))
    assert (caught.value.status, caught.value.code) == (401, "KEY_REVOKED")
    assert first not in caught.value.message
    assert authenticate(accounts, bearer(second))[0] is account


# ---- new keys, new accounts -------------------------------------------------------------------
def test_a_new_key_starts_an_account_and_the_same_key_finds_it_again(catalog: Catalog) -> None:
    accounts = registry(catalog)
    before = len(accounts)
    secret = fresh_key()
    account, key = authenticate(accounts, bearer(secret))
    assert len(accounts) == before + 1
    assert not account.fixture
    assert key.secret == secret and key.scopes == frozenset(SCOPES)
    assert account.keys == {key.key_id: key}
    again, same_key = authenticate(accounts, f"bearer   {secret}  ")
    assert again is account and same_key is key
    assert len(accounts) == before + 1


def test_different_keys_get_isolated_accounts(catalog: Catalog) -> None:
    accounts = registry(catalog)
    a, _ = authenticate(accounts, bearer(fresh_key()))
    b, _ = authenticate(accounts, bearer(fresh_key()))
    assert a.account_id != b.account_id
    assert a.clock is not b.clock and a.scheduler is not b.scheduler
    a.submit_job(JobInput("https://example.com/in.mp4"), {})
    assert len(a.jobs) == 1 and len(b.jobs) == 0
    a.clock.advance(100)
    assert a.now() == START + 100 and b.now() == START


@pytest.mark.parametrize(
    ("prefix", "default", "tier", "concurrent"),
    [
        ("sk_test_free_", "pro", "free", 2),
        ("sk_test_pro_", "free", "pro", 10),
        ("sk_test_ent_", "pro", "enterprise", 50),
        ("sk_test_", "pro", "pro", 10),
        ("sk_test_", "free", "free", 2),
        ("sk_test_", "enterprise", "enterprise", 50),
        ("sk_test_freebie_", "pro", "pro", 10),
    ],
)
def test_the_tier_of_a_new_account_follows_its_key_prefix(
    catalog: Catalog, prefix: str, default: str, tier: str, concurrent: int
) -> None:
    accounts = registry(catalog, default_tier=default)
    account, _ = authenticate(accounts, bearer(fresh_key(prefix)))
    assert account.tier == tier
    assert account.limits.concurrent_jobs == concurrent
    assert tier_of_key(prefix + "x" * 16, default) == tier


def test_fixture_keys_reach_fixture_accounts_with_their_scopes(catalog: Catalog) -> None:
    accounts = registry(catalog)
    expected = {
        "sk_test_example_pro_key_0001": ("acct_example_pro", "pro"),
        "sk_test_free_example_key_0001": ("acct_example_free", "free"),
        "sk_test_ent_example_key_00001": ("acct_example_enterprise", "enterprise"),
        READONLY_FIXTURE_KEY: ("acct_example_readonly", "pro"),
    }
    for secret, (account_id, tier) in expected.items():
        account, key = authenticate(accounts, bearer(secret))
        assert (account.account_id, account.tier, account.fixture) == (account_id, tier, True)
        assert key.name != "Default key"
        expected_scopes = {"jobs:read"} if secret == READONLY_FIXTURE_KEY else set(SCOPES)
        assert key.scopes == expected_scopes


def test_fixture_accounts_may_override_their_limits(tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(
        "accounts:\n"
        "  - account_id: acct_tuned\n"
        "    tier: free\n"
        "    limits: {concurrent_jobs: 3}\n"
        "    keys: [{key: sk_test_tuned_key_00000001, scopes: [usage:read]}]\n",
        encoding="utf-8",
    )
    accounts = registry(load_catalog(tmp_path))
    account, key = authenticate(accounts, bearer("sk_test_tuned_key_00000001"))
    assert account.limits.concurrent_jobs == 3
    assert account.limits.requests_per_minute == 10  # the rest is the tier's
    assert key.scopes == {"usage:read"}


def test_keys_are_stamped_on_the_accounts_clock(catalog: Catalog, wall: FakeWall) -> None:
    accounts = registry(catalog, wall, clock="manual", start_time=500.0)
    account, key = authenticate(accounts, bearer(fresh_key()))
    assert key.created_at == 500.0
    assert account.clock.mode == "manual"
    wall.step(60)
    assert account.now() == 500.0


def test_new_accounts_get_the_servers_clock_and_timing(catalog: Catalog, wall: FakeWall) -> None:
    accounts = registry(catalog, wall, time_scale=60.0, job_timing="simulated")
    account, _ = authenticate(accounts, bearer(fresh_key()))
    assert (account.clock.mode, account.clock.scale, account.job_timing) == (
        "scaled",
        60.0,
        "simulated",
    )
    wall.step(1)
    assert account.now() == START + 60


# ---- masking ----------------------------------------------------------------------------------
def test_mask_key_shows_the_prefix_and_last_four() -> None:
    assert mask_key("sk_test_abcdefghijklmnop1234") == "sk_test_…1234"
    assert mask_key("sk_live_abcdefghijklmnop9876") == "sk_live_…9876"
    assert mask_key("") == ""


def _revealed(masked: str) -> str:
    """What a masked key shows of the secret beyond the fixed prefixes and the ellipsis."""
    return re.sub(r"^(sk_test_|sk_live_|sk_)", "", masked).replace("…", "")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["sk_test_", "sk_live_", "sk_test_free_"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789_", max_size=40),
)
def test_a_masked_key_never_shows_more_than_its_last_four(prefix: str, rest: str) -> None:
    secret = prefix + rest
    shown = _revealed(mask_key(secret))
    assert len(shown) <= 4
    assert secret.endswith(shown)
    if len(rest) >= 8:
        assert shown == secret[-4:]


def test_a_masked_key_never_shows_its_start_whatever_the_key() -> None:
    secret = "partner-fixture-secret-0001"
    shown = _revealed(mask_key(secret))
    assert len(shown) <= 4 and secret.endswith(shown)


def test_api_keys_carry_their_masked_form(catalog: Catalog) -> None:
    secret = fresh_key()
    _, key = authenticate(registry(catalog), bearer(secret))
    assert key.masked == "sk_test_…" + secret[-4:]


# ---- deterministic ids ------------------------------------------------------------------------
def test_account_ids_are_deterministic_for_a_seed_and_secrets_are_not(catalog: Catalog) -> None:
    secret = fresh_key()
    first, first_key = authenticate(registry(catalog), bearer(secret))
    second, second_key = authenticate(registry(catalog), bearer(secret))
    assert first.account_id == second.account_id
    assert re.fullmatch(r"acct_[0-9a-f]+", first.account_id)
    assert first_key.key_id == second_key.key_id
    job_a = first.submit_job(JobInput("https://example.com/in.mp4"), {})
    job_b = second.submit_job(JobInput("https://example.com/in.mp4"), {})
    assert job_a.job_id == job_b.job_id
    assert job_a.plan == job_b.plan
    # Secrets come from the OS's random source: nobody computes them from the seed.
    assert re.fullmatch(r"whsec_[0-9a-f]{32}", first.callback_secret)
    assert first.callback_secret != second.callback_secret

    other_seed, _ = authenticate(registry(catalog, seed=8), bearer(secret))
    assert other_seed.account_id != first.account_id
    other_key, _ = authenticate(registry(catalog), bearer(fresh_key()))
    assert other_key.account_id != first.account_id


def test_secrets_come_from_the_injected_source(catalog: Catalog) -> None:
    given: list[str] = []

    def source() -> str:
        given.append(f"{len(given):032x}")
        return given[-1]

    accounts = Accounts(Settings(seed=7).core(), catalog, FakeWall(), tokens=Tokens(source))
    account, _ = authenticate(accounts, bearer(fresh_key()))
    assert account.callback_secret == "whsec_" + given[-1]
    assert accounts.create_key(account, "ci", None).secret == "sk_test_" + given[-1]


def test_an_accounts_ids_do_not_depend_on_other_accounts(catalog: Catalog) -> None:
    secret = fresh_key()
    quiet = registry(catalog)
    busy = registry(catalog)
    for _ in range(3):
        noisy, _ = authenticate(busy, bearer(fresh_key()))
        noisy.submit_job(JobInput("https://example.com/in.mp4"), {})
    alone, _ = authenticate(quiet, bearer(secret))
    crowded, _ = authenticate(busy, bearer(secret))
    assert [alone.ids.new("job") for _ in range(3)] == [crowded.ids.new("job") for _ in range(3)]


# ---- running due work -------------------------------------------------------------------------
def test_run_due_runs_the_accounts_work_in_time_order(catalog: Catalog, wall: FakeWall) -> None:
    accounts = registry(catalog, wall, clock="manual", start_time=0.0, job_timing="simulated")
    account, _ = authenticate(accounts, bearer(fresh_key()))
    seen: list[str] = []
    accounts.runner.connect_sender(
        lambda acct, delivery, at: seen.append(delivery.delivery_id) or "probed"
    )
    job = account.submit_job(JobInput("https://example.com/in.mp4"), {})
    account.deliveries.add(Delivery("p1", None, "http://x.test/", "job.started", None, b"{}", 0.0))
    account.scheduler.schedule(1.0, DELIVERY_KIND, "p1")
    assert account.run_due() == []  # nothing due at t=0 on a manual clock
    account.clock.advance(job.plan.queue_seconds)
    ran = account.run_due()
    assert [entry.action for entry in ran] == ["probed", "job.started"]
    assert [entry.at for entry in ran] == sorted(entry.at for entry in ran)
    assert seen == ["p1"]
    assert job.status == JobStatus.PROCESSING
    account.clock.advance(10_000)
    account.run_due()
    assert job.status == JobStatus.COMPLETED
    assert [event.event for event in account.events] == [
        "job.started",
        "job.progress",
        "job.progress",
        "job.progress",
        "job.completed",
    ]


def test_instant_jobs_complete_at_the_first_run(catalog: Catalog, wall: FakeWall) -> None:
    accounts = registry(catalog, wall, clock="manual", start_time=0.0)
    account, _ = authenticate(accounts, bearer(fresh_key()))
    job = account.submit_job(JobInput("https://example.com/in.mp4"), {})
    account.run_due()
    assert job.status == JobStatus.COMPLETED
    assert job.completed_at == 0.0


def test_a_free_account_processes_two_jobs_at_once(catalog: Catalog, wall: FakeWall) -> None:
    accounts = registry(catalog, wall, clock="manual", start_time=0.0, job_timing="simulated")
    account, _ = authenticate(accounts, bearer(fresh_key("sk_test_free_")))
    jobs = [account.submit_job(JobInput("https://example.com/in.mp4"), {}) for _ in range(4)]
    for _ in range(200):
        account.clock.advance(5)
        account.run_due()
        assert account.jobs.processing <= 2
    assert all(job.status == JobStatus.COMPLETED for job in jobs)


# ---- the bounded registry ---------------------------------------------------------------------
def test_past_max_accounts_the_least_recently_used_idle_empty_account_is_let_go(
    catalog: Catalog,
) -> None:
    wall = FakeWall()
    accounts = registry(catalog, wall, max_accounts=2, account_idle_seconds=60)
    key_a, key_b, key_c = fresh_key(), fresh_key(), fresh_key()
    a, _ = authenticate(accounts, bearer(key_a))
    b, _ = authenticate(accounts, bearer(key_b))
    with pytest.raises(ServiceUnavailable) as full:  # both in use a moment ago: no room
        authenticate(accounts, bearer(fresh_key()))
    assert full.value.headers["Retry-After"] == "60"
    wall.step(61)
    authenticate(accounts, bearer(key_a))  # a is used again: b is the least recently used
    c, _ = authenticate(accounts, bearer(key_c))
    assert accounts.get(b.account_id) is None and accounts.lookup(key_b) is None
    assert accounts.get(a.account_id) is a and accounts.get(c.account_id) is c
    assert all(accounts.get(spec.account_id) is not None for spec in catalog.accounts)
    # the key let go starts over with a fresh, empty account, once there is room again
    wall.step(61)
    again, _ = authenticate(accounts, bearer(key_b))
    assert again is not b and again.account_id == b.account_id
    assert len([account for account in accounts if not account.fixture]) == 2


def test_an_account_with_anything_in_it_is_never_let_go(catalog: Catalog) -> None:
    wall = FakeWall()
    accounts = registry(catalog, wall, max_accounts=2)
    busy, _ = authenticate(accounts, bearer(fresh_key()))
    busy.submit_job(JobInput("https://example.com/in.mp4"), {})
    rotated, _ = authenticate(accounts, bearer(fresh_key()))
    accounts.create_key(rotated, "second key", None)
    wall.step(24 * 3600)
    with pytest.raises(ServiceUnavailable):
        authenticate(accounts, bearer(fresh_key()))
    assert accounts.get(busy.account_id) is busy and len(busy.jobs) == 1
    assert accounts.get(rotated.account_id) is rotated


def test_a_client_opens_accounts_at_a_bounded_rate(catalog: Catalog) -> None:
    wall = FakeWall()
    accounts = registry(catalog, wall, new_accounts_burst=3, new_accounts_per_second=1.0)
    for _ in range(3):
        accounts.identify(fresh_key(), "10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        accounts.identify(fresh_key(), "10.0.0.1")
    assert refused.value.retry_after == 1
    accounts.identify(fresh_key(), "10.0.0.2")  # another client is not held back
    known = accounts.identify(next(iter(catalog.accounts)).keys[0].key, "10.0.0.1")
    assert known[0].fixture  # and keys already known always work
    wall.step(1)
    accounts.identify(fresh_key(), "10.0.0.1")


def test_an_account_let_go_drops_what_it_held_at_once(catalog: Catalog) -> None:
    wall = FakeWall()
    accounts = registry(catalog, wall, max_accounts=1, account_idle_seconds=0)
    gone, _ = authenticate(accounts, bearer(fresh_key()))
    gone.journal.append(JournalEntry("req_x", 0.0, "GET", "/jobs", "", 200, 1.0, "sk_test_…abcd"))
    wall.step(1)
    authenticate(accounts, bearer(fresh_key()))
    assert accounts.get(gone.account_id) is None
    assert not gone.journal and accounts.released == 1


def test_fixture_accounts_are_never_evicted_nor_counted(catalog: Catalog) -> None:
    wall = FakeWall()
    accounts = registry(catalog, wall, max_accounts=1, account_idle_seconds=0)
    for _ in range(5):
        wall.step(1)
        authenticate(accounts, bearer(fresh_key()))
    assert len(accounts) == len(catalog.accounts) + 1
    assert {account.account_id for account in accounts if account.fixture} == {
        spec.account_id for spec in catalog.accounts
    }


def test_a_new_key_is_served_even_when_fixture_accounts_fill_the_registry(
    catalog: Catalog,
) -> None:
    accounts = registry(catalog, max_accounts=1)
    secret = fresh_key()
    account, key = authenticate(accounts, bearer(secret))
    assert key.secret == secret
