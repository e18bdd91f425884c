"""Secrets cannot be computed: the attack of the security review, against real servers.

Before, `callback_secret`, `whsec_` secrets and keys made by `POST /keys` came from the seeded
id stream (seed 0 unless set), and every result link carried the account id in clear: from one
result URL an attacker computed an account's `callback_secret` exactly and found its rotated
key in 538 guesses. Now secrets come from the operating system's random source, links name the
account by an HMAC under a per-server secret, and a link is only taken by the server (or the
servers sharing `--link-secret`) that made it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import ServerProcess, api, fresh_key, stop_and_check

JOB = {"video_url": "https://example.com/input.mp4"}
HOOK = {"url": "https://hooks.example.com/in", "events": ["job.completed"]}


@pytest.fixture(scope="module")
def twins() -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers with the same (default) seed: everything seeded is the same on both."""
    first, second = ServerProcess().start(), ServerProcess().start()
    yield first, second
    stop_and_check(first)
    stop_and_check(second)


def what_an_account_gets(server: ServerProcess, key: str) -> dict[str, str]:
    """An account's id and a job's id (seeded), and each kind of secret it is given."""
    account = api(server, "GET", "/_sandbox/account", key).json()
    return {
        "account_id": account["account_id"],
        "job_id": api(server, "POST", "/pipeline/run", key, JOB).json()["job_id"],
        "callback_secret": account["callback_secret"],
        "webhook_secret": api(server, "POST", "/webhooks/register", key, HOOK).json()["secret"],
        "made_key": api(server, "POST", "/keys", key, {"name": "rotated"}).json()["key"],
    }


def test_the_same_seed_and_key_give_other_secrets_on_another_server(
    twins: tuple[ServerProcess, ServerProcess],
) -> None:
    key = fresh_key()
    first, second = (what_an_account_gets(server, key) for server in twins)
    for seeded in ("account_id", "job_id"):  # ids stay deterministic per seed...
        assert first[seeded] == second[seeded]
    for secret in ("callback_secret", "webhook_secret", "made_key"):  # ...secrets never are
        assert first[secret] != second[secret]


def test_a_result_link_names_no_account_and_works_only_where_it_was_made(
    twins: tuple[ServerProcess, ServerProcess],
) -> None:
    key = fresh_key()
    for server in twins:
        api(server, "POST", "/pipeline/run", key, JOB)
    first, second = twins
    account_id = api(first, "GET", "/_sandbox/account", key).json()["account_id"]
    job = api(first, "GET", "/jobs?limit=1", key).json()["items"][0]
    link = urlsplit(job["result"]["video_url"])
    token = parse_qs(link.query)["token"][0]
    payload = token.split(".")[0]
    readable = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert account_id not in readable and account_id.removeprefix("acct_") not in readable
    assert api(first, "GET", f"{link.path}?{link.query}", None).status == 200
    # the second server has the same account and the same job id, but did not make the link
    refused = api(second, "GET", f"{link.path}?{link.query}", None)
    assert refused.status == 403
    assert refused.json()["error"]["code"] == "INVALID_SIGNATURE"


def test_servers_sharing_a_link_secret_take_each_others_links() -> None:
    first = ServerProcess("--link-secret", "shared-by-two-replicas").start()
    second = ServerProcess("--link-secret", "shared-by-two-replicas").start()
    try:
        key = fresh_key()
        for server in (first, second):
            api(server, "POST", "/pipeline/run", key, JOB)
        job = api(first, "GET", "/jobs?limit=1", key).json()["items"][0]
        link = urlsplit(job["result"]["video_url"])
        assert api(second, "GET", f"{link.path}?{link.query}", None).status == 200
    finally:
        stop_and_check(first)
        stop_and_check(second)
