"""What the parts of bench/run.py share: the keys, the job body, a COMPLETED job to read, and
the record of a target met or missed (the command lines are install.py's)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.client import call
from harness.fleet import Server

ENT_KEY = "sk_test_ent_bench_enterprise_key_01"  # Enterprise: no rate limit, nothing throttled
SUBMIT = {  # the body of bench/wrk/post_run.lua
    "video_url": "https://example.com/video.mp4",
    "voice_text": "Hello world",
    "voice_language": "en",
    "music_style": "orchestral",
    "metadata": {"customer_id": "cust_123"},
}


@dataclass(frozen=True)
class Check:
    target: str
    figure: str
    met: bool


def completed_job(server: Server, key: str) -> str:
    """Submit one job with `key` and wait until it is COMPLETED; its id."""
    answer = call(server.port, "POST", "/pipeline/run", key, SUBMIT)
    if answer.status != 202:
        raise RuntimeError(
            f"{server.name}: POST /pipeline/run answered {answer.status}: {answer.body}"
        )
    job_id = str(answer.body["job_id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = call(server.port, "GET", f"/pipeline/{job_id}", key)
        if job.status == 200 and job.body["status"] == "COMPLETED":
            return job_id
        time.sleep(0.05)
    raise RuntimeError(f"{server.name}: job {job_id} not COMPLETED in 10 s")
