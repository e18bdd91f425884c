"""`aiprod-sandbox serve` as a process: help, version, flags and variables, bad configuration,
fixture overrides, signals, and `python -m aiprod_sandbox`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiprod_sandbox import __version__
from aiprod_sandbox.settings import OPTIONS
from tests.e2e.conftest import StartSandbox
from tests.support.serve import (
    CLI,
    READY_LINE,
    SandboxProcess,
    clean_env,
    http_client,
    random_key,
)

CLI_TIMEOUT = 10.0
JOB = {"video_url": "https://example.com/input.mp4", "voice_language": "en"}
BATCH = {"videos": [{"url": "https://example.com/a.mp4"}, {"url": "https://example.com/b.mp4"}]}
FIXTURE_KEY = "sk_test_example_pro_key_0001"  # fixtures/accounts.yaml
# The flags the contract and the docs promise; OPTIONS may grow, these must not go away.
DOCUMENTED_FLAGS = (
    "--host",
    "--port",
    "--seed",
    "--fixtures",
    "--public-url",
    "--strict-keys",
    "--default-tier",
    "--log-level",
    "--admin-token",
    "--clock",
    "--time-scale",
    "--start-time",
    "--job-timing",
)
OWN_PRESETS = """\
presets:
  - id: e2e_only_preset
    name: End-to-end preset
    description: Only this test's fixtures folder has it
    music_style: orchestral
    resolution: 1280x720
    base_duration_seconds: 30
    cost_per_minute: 0.25
    created_at: "2026-02-01T00:00:00Z"
"""


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command to completion (bounded); a server that starts by mistake is killed."""
    try:
        return subprocess.run(
            [str(CLI), *args],
            env=clean_env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"aiprod-sandbox {' '.join(args)} still running after {CLI_TIMEOUT} s: {exc}")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def completed_job(http: httpx.Client, server: SandboxProcess, key: str) -> dict[str, Any]:
    accepted = http.post(f"{server.base_url}/pipeline/run", json=JOB, headers=bearer(key))
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    job = http.get(f"{server.base_url}/pipeline/{job_id}", headers=bearer(key))
    assert job.status_code == 200, job.text
    body: dict[str, Any] = job.json()
    assert body["status"] == "COMPLETED", body
    return body


def assert_clean_failure(done: subprocess.CompletedProcess[str], *names: str) -> None:
    """Non-zero exit, no ready line, no traceback, and a message naming each of `names`."""
    assert done.stderr.strip(), "no message on stderr"
    assert done.returncode != 0
    assert "ready on" not in done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    for name in names:
        assert name in done.stderr, done.stderr


# --- help and version ---------------------------------------------------------------------


def test_serve_help_mentions_every_flag_and_its_variable() -> None:
    done = run_cli("serve", "--help")
    assert done.returncode == 0, done.stderr
    help_text = " ".join(done.stdout.split())  # argparse wraps long names across lines
    assert {option.flag for option in OPTIONS} >= set(DOCUMENTED_FLAGS)
    for option in OPTIONS:
        assert option.flag in help_text
        assert option.env in help_text.replace("- ", "-")


def test_top_level_help_lists_serve() -> None:
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"aiprod-sandbox {__version__}"


# --- the ready line and the default server --------------------------------------------------


def test_ready_line_names_a_working_url_version_and_key(
    sandbox: SandboxProcess, http: httpx.Client
) -> None:
    match = READY_LINE.match(sandbox.ready_line)
    assert match is not None
    assert match["version"] == __version__
    assert match["docs"] == f"{sandbox.base_url}/openapi.json"
    assert sandbox.port != 0
    health = http.get(f"{sandbox.base_url}/health")
    assert health.status_code == 200
    assert health.json()["version"] == __version__
    assert http.get(match["docs"]).status_code == 200
    presets = http.get(f"{sandbox.base_url}/presets", headers=bearer(sandbox.example_key))
    assert presets.status_code == 200, presets.text


def test_ready_line_is_the_only_stdout(sandbox: SandboxProcess, http: httpx.Client) -> None:
    completed_job(http, sandbox, random_key())
    code, _ = sandbox.stop()
    assert sandbox.later_stdout() == []
    assert code in (0, -signal.SIGTERM)  # the exit code itself: test_sigterm_exits_zero


def test_same_seed_same_answers(start_sandbox: StartSandbox, http: httpx.Client) -> None:
    key = random_key()
    first = completed_job(http, start_sandbox("--seed", "11"), key)
    second = completed_job(http, start_sandbox("--seed", "11"), key)
    other = completed_job(http, start_sandbox("--seed", "12"), key)
    assert first["job_id"] == second["job_id"]
    assert first["result"] is not None and second["result"] is not None
    for field in ("cost_estimate", "quality_score", "processing_time_seconds"):
        assert first["result"][field] == second["result"][field]
    assert other["job_id"] != first["job_id"]


def test_python_dash_m_serves(start_sandbox: StartSandbox, http: httpx.Client) -> None:
    server = start_sandbox(command=[sys.executable, "-m", "aiprod_sandbox", "serve"])
    assert http.get(f"{server.base_url}/health").status_code == 200
    completed_job(http, server, random_key())


def test_python_dash_m_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aiprod_sandbox", "--version"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"aiprod-sandbox {__version__}"


# --- configuration through variables, and flags over variables ------------------------------


def test_env_default_tier_free_refuses_batch(
    start_sandbox: StartSandbox, http: httpx.Client
) -> None:
    server = start_sandbox(env={"AIPROD_SANDBOX_DEFAULT_TIER": "free"})
    refused = http.post(
        f"{server.base_url}/pipeline/batch", json=BATCH, headers=bearer(random_key())
    )
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["type"] == "permission_error"
    assert error["code"] == "TIER_FEATURE_UNAVAILABLE"
    assert "Your tier does not support batch processing" in error["message"]


def test_flag_wins_over_env(start_sandbox: StartSandbox, http: httpx.Client) -> None:
    server = start_sandbox(
        "--default-tier",
        "pro",
        "--public-url",
        "http://flag.test:2",
        env={
            "AIPROD_SANDBOX_DEFAULT_TIER": "free",
            "AIPROD_SANDBOX_PUBLIC_URL": "http://env.test:1",
        },
    )
    key = random_key()
    accepted = http.post(f"{server.base_url}/pipeline/batch", json=BATCH, headers=bearer(key))
    assert accepted.status_code == 202, accepted.text
    assert len(accepted.json()["jobs"]) == 2
    job = completed_job(http, server, key)
    assert job["result"]["video_url"].startswith("http://flag.test:2/")


def test_env_strict_keys_rejects_unknown_keys(
    start_sandbox: StartSandbox, http: httpx.Client
) -> None:
    server = start_sandbox(env={"AIPROD_SANDBOX_STRICT_KEYS": "true"})
    refused = http.get(f"{server.base_url}/jobs", headers=bearer(random_key()))
    assert refused.status_code == 401, refused.text
    error = refused.json()["error"]
    assert error["type"] == "auth_error"
    assert error["code"] == "INVALID_API_KEY"
    assert error["request_id"] == refused.headers["x-request-id"]
    assert http.get(f"{server.base_url}/jobs", headers=bearer(FIXTURE_KEY)).status_code == 200
    # the key the ready line offers must work under strict keys too
    example = http.get(f"{server.base_url}/jobs", headers=bearer(server.example_key))
    assert example.status_code == 200, example.text


def test_without_strict_keys_unknown_keys_start_accounts(
    sandbox: SandboxProcess, http: httpx.Client
) -> None:
    assert http.get(f"{sandbox.base_url}/jobs", headers=bearer(random_key())).status_code == 200


def test_public_url_sets_result_links(start_sandbox: StartSandbox, http: httpx.Client) -> None:
    server = start_sandbox("--public-url", "http://sandbox.test:9999")
    job = completed_job(http, server, random_key())
    link = httpx.URL(job["result"]["video_url"])
    assert str(link).startswith("http://sandbox.test:9999/")
    # the same path and signature still download from where the server really listens
    local = httpx.URL(server.base_url).copy_with(path=link.path, query=link.query)
    video = http.get(local)
    assert video.status_code == 200, video.text
    assert video.content[4:8] == b"ftyp"


# --- bad configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--port", "abc"),
        ("--port", "70000"),
        ("--seed", "seven"),
        ("--job-timing", "weird"),
        ("--default-tier", "gold"),
        ("--clock", "sundial"),
        ("--log-level", "loud"),
        ("--time-scale", "0"),
        ("--start-time", "2026-02-30T00:00:00Z"),
        ("--start-time", "2026-02-01T00:00:00"),  # no UTC offset
    ],
)
def test_bad_flag_value_exits_with_a_clear_message(flag: str, value: str) -> None:
    done = run_cli("serve", "--port", "0", flag, value)
    assert_clean_failure(done, f"error: argument {flag}: ")
    assert done.returncode == 2


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AIPROD_SANDBOX_JOB_TIMING", "weird"),
        ("AIPROD_SANDBOX_PORT", "abc"),
        ("AIPROD_SANDBOX_STRICT_KEYS", "maybe"),
    ],
)
def test_bad_env_value_exits_with_a_clear_message(variable: str, value: str) -> None:
    port = {} if variable == "AIPROD_SANDBOX_PORT" else {"AIPROD_SANDBOX_PORT": "0"}
    done = run_cli("serve", env={**port, variable: value})
    assert_clean_failure(done, variable, value)
    assert done.returncode == 2


def test_a_flag_wins_over_a_bad_variable_of_the_same_setting(
    start_sandbox: StartSandbox, http: httpx.Client
) -> None:
    """The variable is never read when its flag is given, so it cannot spoil the start."""
    server = start_sandbox(env={"AIPROD_SANDBOX_PORT": "abc"})  # the fixture passes --port 0
    assert http.get(f"{server.base_url}/health").status_code == 200


def test_unknown_flag_exits_non_zero() -> None:
    done = run_cli("serve", "--port", "0", "--no-such-flag")
    assert_clean_failure(done, "--no-such-flag")


def test_broken_presets_yaml_exits_2_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "presets.yaml"
    broken.write_text("presets:\n  - id: x\n   name: [unclosed\n", encoding="utf-8")
    done = run_cli("serve", "--port", "0", "--fixtures", str(tmp_path))
    assert_clean_failure(done, str(broken))
    assert done.returncode == 2


def test_invalid_preset_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "presets.yaml"
    bad.write_text(OWN_PRESETS.replace("    name: End-to-end preset\n", ""), encoding="utf-8")
    done = run_cli("serve", "--port", "0", "--fixtures", str(tmp_path))
    assert_clean_failure(done, str(bad), "name")
    assert done.returncode == 2


def test_missing_fixtures_folder_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    done = run_cli("serve", "--port", "0", "--fixtures", str(missing))
    assert_clean_failure(done, str(missing))
    assert done.returncode == 2


def test_own_presets_replace_the_shipped_ones(
    tmp_path: Path, start_sandbox: StartSandbox, http: httpx.Client
) -> None:
    (tmp_path / "presets.yaml").write_text(OWN_PRESETS, encoding="utf-8")
    server = start_sandbox("--fixtures", str(tmp_path))
    key = random_key()
    presets = http.get(f"{server.base_url}/presets", headers=bearer(key))
    assert presets.status_code == 200, presets.text
    body = presets.json()
    assert [item["id"] for item in body["items"]] == ["e2e_only_preset"]
    assert body["pagination"]["total"] == 1
    ours = http.post(
        f"{server.base_url}/pipeline/run",
        json={**JOB, "preset": "e2e_only_preset"},
        headers=bearer(key),
    )
    assert ours.status_code == 202, ours.text
    shipped = http.post(
        f"{server.base_url}/pipeline/run",
        json={**JOB, "preset": "brand_campaign"},
        headers=bearer(key),
    )
    assert shipped.status_code == 400, shipped.text
    assert "preset" in shipped.json()["error"]["details"]


def test_fixtures_from_env(tmp_path: Path, start_sandbox: StartSandbox, http: httpx.Client) -> None:
    (tmp_path / "presets.yaml").write_text(OWN_PRESETS, encoding="utf-8")
    server = start_sandbox(env={"AIPROD_SANDBOX_FIXTURES": str(tmp_path)})
    presets = http.get(f"{server.base_url}/presets", headers=bearer(random_key()))
    assert [item["id"] for item in presets.json()["items"]] == ["e2e_only_preset"]


# --- signals ------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_while_serving_exits_zero_quickly(
    sig: signal.Signals, start_sandbox: StartSandbox
) -> None:
    server = start_sandbox()
    # an idle keep-alive connection must not hold the shutdown up
    with http_client() as keep_alive:
        assert keep_alive.get(f"{server.base_url}/health").status_code == 200
        started = time.monotonic()
        code, _ = server.stop(sig, timeout=5.0)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
    stderr = server.stderr()
    assert code == 0, f"exit code {code} after {sig.name}\nstderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    assert "AIPROD Sandbox stopped" in stderr
