"""One wrk run against a server: wrk's figures and the server's CPU time per request.

wrk runs pinned to core 1 (the servers to core 0) with a Lua script from bench/wrk/, which
sends the key in $BENCH_KEY and ends with one `BENCH_JSON {...}` line (bench/wrk/common.lua).
Around the run it reads the server's `/proc/PID/task/*/schedstat`: requests/second move with
the neighbours' load on a shared machine, CPU time per request hardly does.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass

from .fleet import Server
from .processes import BENCH, pinned
from .procfs import ran_and_waited_ns

SCRIPTS = BENCH / "wrk"


@dataclass
class Load:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: dict[str, int]
    cpu_us: float  # the server's CPU time per request (all its threads)
    waited: float  # share of the run the server was ready to run but waited for the CPU

    def line(self) -> str:
        return (
            f"{self.rps:7,.0f} req/s  p50 {self.p50_ms:6.2f}  p90 {self.p90_ms:6.2f}  "
            f"p99 {self.p99_ms:6.2f} ms  CPU {self.cpu_us:6.1f} µs/req  "
            f"waited {self.waited:4.0%}"
        )


def load(
    server: Server, path: str, script: str, key: str | None, seconds: float, connections: int
) -> Load:
    """`wrk -t1 -cCONNECTIONS -dSECONDS --latency -s bench/wrk/SCRIPT` on the server's `path`.
    RuntimeError on any answer >= 400, or socket errors in more than 1 request in 1000."""
    url = server.url(path)
    argv = pinned(
        1,
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(SCRIPTS / script),
            url,
        ],
    )
    env = dict(os.environ, BENCH_KEY=key or "")
    ran, waited = ran_and_waited_ns(server.pid)
    started = time.perf_counter_ns()
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    wall = time.perf_counter_ns() - started
    ran_after, waited_after = ran_and_waited_ns(server.pid)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    result = Load(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        requests=data["requests"],
        errors={k: v for k, v in data["errors"].items() if v},
        cpu_us=(ran_after - ran) / 1000 / max(1, data["requests"]),
        waited=(waited_after - waited) / wall,
    )
    if result.errors.get("status") or sum(result.errors.values()) > result.requests / 1000:
        raise RuntimeError(f"wrk {url}: errors {result.errors} (status = answers >= 400)")
    if result.errors:  # a socket error or two in tens of thousands: noted, not fatal
        print(f"  note: wrk {url}: socket errors {result.errors}", flush=True)
    return result


def median(loads: list[Load]) -> Load:
    """The median of each figure over several runs (the max of max, the sum of requests)."""

    def of(name: str) -> float:
        return float(statistics.median(getattr(x, name) for x in loads))

    return Load(
        rps=of("rps"),
        p50_ms=of("p50_ms"),
        p90_ms=of("p90_ms"),
        p99_ms=of("p99_ms"),
        max_ms=max(x.max_ms for x in loads),
        requests=sum(x.requests for x in loads),
        errors={},
        cpu_us=of("cpu_us"),
        waited=of("waited"),
    )


def version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return done.stdout.split("[")[0].strip()


def ensure_installed() -> None:
    """Install wrk with apt-get if it is missing (as root; otherwise say how, and exit)."""
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: apt-get install -y wrk (as root)")
    print("wrk is missing: apt-get install -y wrk", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=False).returncode:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=True)
