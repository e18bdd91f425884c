"""The HAR export opens in a browser's tools: Chromium (through Playwright's HAR router, the
same parser that reads a HAR saved from the network panel) replays a job read from the file
the sandbox exported, answering as the sandbox did without asking it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.console.conftest import fresh_key
from tests.support.serve import SandboxProcess


def test_chromium_replays_the_exported_har(
    browser: Any, sandbox: SandboxProcess, tmp_path: Path
) -> None:
    key = fresh_key("sk_test_pro_")
    with httpx.Client(
        base_url=sandbox.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        job_id = client.post(
            "/pipeline/run", json={"video_url": "https://example.com/in.mp4"}
        ).json()["job_id"]
        read = client.get(f"/pipeline/{job_id}")
        assert read.status_code == 200
        har = client.get("/_sandbox/har").json()
    path = tmp_path / "account.har"
    path.write_text(json.dumps(har), encoding="utf-8")

    context = browser.new_context()
    try:
        context.route_from_har(str(path), not_found="abort")
        page = context.new_page()
        # Asked live, without a key, this URL answers 401: the 200 and the job come from the file
        answer = page.goto(f"{sandbox.base_url}/pipeline/{job_id}")
        assert answer is not None and answer.status == 200
        assert json.loads(page.locator("body").inner_text())["job_id"] == job_id
        assert json.loads(page.locator("body").inner_text()) == read.json()
    finally:
        context.close()
    assert httpx.get(f"{sandbox.base_url}/pipeline/{job_id}").status_code == 401
