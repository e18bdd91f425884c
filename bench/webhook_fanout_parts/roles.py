"""The two children bench/webhook_fanout.py starts as itself in another role (`--role`), and
how it starts them and reads them.

- receiver: a counting webhook receiver on 127.0.0.1 and a free port, answering every POST
  after `--slow-delay` seconds (0: at once); GET /count says what it got.
- probe: GET /jobs/{id} every `--interval` seconds over one keep-alive connection, in a process
  of its own so that the submitters' threads do not share its GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from harness.client import Client
from harness.fleet import Fleet
from harness.processes import BENCH, python_script, read_line

HOST = "127.0.0.1"
KEY = "sk_test_ent_bench_webhook_fanout_0001"  # the fan-out account: 3 webhooks
SCRIPT = BENCH / "webhook_fanout.py"


# ---- in the children ----------------------------------------------------------------------------
def run_receiver(delay: float) -> None:
    """A counting webhook receiver on 127.0.0.1 and a free port; GET /count reports."""
    import uvicorn

    seen: set[str] = set()
    state: dict[str, Any] = {"count": 0, "retries": 0, "first": None, "last": None}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            headers = dict(scope["headers"])
            now = time.monotonic()
            state["count"] += 1
            state["first"] = state["first"] or now
            state["last"] = now
            seen.add(headers.get(b"x-aiprod-delivery", b"").decode())
            if headers.get(b"x-aiprod-attempt", b"1") != b"1":
                state["retries"] += 1
            if delay:
                await asyncio.sleep(delay)
            payload = b'{"ok":true}'
        else:
            payload = json.dumps({**state, "unique": len(seen)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    config = uvicorn.Config(
        app, host=HOST, port=0, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"port {port}", flush=True)
        await task

    asyncio.run(main())


def run_probe(port: int, job_id: str, interval: float, count: int) -> None:
    """GET /jobs/{id} every `interval` s: `count` times, or (count 0) until stdin says stop.
    Prints `ready` after a warm-up, then one JSON line: [[t_monotonic, seconds, status], ...]."""
    conn = Client(port, KEY)
    for _ in range(20):
        conn.call("GET", f"/jobs/{job_id}")
    stopping = threading.Event()

    def until_told() -> None:
        sys.stdin.readline()
        stopping.set()

    if count == 0:
        threading.Thread(target=until_told, daemon=True).start()
    print("ready", flush=True)
    samples: list[tuple[float, float, int]] = []
    path = f"/jobs/{job_id}"
    next_at = time.perf_counter()
    while not stopping.is_set() and (count == 0 or len(samples) < count):
        started = time.perf_counter()
        status = conn.call("GET", path).status
        ended = time.perf_counter()
        samples.append((time.monotonic(), ended - started, status))
        next_at += interval
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            next_at = time.perf_counter()  # fell behind: no catch-up burst
    conn.close()
    print(json.dumps(samples), flush=True)


# ---- in the bench -------------------------------------------------------------------------------
def start_receiver(fleet: Fleet, delay: float) -> int:
    process = fleet.spawn(
        python_script(SCRIPT, "--role", "receiver", "--slow-delay", str(delay)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    line = read_line(process, 20).decode()
    if not line.startswith("port "):
        raise RuntimeError(f"receiver said {line!r}")
    return int(line.split()[1])


def receiver_count(port: int) -> dict[str, Any]:
    with Client(port, timeout=5) as receiver:
        return dict(receiver.call("GET", "/count").body)


def start_probe(
    fleet: Fleet, port: int, job_id: str, interval: float, count: int
) -> subprocess.Popen[bytes]:
    process = fleet.spawn(
        python_script(
            SCRIPT,
            "--role",
            "probe",
            "--port",
            str(port),
            "--job",
            job_id,
            "--interval",
            str(interval),
            "--count",
            str(count),
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    if read_line(process, 20).strip() != b"ready":
        raise RuntimeError("the probe did not start")
    return process


def probe_result(process: subprocess.Popen[bytes], timeout: float) -> list[list[float]]:
    if process.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(b"stop\n")
            process.stdin.flush()
    return list(json.loads(read_line(process, timeout)))


def wait_for_deliveries(
    receivers: Sequence[int], expected: int, deadline: float
) -> tuple[list[dict[str, Any]], float | None]:
    """Poll the receivers until each has `expected` deliveries or the deadline passes;
    (their last counts, when the two fast ones were complete)."""
    fast_done_at: float | None = None
    while True:
        counts = [receiver_count(p) for p in receivers]
        got = [c["count"] for c in counts]
        if fast_done_at is None and got[0] >= expected and got[1] >= expected:
            fast_done_at = time.monotonic()
        if min(got) >= expected or time.monotonic() >= deadline:
            return counts, fast_done_at
        time.sleep(0.1)
