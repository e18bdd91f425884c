"""External mode on a long-lived, shared server: a rerun starts clean whatever the previous
run did to its keys; two sessions at once never see each other; a failing test's report names
its key (its account is kept for the console), and a passing test leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from aiprod_sandbox.testing.plugin import _key as plugin_key

from .conftest import INNER_ARGS, INNER_TIMEOUT, UNRELATED_PLUGINS, Inner

ROTATES = """
    import os

    def test_rotates_its_own_key(aiprod_account):
        # The guide's monthly rotation: a new key, switch to it, revoke the old one.
        assert aiprod_account.client.get("/jobs").json()["pagination"]["total"] == 0
        aiprod_account.submit()
        made = aiprod_account.client.post("/keys", json={"name": "next"})
        assert made.status_code == 201
        new = made.json()["key"]
        old = next(k for k in aiprod_account.client.get("/keys").json()["items"]
                   if k["name"] == "Default key")
        headers = {"Authorization": f"Bearer {new}"}
        revoked = aiprod_account.client.delete(f"/keys/{old['key_id']}", headers=headers)
        assert revoked.status_code == 200
        assert aiprod_account.client.get("/jobs").json()["error"]["code"] == "KEY_REVOKED"
        narrowed = aiprod_account.client.post(
            "/keys", json={"name": "ro", "scopes": ["jobs:read"]}, headers=headers
        )
        assert narrowed.status_code == 201
        assert not os.environ.get("FAIL_AFTER_ROTATION"), "a failure keeps the account as is"
"""


def _server_keys(base_url: str, key: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{base_url}/keys", headers={"Authorization": f"Bearer {key}"})
    return list(answer.json().get("items", []))


@pytest.mark.parametrize("pinned", [True, False], ids=["run-id-pinned", "run-id-random"])
def test_a_test_that_rotates_its_key_passes_again_on_the_same_server(
    inner: Inner, served: str, pinned: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--aiprod-sandbox-url", served]
    if pinned:
        args += ["--aiprod-sandbox-run-id", f"rotation-{os.getpid()}"]
    # The first run fails after rotating, so its account stays as the test left it: its
    # first key revoked, two more keys, one narrowed (a killed session leaves the same).
    monkeypatch.setenv("FAIL_AFTER_ROTATION", "1")
    first = inner.suite(*args, test_rotation=ROTATES)
    first.assert_outcomes(failed=1)
    monkeypatch.delenv("FAIL_AFTER_ROTATION")
    for _ in range(2):  # the same key when pinned: revoked by the run before
        inner.run(*args).assert_outcomes(passed=1)


SESSION = """
    import os
    import time
    from pathlib import Path

    def test_session_sees_only_its_own_jobs(aiprod_account):
        me, other = os.environ["ME"], os.environ["OTHER"]
        ids = {aiprod_account.submit(metadata={"session": me})["job_id"] for _ in range(5)}
        Path(me).touch()
        deadline = time.monotonic() + 30
        while not Path(other).exists():  # both sessions hold their accounts at once
            assert time.monotonic() < deadline, "the other session never got this far"
            time.sleep(0.02)
        more = {aiprod_account.submit(metadata={"session": me})["job_id"] for _ in range(5)}
        listed = aiprod_account.client.get("/jobs", params={"limit": 100}).json()
        assert {job["job_id"] for job in listed["items"]} == ids | more
        assert {job["metadata"]["session"] for job in listed["items"]} == {me}
        Path(me + ".done").touch()
        while not Path(other + ".done").exists():  # neither empties its account early
            assert time.monotonic() < deadline
            time.sleep(0.02)
"""


def test_two_sessions_at_once_never_share_an_account(
    pytester: pytest.Pytester, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIPROD_SANDBOX_RUN_ID", raising=False)
    pytester.makepyfile(test_session=SESSION)
    blocked = [f"-pno:{name}" for name in UNRELATED_PLUGINS]
    command = [sys.executable, "-m", "pytest", *INNER_ARGS, *blocked, "-q"]
    command += ["--aiprod-sandbox-url", served]
    runs = []
    for me, other in (("one", "two"), ("two", "one")):
        env = {**os.environ, "ME": str(pytester.path / me), "OTHER": str(pytester.path / other)}
        runs.append(
            subprocess.Popen(command, cwd=pytester.path, env=env, stdout=subprocess.PIPE, text=True)
        )
    outputs = [run.communicate(timeout=INNER_TIMEOUT)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
        assert "1 passed" in output


FAILS = """
    def test_fails_after_making_a_job(aiprod_account):
        aiprod_account.submit()
        print("KEY", aiprod_account.key)
        assert False, "the partner's assertion"

    def test_passes_after_making_a_job(aiprod_account):
        aiprod_account.submit()
        print("KEY", aiprod_account.key)
"""


def test_a_failing_test_names_its_key_and_keeps_its_account(inner: Inner, served: str) -> None:
    result = inner.suite("-s", "--aiprod-sandbox-url", served, test_fails=FAILS)
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    failing, passing = re.findall(r"KEY (sk_test_\w+)", output)
    result.stdout.fnmatch_lines(
        [
            "*- AIPROD Sandbox account -*",
            f"key {failing}",
            f"console {served}/_sandbox/ui (sign in with the key)",
            "rerun with the same keys: --aiprod-sandbox-run-id *",
        ]
    )
    assert passing not in output.split("AIPROD Sandbox account", 1)[1]  # only the failing one
    headers = {"Authorization": f"Bearer {failing}"}
    kept = httpx.get(f"{served}/jobs", headers=headers).json()
    assert kept["pagination"]["total"] == 1  # the failing test's account, for the console
    emptied = httpx.get(f"{served}/jobs", headers={"Authorization": f"Bearer {passing}"}).json()
    assert emptied["pagination"]["total"] == 0  # a passing test leaves nothing behind
    assert len(_server_keys(served, passing)) == 1


def test_the_run_id_comes_from_the_environment_too(
    inner: Inner, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIPROD_SANDBOX_RUN_ID", "from-env")
    result = inner.suite("--aiprod-sandbox-url", served, test_one="def test_x(): pass")
    result.stdout.fnmatch_lines([f"aiprod-sandbox: {served}, run id from-env *"])
    option = inner.run("--aiprod-sandbox-url", served, "--aiprod-sandbox-run-id", "opt")
    option.stdout.fnmatch_lines([f"aiprod-sandbox: {served}, run id opt *"])  # the option wins


def test_xdist_workers_share_the_controllers_run_id(inner: Inner, served: str) -> None:
    inner.pytester.makepyfile(
        test_keys="""
        import json, os
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_key(aiprod_account, request, n):
            with open(f"keys-{n}.json", "w") as out:
                json.dump([request.node.nodeid, os.environ["PYTEST_XDIST_WORKER"],
                           aiprod_account.key], out)
        """
    )
    result = inner.run(
        "-n",
        "2",
        "--aiprod-sandbox-url",
        served,
        "--aiprod-sandbox-run-id",
        "xd",
        keep=("xdist",),
    )
    result.assert_outcomes(passed=4)
    seen = [json.loads(path.read_text()) for path in Path(inner.pytester.path).glob("keys-*")]
    assert {worker for _, worker, _ in seen} == {"gw0", "gw1"}
    for nodeid, worker, key in seen:  # each worker derived its keys from the run id "xd"
        assert key == plugin_key(nodeid, "pro", worker, "xd")
