"""`aiprod-sandbox serve --fixtures DIR` with broken fixture files: every problem of every file,
one `file:line: field: message` a line, exit 2, no traceback; and fixed files start."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import StartSandbox
from tests.support.serve import CLI, clean_env

CLI_TIMEOUT = 10.0
READ_ONLY_KEY = "sk_test_fixture_reader_00001"
ACCOUNTS = f"""\
accounts:
  - account_id: acct_tuned
    tier: free
    limits:
      concurrent_jobs: 1
      requests_per_minute: fast
      speed: 3
    keys:
      - {{key: {READ_ONLY_KEY}, scopes: [jobs:read]}}
  - account_id: acct_other
    keys:
      - key: sk_test_fixture_other_000001
        scopes: [jobs:read, jobs:delete]
"""


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "serve", "--port", "0", *args],
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


def test_every_problem_is_one_line_and_serve_exits_2(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(ACCOUNTS, encoding="utf-8")
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text("tiers:\n  free: {concurrent_jobs: 2, batch: false}\n", encoding="utf-8")
    languages = tmp_path / "languages.yaml"
    languages.write_text("languages:\n\t- en\n", encoding="utf-8")
    done = serve("--fixtures", str(tmp_path))
    assert done.returncode == 2
    assert done.stdout == ""  # no ready line
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()  # nothing but the problems, one per line
    assert lines == [
        f"{languages}:2: (yaml): a tab: indent with spaces (YAML does not allow tabs there)",
        f"{accounts}:13: accounts[1].keys[0].scopes[1]: unknown scope 'jobs:delete'; known: "
        "jobs:read, jobs:write, webhooks:read, webhooks:write, keys:read, keys:write, usage:read, "
        "sandbox",
        f"{tiers}:1: tiers: missing pro, enterprise",  # checks across files come last
    ]


def test_bad_limits_are_refused_at_start_not_with_a_traceback(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(ACCOUNTS.replace("jobs:delete", "jobs:write"), encoding="utf-8")
    done = serve("--fixtures", str(tmp_path))
    assert (done.returncode, done.stdout) == (2, "")
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()  # nothing but the problems, one per line
    assert lines == [
        f"{accounts}:6: accounts[0].limits.requests_per_minute: Input should be a valid integer",
        f"{accounts}:7: accounts[0].limits.speed: unknown field",
    ]


def test_the_fixed_files_start_with_their_limits_and_scopes(
    tmp_path: Path, start_sandbox: StartSandbox, http: httpx.Client
) -> None:
    fixed = ACCOUNTS.replace("jobs:delete", "jobs:write").replace("      speed: 3\n", "")
    (tmp_path / "accounts.yaml").write_text(
        fixed.replace("requests_per_minute: fast", "requests_per_minute: 5"), encoding="utf-8"
    )
    server = start_sandbox("--fixtures", str(tmp_path), "--strict-keys")
    reader = {"Authorization": f"Bearer {READ_ONLY_KEY}"}
    assert http.get(f"{server.base_url}/jobs", headers=reader).status_code == 200
    refused = http.post(
        f"{server.base_url}/pipeline/run",
        json={"video_url": "https://example.com/a.mp4"},
        headers=reader,
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
