"""The guide's "Code Examples" (Python requests, Node fetch, curl + jq) against a real server.

The programs live in `guide/`, copied from the guide byte for byte except the two constant
lines, which read the key and base URL from `AIPROD_API_KEY` and `AIPROD_BASE_URL`: a partner
changes exactly those two lines to point their code at the sandbox. `test_copies_match_guide`
checks the copies have not drifted when the guide is at hand.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.guide import guide_path
from tests.support.serve import SandboxProcess, clean_env

GUIDE_DIR = Path(__file__).parent / "guide"
GUIDE_FILE = guide_path()
RUN_TIMEOUT = 30.0  # the Node example sleeps 10 s after its last poll

# file, guide heading, fence language, the two lines as the guide writes them
EXAMPLES = {
    "python_example.py": (
        "### Python (requests)",
        "python",
        ('API_KEY = "sk_live_xxxxxxxxxxxxxxxx"', 'BASE_URL = "https://api.aiprod.ai"'),
    ),
    "node_example.mjs": (
        "### Node.js (fetch)",
        "javascript",
        (
            'const API_KEY = "sk_live_xxxxxxxxxxxxxxxx";',
            'const BASE_URL = "https://api.aiprod.ai";',
        ),
    ),
    "curl_example.sh": (
        "### cURL",
        "bash",
        ('API_KEY="sk_live_xxxxxxxxxxxxxxxx"', 'BASE_URL="https://api.aiprod.ai"'),
    ),
}


def require_tool(name: str) -> str:
    """The tool's path; a missing tool fails the test (CI installs it), it never skips."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is required by the guide's examples but is not installed")
    return path


def run_example(argv: list[str], server: SandboxProcess, key: str) -> str:
    """Run one example program against `server` and return its stdout (it must exit 0)."""
    env = clean_env({"AIPROD_API_KEY": key, "AIPROD_BASE_URL": server.base_url})
    try:
        done = subprocess.run(
            argv,
            cwd=GUIDE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{argv} did not finish within {RUN_TIMEOUT} s\n"
            f"stdout:\n{exc.stdout!r}\nstderr:\n{exc.stderr!r}\nserver stderr:\n{server.stderr()}"
        )
    assert done.returncode == 0, (
        f"{argv} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    return done.stdout


def check_transcript(
    stdout: str, server: SandboxProcess, http: httpx.Client, result_label: str
) -> None:
    """Submitted, COMPLETED on the poll, and the printed link downloads an MP4."""
    lines = stdout.splitlines()
    submitted = [line for line in lines if line.startswith("Job submitted: ")]
    assert len(submitted) == 1, stdout
    assert re.fullmatch(r"Job submitted: job_\w+", submitted[0]), stdout
    assert "Status: COMPLETED" in lines, stdout
    assert not any(line.startswith("Error:") for line in lines), stdout
    results = [line for line in lines if line.startswith(f"{result_label}: ")]
    assert len(results) == 1, stdout
    url = results[0].removeprefix(f"{result_label}: ")
    assert url.startswith(f"{server.base_url}/"), url
    download = http.get(url)
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "video/mp4"
    assert download.content[4:8] == b"ftyp"


def test_python_requests_example(
    sandbox: SandboxProcess, fresh_key: str, http: httpx.Client
) -> None:
    stdout = run_example([sys.executable, "python_example.py"], sandbox, fresh_key)
    check_transcript(stdout, sandbox, http, "Result")


def test_curl_jq_example(sandbox: SandboxProcess, fresh_key: str, http: httpx.Client) -> None:
    require_tool("jq")
    require_tool("curl")
    stdout = run_example([require_tool("bash"), "curl_example.sh"], sandbox, fresh_key)
    check_transcript(stdout, sandbox, http, "Video")


def test_node_fetch_example(sandbox: SandboxProcess, fresh_key: str, http: httpx.Client) -> None:
    stdout = run_example([require_tool("node"), "node_example.mjs"], sandbox, fresh_key)
    check_transcript(stdout, sandbox, http, "Video")


def _guide_block(guide: str, heading: str, language: str) -> str:
    start = guide.index(f"\n{heading}\n")
    match = re.compile(rf"^```{language}\n(.*?)^```$", re.S | re.M).search(guide, start)
    assert match is not None, f"no ```{language} block after {heading!r} in the guide"
    return match.group(1)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_copies_match_guide(name: str) -> None:
    """Every line but the two constants is the guide's, byte for byte."""
    if not GUIDE_FILE.is_file():
        pytest.skip(f"the guide is not at {GUIDE_FILE} (set AIPROD_GUIDE to check the copies)")
    heading, language, constants = EXAMPLES[name]
    expected = _guide_block(GUIDE_FILE.read_text(encoding="utf-8"), heading, language)
    actual = (GUIDE_DIR / name).read_text(encoding="utf-8")
    expected_lines, actual_lines = expected.split("\n"), actual.split("\n")
    assert len(actual_lines) == len(expected_lines)
    differing = [
        (want, got) for want, got in zip(expected_lines, actual_lines, strict=True) if want != got
    ]
    assert [want for want, _ in differing] == list(constants)
    for _, got in differing:
        assert "AIPROD_API_KEY" in got or "AIPROD_BASE_URL" in got, got
