"""The guide's own retry helpers against a real `aiprod-sandbox serve` in a scripted outage.

`make_request_with_retry` (Rate Limiting) and `handle_api_request` (Error Handling) are copied
from the guide byte for byte (guide_rate_limit.py, guide_error_handling.py; only the URL base
of the second changes) and run unchanged: they really sleep, as a partner's code would.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import auth, new_key
from tests.scenarios import guide_error_handling, guide_rate_limit
from tests.support.guide import guide_path
from tests.support.serve import SandboxProcess

GUIDE = guide_path()
HERE = Path(__file__).parent
pytestmark = pytest.mark.usefixtures("no_proxy")


def guide_block(heading: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(heading)
    found = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(
    ("file", "heading", "replace"),
    [
        ("guide_rate_limit.py", "### Handling Rate Limits", None),
        (
            "guide_error_handling.py",
            "### Error Handling Pattern",
            ('url = f"https://api.aiprod.ai/{endpoint}"', 'url = f"{BASE_URL}/{endpoint}"'),
        ),
    ],
)
def test_copies_are_the_guides_code(file: str, heading: str, replace: tuple[str, str] | None):
    if not GUIDE.is_file():
        pytest.skip(f"the guide is not at {GUIDE} (set AIPROD_GUIDE)")
    block = guide_block(heading)
    if replace is not None:
        assert block.count(replace[0]) == 1
        block = block.replace(*replace)
    copy = re.sub(r"  # noqa: [A-Z0-9, ]+$", "", (HERE / file).read_text(), flags=re.M)
    assert block in copy


class Sleeps:
    """Stands in for the `time` module of a guide copy: records each sleep, really sleeps."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.taken.append(seconds)
        time.sleep(seconds)


def recording(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> Sleeps:
    sleeps = Sleeps()
    monkeypatch.setattr(module, "time", sleeps)
    return sleeps


def control(server: SandboxProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=auth(key), timeout=10, trust_env=False)


def rules_fired(http: httpx.Client) -> list[tuple[int, list[str]]]:
    items = http.get("/_sandbox/requests").json()["items"]
    return [(item["status"], item["rules"]) for item in reversed(items)]


def test_make_request_with_retry_waits_out_a_rate_limit_storm(
    serve: Callable[..., SandboxProcess],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = serve("--scenario", "rate-limit-storm")
    key = new_key()
    sleeps = recording(monkeypatch, guide_rate_limit)
    started = time.monotonic()
    response = guide_rate_limit.make_request_with_retry(
        f"{server.base_url}/pipeline/run",
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        {"video_url": "https://example.com/input.mp4"},
    )
    took = time.monotonic() - started
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING"
    assert sleeps.taken == [1, 1, 1]
    assert took >= 3.0
    assert capsys.readouterr().out.splitlines() == ["Rate limited, waiting 1s..."] * 3
    with control(server, key) as http:
        assert http.get("/_sandbox/account").json()["server_scenarios"] == ["rate-limit-storm"]
        storm = ["rate-limit-storm:storm"]
        assert rules_fired(http) == [(429, storm), (429, storm), (429, storm), (202, [])]


def test_handle_api_request_retries_through_intermittent_500s(
    serve: Callable[..., SandboxProcess],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = serve()
    key = new_key()
    with control(server, key) as http:
        assert http.put("/_sandbox/scenario", json={"name": "intermittent-500s"}).status_code == 200
    monkeypatch.setattr(guide_error_handling, "API_KEY", key)
    monkeypatch.setattr(guide_error_handling, "BASE_URL", server.base_url)
    sleeps = recording(monkeypatch, guide_error_handling)
    result: Any = guide_error_handling.handle_api_request("jobs")
    assert result["items"] == [] and result["pagination"]["total"] == 0
    assert sleeps.taken == [1, 2]
    assert capsys.readouterr().out.splitlines() == [
        "Server error, attempt 1/3",
        "Server error, attempt 2/3",
    ]
    with control(server, key) as http:
        flaky = ["intermittent-500s:flaky"]
        assert rules_fired(http) == [(500, flaky), (500, flaky), (200, [])]


def test_handle_api_request_gives_up_during_an_outage_then_works_after_it(
    serve: Callable[..., SandboxProcess],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = serve("--clock", "manual")
    key = new_key()
    http = control(server, key)
    with http:
        assert http.put("/_sandbox/scenario", json={"name": "outage-503-window"}).status_code == 200
        monkeypatch.setattr(guide_error_handling, "API_KEY", key)
        monkeypatch.setattr(guide_error_handling, "BASE_URL", server.base_url)
        sleeps = recording(monkeypatch, guide_error_handling)
        with pytest.raises(Exception, match=r"^Failed after 3 attempts$"):
            guide_error_handling.handle_api_request("jobs")
        assert sleeps.taken == [1, 2, 4]
        assert capsys.readouterr().out.splitlines() == [
            f"Server error, attempt {n}/3" for n in (1, 2, 3)
        ]
        outage = ["outage-503-window:outage"]
        assert rules_fired(http) == [(503, outage)] * 3

        # 299 s into the outage it is still down; at 300 s it is over.
        assert http.post("/_sandbox/clock/advance", json={"seconds": 299}).status_code == 200
        still = http.get("/jobs")
        assert still.status_code == 503
        assert still.headers["Retry-After"] == "60"
        assert still.json()["error"]["type"] == "service_unavailable_error"
        assert http.post("/_sandbox/clock/advance", json={"seconds": 1}).status_code == 200
        sleeps.taken.clear()
        job = guide_error_handling.handle_api_request(
            "pipeline/run", {"video_url": "https://example.com/input.mp4"}
        )
        assert job["status"] == "PENDING" and job["job_id"].startswith("job_")
        assert guide_error_handling.handle_api_request("jobs")["pagination"]["total"] == 1
        assert sleeps.taken == []
