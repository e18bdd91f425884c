"""`aiprod-sandbox jobs list|get` against a real `serve`, and what every client command does
when the sandbox refuses, is not there, or its reader goes away."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from tests.cli.conftest import Cli, command_env, refused
from tests.support.serve import SandboxProcess


def _submit(api: httpx.Client, name: str) -> str:
    made = api.post("/pipeline/run", json={"video_url": f"https://example.com/{name}.mp4"})
    assert made.status_code == 202, made.text
    job_id: str = made.json()["job_id"]
    return job_id


def test_list_shows_the_accounts_jobs(cli: Cli, api: httpx.Client) -> None:
    done_id, failed_id = _submit(api, "clip"), _submit(api, "fail_download")
    listed = cli("jobs", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1:] for line in listed.stdout.splitlines()[1:]}
    assert rows[done_id][0] == "COMPLETED"
    assert rows[failed_id][0] == "FAILED" and "DOWNLOAD_FAILED" in rows[failed_id]
    only = json.loads(cli("jobs", "list", "--status", "FAILED", "--json").stdout)
    assert [j["job_id"] for j in only["items"]] == [failed_id]
    assert only["pagination"]["total"] == 1


def test_get_shows_one_job(cli: Cli, api: httpx.Client) -> None:
    job_id = _submit(api, "fail_timeout")
    shown = cli("jobs", "get", job_id)
    assert shown.returncode == 0, shown.stderr
    assert "PROCESSING_TIMEOUT" in shown.stdout and job_id in shown.stdout
    whole = json.loads(cli("jobs", "get", job_id, "--json").stdout)
    assert whole == api.get(f"/jobs/{job_id}").json()


def test_an_unknown_job_is_the_sandboxs_404(cli: Cli) -> None:
    refused(cli("jobs", "get", "job_doesnotexist00"), "404 JOB_NOT_FOUND")


def test_a_bad_key_is_the_sandboxs_401(cli: Cli) -> None:
    done = cli("jobs", "list", env={"AIPROD_SANDBOX_KEY": "sk_live_abcdefghijklmnopqrst"})
    refused(done, "401 LIVE_KEY_IN_SANDBOX")


def test_no_sandbox_is_one_line_and_exit_1(cli: Cli) -> None:
    done = cli("jobs", "list", "--url", "http://127.0.0.1:9")
    refused(done, "no sandbox answered at http://127.0.0.1:9")


def test_flags_win_over_the_environment(cli: Cli, sandbox: SandboxProcess) -> None:
    env = {"AIPROD_SANDBOX_URL": "http://127.0.0.1:9"}  # nobody there
    done = cli("jobs", "list", "--json", "--url", sandbox.base_url, env=env)
    assert done.returncode == 0, done.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly(
    sandbox: SandboxProcess, key: str, api: httpx.Client
) -> None:
    """`aiprod-sandbox jobs list | head -1` with the reader gone before the first write."""
    for _ in range(3):
        _submit(api, "clip")
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "aiprod_sandbox", "jobs", "list"],
            env=command_env(sandbox, key),
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 1


def test_with_json_a_refusal_is_the_envelope_itself(cli: Cli) -> None:
    done = cli("jobs", "get", "job_doesnotexist00", "--json")
    assert done.returncode == 1 and done.stdout == ""
    error = json.loads(done.stderr)["error"]
    assert error["code"] == "JOB_NOT_FOUND" and error["request_id"].startswith("req_")


def test_on_a_terminal_a_table_with_times_relative_to_the_account_clock(
    cli: Cli, api: httpx.Client
) -> None:
    job_id = _submit(api, "clip")
    cli("clock", "freeze")
    cli("clock", "advance", "2h")
    done = cli("jobs", "list", env={"FORCE_COLOR": "1", "COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    assert "┃" in done.stdout and job_id in done.stdout
    assert "2h ago" in done.stdout  # the account's clock, two hours on
    assert "\x1b[32mCOMPLETED" in done.stdout
