"""Webhook sending against its floor: bare client loops and the sandbox, one receiver, one run.

A trivial ASGI receiver (uvicorn, uvloop, httptools; it counts POSTs and answers `{}`) runs
pinned to core 1. Then, in turns, each pinned to core 0 alone:

  httpx    a bare loop of `httpx.AsyncClient` (uvloop, pool raised to the window) posting a
           webhook-sized signed body with `--inflight` requests in flight for `--seconds`;
  aiohttp  the same loop on one `aiohttp.ClientSession`;
  sandbox  `aiprod-sandbox serve` (manual clock, simulated jobs) holding `--jobs` jobs whose
           every event goes to one webhook on the receiver; moving its clock a day on makes
           all their deliveries due at once, and the receiver times the drain (first POST to
           last).

Each contender runs `--rounds` times, interleaved, with the load average noted before each
run; the table gives every run. Nothing leaves 127.0.0.1; every process is stopped at the end.

    .venv/bin/python bench/webhook_floor.py
    .venv/bin/python bench/webhook_floor.py --rounds 5 --jobs 1000 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from harness.client import Client
from harness.fleet import Fleet
from harness.machine import describe, headline
from harness.measuring import nearest_rank
from harness.processes import (
    pinned,
    python_script,
    read_line,
    ready_line,
    ready_url,
    sandbox_cli,
)
from harness.procfs import cpu_seconds, load_average

KEY = "sk_test_ent_bench_webhook_floor_0001"
EVENTS = ["job.started", "job.progress", "job.completed", "job.failed", "job.cancelled"]
BODY = json.dumps({"event": "job.completed", "data": {"job_id": "j" * 24, "pad": "x" * 400}})
HEADERS = {"Content-Type": "application/json", "X-AIPROD-Signature": "sha256=" + "0" * 64}
SENDER_CORE, RECEIVER_CORE = 0, 1


# ---- children ------------------------------------------------------------------------------
def run_receiver() -> None:
    """Count POSTs on 127.0.0.1 (a free port); GET /count says how many, first and last."""
    import uvicorn

    state: dict[str, Any] = {"count": 0, "first": None, "last": None}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        payload = b"{}"
        if scope["method"] == "POST":
            now = time.monotonic()
            state["count"] += 1
            state["first"] = state["first"] or now
            state["last"] = now
        elif scope["method"] == "DELETE":
            state.update(count=0, first=None, last=None)
        else:
            payload = json.dumps(state).encode()
        length = str(len(payload)).encode()
        head = [(b"content-type", b"application/json"), (b"content-length", length)]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": payload})

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, loop="uvloop", http="httptools", log_config=None,
        access_log=False, lifespan="off", backlog=4096,
    )  # fmt: skip
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        print(f"port {server.servers[0].sockets[0].getsockname()[1]}", flush=True)
        await task

    import uvloop

    uvloop.run(main())


async def post_loop(client: str, url: str, inflight: int, seconds: float) -> dict[str, float]:
    """`inflight` workers posting BODY to `url` for 0.5 s (warm-up) and then `seconds`."""
    data = BODY.encode()
    done, errors = [0], [0]
    stop_at = [0.0]
    if client == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=inflight, max_keepalive_connections=inflight)
        session: Any = httpx.AsyncClient(limits=limits, timeout=30)

        async def post() -> None:
            response = await session.post(url, content=data, headers=HEADERS)
            response.raise_for_status()
    else:
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=inflight))

        async def post() -> None:
            async with session.post(url, data=data, headers=HEADERS) as response:
                await response.read()
                response.raise_for_status()

    async def worker() -> None:
        while time.monotonic() < stop_at[0]:
            try:
                await post()
            except OSError:  # a kept-alive connection the receiver closed: not counted
                errors[0] += 1
                continue
            done[0] += 1

    async with session:
        stop_at[0] = time.monotonic() + 0.5
        await asyncio.gather(*(worker() for _ in range(inflight)))
        done[0] = 0
        started = time.monotonic()
        stop_at[0] = started + seconds
        await asyncio.gather(*(worker() for _ in range(inflight)))
        elapsed = time.monotonic() - started
    return {"deliveries": done[0], "errors": errors[0], "rate": done[0] / elapsed}


# ---- in the bench --------------------------------------------------------------------------
def receiver_state(port: int, method: str = "GET") -> dict[str, Any]:
    with Client(port, timeout=10) as receiver:
        return dict(receiver.call(method, "/count").body)


def run_loop(fleet: Fleet, client: str, port: int, args: argparse.Namespace) -> float:
    argv = [*(f"--{k}={v}" for k, v in (("inflight", args.inflight), ("seconds", args.seconds)))]
    command = python_script(__file__, "--role", client, f"--port={port}", *argv)
    process = fleet.spawn(pinned(SENDER_CORE, command), stdout=subprocess.PIPE)
    result = json.loads(read_line(process, args.seconds + 60))
    fleet.stop(process)
    return float(result["rate"])


def probe(api_port: int, job_id: str, seconds: float) -> list[float]:
    """GET /jobs/{id} latencies (s), one request every 5 ms for `seconds`."""
    latencies: list[float] = []
    with Client(api_port, KEY) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            client.call("GET", f"/jobs/{job_id}")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.005)
    return latencies


def run_sandbox(fleet: Fleet, port: int, args: argparse.Namespace) -> float:
    """Deliveries/s of a sandbox on one core draining every event of `--jobs` jobs; prints
    GET /jobs/{id} p50 idle and during the drain (a probe thread, one request per 5 ms)."""
    flags = ["--clock", "manual", "--job-timing", "simulated", "--webhook-timeout", "5"]
    command = pinned(SENDER_CORE, [sandbox_cli(), "serve", "--port", "0", *flags])
    server = fleet.spawn(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    api_port = int(ready_url(ready_line(server, 30)).rsplit(":", 1)[1])
    with Client(api_port, KEY) as api:
        hook = {"url": f"http://127.0.0.1:{port}/hook", "events": EVENTS}
        assert api.call("POST", "/webhooks/register", hook).status == 201
        for _ in range(args.jobs):
            job = {"video_url": "https://example.com/video.mp4"}
            answer = api.call("POST", "/pipeline/run", job)
            assert answer.status == 202
        job_id = str(answer.body["job_id"])
        idle = probe(api_port, job_id, 1.0)
        receiver_state(port, "DELETE")
        during: list[float] = []
        prober = threading.Thread(target=lambda: during.extend(probe(api_port, job_id, 0.6)))
        now = datetime.fromisoformat(api.call("GET", "/_sandbox/clock").body["now"])
        later = {"mode": "manual", "now": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        answer = api.call("POST", "/_sandbox/clock", later)  # steps every job: not timed
        assert answer.status == 200, answer.body
        cpu_from = cpu_seconds(server.pid)
        prober.start()  # the drain has begun: the attempts start once that answer is out
        prober.join()
    quiet_since, last_count = time.monotonic(), -1
    while time.monotonic() - quiet_since < 1.0:  # until a second passes with nothing new
        time.sleep(0.1)
        state = receiver_state(port)
        if state["count"] != last_count:
            quiet_since, last_count = time.monotonic(), state["count"]
    cpu = cpu_seconds(server.pid) - cpu_from  # the drain, the probe, the quiet second
    fleet.stop(server)
    drain = state["last"] - state["first"]
    print(
        f"  sandbox: {state['count']} deliveries in {drain:.2f} s; GET /jobs/{{id}} p50 idle "
        f"{nearest_rank(idle, 50) * 1000:.2f} ms, during the drain (0.6 s after the clock move, "
        f"{len(during)} requests) {nearest_rank(during, 50) * 1000:.2f} ms; the server's CPU "
        f"from the clock's answer on {cpu:.2f} s ({cpu / max(1, state['count']) * 1e6:.0f} µs "
        "a delivery)",
        flush=True,
    )
    return float(state["count"] / (state["last"] - state["first"]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="each client loop's run")
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--role", choices=["bench", "receiver", "httpx", "aiohttp"])
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "receiver":
        run_receiver()
        return 0
    if args.role in ("httpx", "aiohttp"):
        import uvloop

        url = f"http://127.0.0.1:{args.port}/hook"
        print(json.dumps(uvloop.run(post_loop(args.role, url, args.inflight, args.seconds))))
        return 0
    print(headline(describe({"aiohttp": "aiohttp " + _version("aiohttp")}), "aiohttp"))
    rows: list[tuple[str, str, float]] = []
    with Fleet(stop_timeout=5) as fleet:
        command = pinned(RECEIVER_CORE, python_script(__file__, "--role", "receiver"))
        receiver = fleet.spawn(command, stdout=subprocess.PIPE)
        port = int(read_line(receiver, 20).split()[1])
        for _ in range(args.rounds):
            for name in ("httpx", "aiohttp", "sandbox"):
                load = load_average()
                rate = run_sandbox(fleet, port, args) if name == "sandbox" else 0.0
                rate = rate or run_loop(fleet, name, port, args)
                rows.append((name, load, rate))
                print(f"  {name}: {rate:,.0f}/s (load {load})", flush=True)
    print("\n| contender | load average before (1, 5, 15 min) | deliveries/s |")
    print("|---|---|---:|")
    for name, load, rate in rows:
        print(f"| {name} | {load} | {rate:,.0f} |")
    best = {n: max(r for m, _, r in rows if m == n) for n in ("httpx", "aiohttp", "sandbox")}
    floor = max(best["httpx"], best["aiohttp"])
    print(f"\nbest of each: {best}; sandbox / fastest client loop = {best['sandbox'] / floor:.2f}")
    return 0


def _version(package: str) -> str:
    from harness.machine import package_version

    return package_version(package)


if __name__ == "__main__":
    sys.exit(main())
