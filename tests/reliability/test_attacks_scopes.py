"""The review's remaining findings, each against a real server: keys and the control API,
jobs that never end, a clock set back, a YAML alias bomb, live keys blamed on an account."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.support.yaml_bomb import alias_bomb

from .conftest import (
    ServerProcess,
    api,
    assert_envelope,
    console_script,
    fresh_key,
    stop_and_check,
)

JOB = {"video_url": "https://example.com/input.mp4"}
PENDING = {"video_url": "https://example.com/stay_pending.mp4"}


def test_a_key_without_the_sandbox_scope_reaches_no_control_operation(
    server: ServerProcess,
) -> None:
    """Before: a `jobs:read` key read `callback_secret`, imported state and reset the account;
    a key with no scopes could wipe it."""
    owner = fresh_key()
    api(server, "POST", "/pipeline/run", owner, JOB)
    reader = api(server, "POST", "/keys", owner, {"name": "r", "scopes": ["jobs:read"]}).json()
    empty = api(server, "POST", "/keys", owner, {"name": "e", "scopes": []}).json()
    for key in (reader["key"], empty["key"]):
        for method, path, body in [
            ("GET", "/_sandbox/account", None),
            ("GET", "/_sandbox/state", None),
            ("PUT", "/_sandbox/state", {"jobs": []}),
            ("POST", "/_sandbox/reset", None),
        ]:
            error = assert_envelope(api(server, method, path, key, body), 403, "INSUFFICIENT_SCOPE")
            assert error["details"] == {"scope": "missing 'sandbox'"}
    assert api(server, "GET", "/jobs", owner).json()["pagination"]["total"] == 1  # untouched


def test_a_key_cannot_revoke_a_stronger_key(server: ServerProcess) -> None:
    owner = fresh_key()
    writer = api(server, "POST", "/keys", owner, {"name": "w", "scopes": ["keys:write"]}).json()
    strong = api(server, "POST", "/keys", owner, {"name": "s"}).json()
    refused = api(server, "DELETE", f"/keys/{strong['key_id']}", writer["key"])
    assert_envelope(refused, 403, "INSUFFICIENT_SCOPE")
    assert api(server, "GET", "/jobs", strong["key"]).status == 200


def test_jobs_that_never_end_meet_the_accounts_bound() -> None:
    """Before: a book forgot only ended jobs, so stay_pending jobs passed the bound."""
    server = ServerProcess("--max-jobs-per-account", "20").start()
    try:
        key = fresh_key()
        made = [api(server, "POST", "/pipeline/run", key, PENDING) for _ in range(20)]
        assert {answer.status for answer in made} == {202}
        refused = api(server, "POST", "/pipeline/run", key, PENDING)
        error = assert_envelope(refused, 429, "RATE_LIMIT_EXCEEDED")
        assert "none has ended" in error["message"] and refused.headers["retry-after"] == "60"
        assert api(server, "GET", "/jobs", key).json()["pagination"]["total"] == 20
        assert api(server, "POST", "/pipeline/run", fresh_key(), PENDING).status == 202
    finally:
        stop_and_check(server)


def test_a_clock_set_back_leaves_the_rate_limit_working(server: ServerProcess) -> None:
    """Before: an import could set the clock back, after which the bucket never refilled.
    The clock only moves forward now; a Free account waits its Retry-After and goes on."""
    key = fresh_key("free")
    ahead = {"settings": {"clock": {"mode": "manual", "now": "2031-01-01T00:00:00Z"}}}
    assert api(server, "PUT", "/_sandbox/state", key, ahead).status == 200
    statuses = [api(server, "GET", "/jobs", key).status for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    back = {"settings": {"clock": {"mode": "manual", "now": "2026-01-01T00:00:00Z"}}}
    assert api(server, "PUT", "/_sandbox/state", key, back).status == 200
    assert api(server, "GET", "/_sandbox/clock", key).json()["now"] == "2031-01-01T00:00:00Z"
    api(server, "POST", "/_sandbox/clock/advance", key, {"seconds": 6})
    assert api(server, "GET", "/jobs", key).status == 200


def test_a_yaml_alias_bomb_stops_no_server(tmp_path: Path) -> None:
    """Before: a scenario file of nested aliases took 3 GB and never finished validating."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    started = time.monotonic()
    done = subprocess.run(
        [str(console_script()), "serve", "--port", "0", "--scenario", str(bomb)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert time.monotonic() - started < 10
    assert done.returncode == 2 and done.stdout == ""
    assert "aliases expand this to more than 1,000,000 values" in done.stderr


def test_a_live_key_is_not_blamed_on_accounts_that_share_its_user_agent(
    server: ServerProcess,
) -> None:
    """Before: another client's live-key attempts showed in every account whose client
    sent the same User-Agent."""
    first, second = fresh_key(), fresh_key()
    for key in (first, second):
        assert api(server, "GET", "/jobs", key).status == 200
    live = api(server, "GET", "/jobs", "sk_live_" + "x" * 24)
    assert_envelope(live, 401, "LIVE_KEY_IN_SANDBOX")
    for key in (first, second):
        rules = [f["rule"] for f in api(server, "GET", "/_sandbox/advice", key).json()["items"]]
        assert "live-key-attempts" not in rules


def test_an_account_at_the_end_of_time_gets_out_by_a_reset(server: ServerProcess) -> None:
    """A clock stands still at the year 9000, and a manual clock anywhere: its bucket refills
    only when the clock moves. At the end of time it cannot; a reset gives the account its
    default clock and a full bucket back (the account locked only itself out)."""
    key = fresh_key("free")
    end = {"mode": "manual", "now": "8999-12-31T23:59:59Z"}
    assert api(server, "POST", "/_sandbox/clock", key, end).status == 200
    assert [api(server, "GET", "/jobs", key).status for _ in range(6)][-1] == 429
    assert api(server, "POST", "/_sandbox/clock/advance", key, {"seconds": 60}).status == 400
    assert api(server, "POST", "/_sandbox/reset", key).status == 200
    assert api(server, "GET", "/jobs", key).status == 200
