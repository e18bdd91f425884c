"""Every way a URL enters meets the one address policy, against a real server started as a
partner starts it (no `--deny-private-webhooks`).

Before: webhook registration refused link-local and metadata addresses, but a job's
`callback_url` (submit, batch, `PUT /jobs`, state import) was never checked, and without
`--deny-private-webhooks` the sender checked nothing at send time: the sandbox POSTed signed
events to 169.254.169.254 and kept 2 KiB of the answer where the account reads it.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ServerProcess, api, assert_envelope, fresh_key

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:a9fe:a9fe::]/",  # 6to4
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud
    "http://[fe80::1]:8080/hook",
]
JOB = {"video_url": "https://example.com/input.mp4"}


def refused(response: Any, field: str) -> None:
    error = assert_envelope(response, 403, "URL_NOT_ALLOWED")
    assert field in error["details"], error


@pytest.mark.parametrize("url", METADATA_URLS)
def test_a_metadata_callback_url_is_refused_wherever_it_enters(
    server: ServerProcess, url: str
) -> None:
    key = fresh_key()
    refused(api(server, "POST", "/pipeline/run", key, {**JOB, "callback_url": url}), "callback_url")
    batch = {"videos": [{"url": JOB["video_url"]}, {"url": JOB["video_url"], "callback_url": url}]}
    refused(api(server, "POST", "/pipeline/batch", key, batch), "videos[1].callback_url")
    pending = api(
        server, "POST", "/pipeline/run", key, {"video_url": "https://e.com/stay_pending.mp4"}
    )
    job_id = pending.json()["job_id"]
    refused(api(server, "PUT", f"/jobs/{job_id}", key, {"callback_url": url}), "callback_url")
    state = {"jobs": [{"status": "PENDING", "input": {**JOB, "callback_url": url}}]}
    refused(api(server, "PUT", "/_sandbox/state", key, state), "jobs[0].input.callback_url")
    hooks = {"webhooks": [{"url": url, "events": ["job.completed"]}]}
    refused(api(server, "PUT", "/_sandbox/state", key, hooks), "webhooks[0].url")
    registered = api(
        server, "POST", "/webhooks/register", key, {"url": url, "events": ["job.failed"]}
    )
    refused(registered, "url")
    # nothing was made: one pending job (the one above), no webhook, no delivery
    assert api(server, "GET", "/jobs", key).json()["pagination"]["total"] == 1
    assert api(server, "GET", "/webhooks", key).json()["pagination"]["total"] == 0
    assert api(server, "GET", "/_sandbox/deliveries", key).json()["items"] == []


def test_private_and_loopback_callbacks_are_fine_by_default(server: ServerProcess) -> None:
    """It is a sandbox: a partner's receiver on 127.0.0.1 or a private network is the point."""
    key = fresh_key()
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://100.64.0.9/hook"):
        assert api(server, "POST", "/pipeline/run", key, {**JOB, "callback_url": url}).status == 202
