"""Throughput, latency, overhead and memory of the sandbox, against a bare Starlette app.

One command, from the repository root (package installed in `.venv`):

    .venv/bin/python bench/run.py                          # --duration 10 --connections 32
    .venv/bin/python bench/run.py --duration 3 --jobs 20000 --rounds 1   # a quick look

What it does, in order (every server on 127.0.0.1, pinned to core 0 with `taskset -c 0` and
loaded by `wrk` pinned to core 1, when `taskset` exists; every server stopped at the end,
whatever happens):

1. Throughput and latency. The bare app (`bench/bare_app.py`) and the sandbox
   (`aiprod-sandbox serve`), same uvicorn options (one worker, no access log, log level
   warning), loaded one after the other with `wrk -t1 -cC -dDs --latency` on GET /health,
   GET /pipeline/{id} (a COMPLETED job, made first with the same key) and POST /pipeline/run,
   with an Enterprise key (`sk_test_ent_…`: no rate limit, so nothing is throttled);
   `--rounds` rounds, the order swapped each round; medians.
2. Limiter and scenario-engine overhead, on GET /pipeline/{id}: an Enterprise key (no
   limiter) against a Pro fixture account whose limits are raised out of reach (the limiter
   runs, never refuses), both on one server started with `--fixtures` of our own; and the
   Enterprise key on a second server that also has `--scenario` of a file whose only rule
   never matches. Interleaved rounds; medians. Then the same costs timed in-process.
3. Memory. VmRSS of a fresh sandbox after start and one request; then after one Enterprise
   account holds `--jobs` (100,000) COMPLETED jobs, submitted over 32 keep-alive connections.

Besides wrk's figures it reads each server's CPU time per request (`/proc/PID/task/*/schedstat`)
and how long it waited for its core: on a machine shared with other work, requests/second
move with the neighbours' load, CPU time per request hardly does, so the CPU ratio is printed
next to the requests/second ratio.

It prints the figures, the ratios against the bare app, and whether each target is met;
`--json FILE` also writes every figure. wrk is installed with `apt-get install -y wrk` if it
is missing (needs root).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from startup import free_port, health_status  # bench/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WRK_SCRIPTS = HERE / "wrk"
ENT_KEY = "sk_test_ent_bench_enterprise_key_01"
PRO_KEY = "sk_test_bench_pro_unthrottled_key_01"
PRO_ACCOUNT = "acct_bench_pro_unthrottled"
HUGE = 1_000_000_000
SUBMIT = {  # the body of bench/wrk/post_run.lua
    "video_url": "https://example.com/video.mp4",
    "voice_text": "Hello world",
    "voice_language": "en",
    "music_style": "orchestral",
    "metadata": {"customer_id": "cust_123"},
}
FIXTURE_ACCOUNTS = f"""\
# bench/run.py: one Pro account whose limits are out of reach, so the limiter runs on every
# request and never refuses one.
accounts:
  - account_id: {PRO_ACCOUNT}
    tier: pro
    limits: {{requests_per_minute: {HUGE}, burst: {HUGE}}}
    keys:
      - {{key: {PRO_KEY}, name: Bench Pro key}}
"""
NEVER_SCENARIO = """\
name: bench-never-matches
description: One request rule that never matches, to time the rule engine itself.
requests:
  - name: never
    match: {path: "/never/*"}
    respond: {status: 503}
"""
ENDPOINTS = ("GET /health", "GET /pipeline/{id}", "POST /pipeline/run")
RATIO_TARGETS = {"GET /health": 0.7, "GET /pipeline/{id}": 0.5, "POST /pipeline/run": 0.4}
P99_TARGET_MS = 10.0
STARTUP_TARGET_S = 0.5
IDLE_TARGET_MB = 60.0
JOBS_TARGET_MB = 150.0
OVERHEAD_TARGET = 0.05
GIVE_UP_AFTER = 30.0


# ---------------------------------------------------------------------------------------------
# Processes: every server goes through one Fleet, which stops them all however the run ends.


def pinned(core: int, argv: Sequence[str]) -> list[str]:
    """`taskset -c CORE argv` where taskset exists (it execs: the pid stays the program's)."""
    if shutil.which("taskset") and core < (os.cpu_count() or 1):
        return ["taskset", "-c", str(core), *argv]
    return list(argv)


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    startup_s: float
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class Fleet:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[Server] = []
        self.startups: dict[str, list[float]] = {}

    def start(self, name: str, argv: Callable[[int], list[str]]) -> Server:
        port = free_port()
        log = self.logs / f"{name.replace(' ', '_')}-{port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIPROD_SANDBOX_")}
        started = time.perf_counter()
        with log.open("wb") as sink:
            process = subprocess.Popen(
                pinned(0, argv(port)),
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        server = Server(name, port, process, 0.0, log)
        self.running.append(server)
        while health_status(port) != 200:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited {process.returncode}:\n{log.read_text()}")
            if time.perf_counter() - started > GIVE_UP_AFTER:
                raise RuntimeError(f"{name}: no 200 on /health in {GIVE_UP_AFTER} s")
            time.sleep(0.002)
        server.startup_s = time.perf_counter() - started
        self.startups.setdefault(name.split(" ")[0], []).append(server.startup_s)
        return server

    def stop(self, server: Server) -> None:
        process = server.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if server in self.running:
            self.running.remove(server)

    def stop_all(self) -> None:
        for server in list(self.running):
            with contextlib.suppress(Exception):
                self.stop(server)

    @contextlib.contextmanager
    def serving(self, name: str, argv: Callable[[int], list[str]]) -> Iterator[Server]:
        server = self.start(name, argv)
        try:
            yield server
        finally:
            self.stop(server)


def bare_argv(port: int) -> list[str]:
    return [sys.executable, str(HERE / "bare_app.py"), "--port", str(port)]


def sandbox_argv(*extra: str) -> Callable[[int], list[str]]:
    cli = str(Path(sys.executable).parent / "aiprod-sandbox")

    def argv(port: int) -> list[str]:
        return [
            cli,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *extra,
        ]

    return argv


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB (2**20 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# ---------------------------------------------------------------------------------------------
# HTTP: a tiny client for set-up calls, wrk for load, a raw asyncio client to store many jobs.


def call(
    server: Server, method: str, path: str, key: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=headers)
        answer = connection.getresponse()
        raw = answer.read()
        head = {name.lower(): value for name, value in answer.getheaders()}
    finally:
        connection.close()
    return answer.status, head, json.loads(raw) if raw else None


def completed_job(server: Server, key: str) -> str:
    """Submit one job with `key` and wait until it is COMPLETED; its id."""
    status, _, body = call(server, "POST", "/pipeline/run", key, SUBMIT)
    if status != 202:
        raise RuntimeError(f"{server.name}: POST /pipeline/run answered {status}: {body}")
    job_id = str(body["job_id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, _, job = call(server, "GET", f"/pipeline/{job_id}", key)
        if status == 200 and job["status"] == "COMPLETED":
            return job_id
        time.sleep(0.05)
    raise RuntimeError(f"{server.name}: job {job_id} not COMPLETED in 10 s")


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


def cpu_ns(pid: int) -> tuple[int, int]:
    """Nanoseconds a process's threads ran and waited to run (`/proc/PID/task/*/schedstat`)."""
    ran = waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "schedstat").read_text().split()
            ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran, waited


def wrk(
    server: Server, path: str, script: str, key: str | None, seconds: float, connections: int
) -> Load:
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
            str(WRK_SCRIPTS / script),
            url,
        ],
    )
    env = dict(os.environ, BENCH_KEY=key or "")
    ran, waited = cpu_ns(server.pid)
    started = time.perf_counter_ns()
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    wall = time.perf_counter_ns() - started
    ran_after, waited_after = cpu_ns(server.pid)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    load = Load(
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
    if load.errors.get("status") or sum(load.errors.values()) > load.requests / 1000:
        raise RuntimeError(f"wrk {url}: errors {load.errors} (status = answers >= 400)")
    if load.errors:  # a socket error or two in tens of thousands: noted, not fatal
        print(f"  note: wrk {url}: socket errors {load.errors}", flush=True)
    return load


async def _submit_many(port: int, key: str, count: int, concurrency: int) -> int:
    """Submit `count` jobs; the number of connections the server reset on the way (each
    reset request is sent again on a new connection: a request cut off before its answer
    started was never read)."""
    body = json.dumps(SUBMIT).encode()
    request = (
        f"POST /pipeline/run HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    left = count
    resets = 0

    async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readline()
        if not head:
            raise ConnectionResetError("closed before the answer")
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(head.split()[1]), await reader.readexactly(length)

    async def worker() -> None:
        nonlocal left, resets
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while left > 0:
                left -= 1
                for attempt in range(3):
                    if connection is None:
                        connection = await asyncio.open_connection("127.0.0.1", port)
                    reader, writer = connection
                    try:
                        writer.write(request)
                        status, text = await answer(reader)
                        break
                    except (ConnectionError, asyncio.IncompleteReadError):
                        resets += 1
                        writer.close()
                        connection = None
                        if attempt == 2:
                            raise
                if status != 202:
                    raise RuntimeError(f"POST /pipeline/run answered {status}: {text[:300]!r}")
        finally:
            if connection is not None:
                connection[1].close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return resets


def submit_many(server: Server, key: str, count: int, concurrency: int = 32) -> float:
    """Submit `count` jobs over `concurrency` keep-alive connections (client on core 1)."""
    before = os.sched_getaffinity(0)
    with contextlib.suppress(OSError):
        if (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {1})
    started = time.perf_counter()
    try:
        resets = asyncio.run(_submit_many(server.port, key, count, concurrency))
    finally:
        os.sched_setaffinity(0, before)
    if resets:
        print(f"  note: the server reset {resets} connection(s); those requests were resent")
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# The measurements.


def throughput(fleet: Fleet, args: argparse.Namespace) -> dict[str, dict[str, list[Load]]]:
    """Each endpoint of the bare app and of the sandbox (Enterprise key), measured one after
    the other, `--rounds` times, the order swapped every round: on a shared machine, drift in
    its other load then touches both alike. Both servers stay up; only one is loaded at once."""
    servers = {
        "bare": fleet.start("bare", bare_argv),
        "sandbox": fleet.start("sandbox", sandbox_argv()),
    }
    try:
        targets: dict[str, dict[str, tuple[str, str, str | None]]] = {}
        for name, server in servers.items():
            key = ENT_KEY if name == "sandbox" else None
            job = completed_job(server, key) if key else "job_bench0000000000"
            targets[name] = {
                "GET /health": ("get.lua", "/health", None),
                "GET /pipeline/{id}": ("get.lua", f"/pipeline/{job}", key),
                "POST /pipeline/run": ("post_run.lua", "/pipeline/run", key),
            }
        results: dict[str, dict[str, list[Load]]] = {
            name: {endpoint: [] for endpoint in ENDPOINTS} for name in servers
        }
        if args.warmup:
            for name in servers:
                for script, path, key in targets[name].values():
                    wrk(servers[name], path, script, key, args.warmup, args.connections)
        for round_ in range(args.rounds):
            for endpoint in ENDPOINTS:
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    script, path, key = targets[name][endpoint]
                    load = wrk(servers[name], path, script, key, args.duration, args.connections)
                    results[name][endpoint].append(load)
                    print(
                        f"  round {round_ + 1} {name:8} {endpoint:20} {_load_line(load)}",
                        flush=True,
                    )
        return results
    finally:
        for server in servers.values():
            fleet.stop(server)


def overheads(fleet: Fleet, args: argparse.Namespace, work: Path) -> dict[str, list[Load]]:
    """GET /pipeline/{id}: Enterprise (no limiter) vs Pro (limiter, never refusing) on one
    server; Enterprise on a second server with a never-matching scenario. Interleaved."""
    fixtures = work / "fixtures"
    fixtures.mkdir(exist_ok=True)
    (fixtures / "accounts.yaml").write_text(FIXTURE_ACCOUNTS)
    scenario = work / "never.yaml"
    scenario.write_text(NEVER_SCENARIO)
    plain = fleet.start("sandbox --fixtures", sandbox_argv("--fixtures", str(fixtures)))
    scripted = fleet.start(
        "sandbox --fixtures --scenario",
        sandbox_argv("--fixtures", str(fixtures), "--scenario", str(scenario)),
    )
    try:
        series = {
            "enterprise": (plain, ENT_KEY),
            "pro, limiter on": (plain, PRO_KEY),
            "enterprise, scenario": (scripted, ENT_KEY),
        }
        paths = {}
        for name, (server, key) in series.items():
            paths[name] = f"/pipeline/{completed_job(server, key)}"
            _, head, _ = call(server, "GET", "/pipeline/x", key)  # a 404, with the headers
            limit = int(head.get("x-ratelimit-limit", "0"))
            expected = HUGE if key == PRO_KEY else 1_000_000
            if limit != expected:
                raise RuntimeError(f"{name}: X-RateLimit-Limit {limit}, expected {expected}")
        _, _, account = call(scripted, "GET", "/_sandbox/account", ENT_KEY)
        if account.get("server_scenarios") != ["bench-never-matches"]:
            raise RuntimeError(f"scenario not active: {account}")
        results: dict[str, list[Load]] = {name: [] for name in series}
        names = list(series)
        if args.warmup:
            for name in names:
                server, key = series[name]
                wrk(server, paths[name], "get.lua", key, args.warmup, args.connections)
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                server, key = series[name]
                load = wrk(server, paths[name], "get.lua", key, args.duration, args.connections)
                results[name].append(load)
                print(f"  round {round_ + 1} {name:22} {_load_line(load)}", flush=True)
        return results
    finally:
        fleet.stop(scripted)
        fleet.stop(plain)


def micro(work: Path) -> dict[str, float]:
    """The limiter's and the rule engine's own cost per request, timed in-process (µs), on
    core 0 like the servers. Internals of the package: n/a if they have moved."""
    from starlette.requests import Request

    from aiprod_sandbox.api import faults
    from aiprod_sandbox.api.context import RequestContext
    from aiprod_sandbox.core.sandbox import Sandbox
    from aiprod_sandbox.settings import Settings

    before = os.sched_getaffinity(0)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {0})
    try:
        settings = Settings(fixtures=work / "fixtures", scenario=(str(work / "never.yaml"),))
        plain = Sandbox(settings.replace(scenario=()).core())
        scripted = Sandbox(settings.core())
        pro, _ = plain.accounts.identify(f"Bearer {PRO_KEY}")
        ent, _ = plain.accounts.identify(f"Bearer {ENT_KEY}")
        number = 200_000

        def per_call(stmt: Callable[[], object]) -> float:
            return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e6

        def limiter(account: Any) -> Callable[[], object]:
            headers: dict[str, str] = {}

            def step() -> None:  # operation.py's lines, with the clock read they share
                decision = account.bucket.take(account.now())
                headers.update(decision.headers())
                if not decision.allowed:
                    raise RuntimeError("refused")

            return step

        clock_only = per_call(lambda: ent.now())
        figures = {
            "limiter_pro_us": per_call(limiter(pro)) - clock_only,
            "limiter_enterprise_us": per_call(limiter(ent)) - clock_only,
            "no_scenario_check_us": per_call(lambda: ent.scenarios.any),
        }
        account, key = scripted.accounts.identify(f"Bearer {ENT_KEY}")
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/pipeline/job_x",
            "raw_path": b"/pipeline/job_x",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode())],
            "scheme": "http",
            "server": ("127.0.0.1", 8080),
        }
        ctx = RequestContext(scripted, settings, 0.0, account=account, key=key)

        async def rules(n: int) -> float:
            started = time.perf_counter()
            for _ in range(n):
                request = Request(scope)
                request.headers  # noqa: B018 - auth has read them by then in the real path
                if await faults.apply(request, ctx) is not None:
                    raise RuntimeError("the never-matching rule fired")
            return time.perf_counter() - started

        async def requests_only(n: int) -> float:
            started = time.perf_counter()
            for _ in range(n):
                request = Request(scope)
                request.headers  # noqa: B018
            return time.perf_counter() - started

        n = 50_000
        best = min(asyncio.run(rules(n)) for _ in range(5))
        floor = min(asyncio.run(requests_only(n)) for _ in range(5))
        figures["scenario_rules_us"] = (best - floor) / n * 1e6
        return figures
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class Memory:
    bare_idle_mb: float
    sandbox_start_mb: float
    sandbox_idle_mb: float
    jobs: int
    fill_seconds: float
    sandbox_jobs_mb: float
    stored: int

    @property
    def jobs_delta_mb(self) -> float:
        return self.sandbox_jobs_mb - self.sandbox_idle_mb


def memory(fleet: Fleet, jobs: int) -> Memory:
    with fleet.serving("bare", bare_argv) as bare:
        call(bare, "GET", "/health")
        time.sleep(0.5)
        bare_idle = rss_mb(bare.pid)
    with fleet.serving("sandbox", sandbox_argv()) as server:
        time.sleep(0.5)
        at_start = rss_mb(server.pid)
        status, _, body = call(server, "POST", "/pipeline/run", ENT_KEY, SUBMIT)  # the warm one
        if status != 202:
            raise RuntimeError(f"POST /pipeline/run answered {status}: {body}")
        time.sleep(0.5)
        idle = rss_mb(server.pid)
        print(f"  submitting {jobs - 1:,} more jobs ...", flush=True)
        seconds = submit_many(server, ENT_KEY, jobs - 1)
        time.sleep(1.0)
        full = rss_mb(server.pid)
        _, _, page = call(server, "GET", "/jobs?limit=1", ENT_KEY)
        stored = int(page["pagination"]["total"])
        if stored != jobs:
            raise RuntimeError(f"expected {jobs} jobs stored, the account has {stored}")
        return Memory(bare_idle, at_start, idle, jobs, seconds, full, stored)


# ---------------------------------------------------------------------------------------------
# Report.


def _load_line(load: Load) -> str:
    return (
        f"{load.rps:7,.0f} req/s  p50 {load.p50_ms:6.2f}  p90 {load.p90_ms:6.2f}  "
        f"p99 {load.p99_ms:6.2f} ms  CPU {load.cpu_us:6.1f} µs/req  waited {load.waited:4.0%}"
    )


def _median_load(loads: list[Load]) -> Load:
    def median(name: str) -> float:
        return statistics.median(getattr(x, name) for x in loads)

    return Load(
        rps=median("rps"),
        p50_ms=median("p50_ms"),
        p90_ms=median("p90_ms"),
        p99_ms=median("p99_ms"),
        max_ms=max(x.max_ms for x in loads),
        requests=sum(x.requests for x in loads),
        errors={},
        cpu_us=median("cpu_us"),
        waited=median("waited"),
    )


def machine() -> dict[str, str]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git("rev-parse", "--short", "HEAD")
        + (" (+ local changes)" if git("status", "--porcelain", "--untracked-files=no") else ""),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvicorn": version("uvicorn"),
        "starlette": version("starlette"),
        "pydantic": version("pydantic"),
        "wrk": wrk_version.split("[")[0].strip(),
        "taskset": "yes" if shutil.which("taskset") else "no",
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(
    args: argparse.Namespace,
    info: dict[str, str],
    main: dict[str, dict[str, list[Load]]] | None,
    over: dict[str, list[Load]] | None,
    costs: dict[str, float] | None,
    mem: Memory | None,
    startups: dict[str, list[float]],
) -> list[tuple[str, str, bool]]:
    print()
    print(
        f"machine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}, "
        f"Python {info['python']}, uvicorn {info['uvicorn']}, starlette {info['starlette']}"
    )
    print(f"date {info['date']}, commit {info['commit']}, load average {info['load_average']}")
    pin = "server on core 0, wrk on core 1" if info["taskset"] == "yes" else "not pinned"
    print(f"wrk -t1 -c{args.connections} -d{args.duration:g}s --latency ({pin})")
    checks: list[tuple[str, str, bool]] = []
    if main:
        print()
        print(
            f"Throughput and latency: median of {args.rounds} rounds "
            "(latency in ms; CPU = the server's CPU time per request)"
        )
        print(
            f"{'endpoint':19}|{'bare req/s':>11}{'p50':>6}{'p99':>7}{'CPU µs':>8} |"
            f"{'sandbox req/s':>14}{'p50':>6}{'p99':>7}{'CPU µs':>8} |"
            f"{'req/s ratio':>12}{'CPU ratio':>10}{'target':>8}"
        )
        waits = []
        for endpoint in ENDPOINTS:
            bare = _median_load(main["bare"][endpoint])
            box = _median_load(main["sandbox"][endpoint])
            waits += [bare.waited, box.waited]
            ratio = box.rps / bare.rps
            target = RATIO_TARGETS[endpoint]
            print(
                f"{endpoint:19}|{bare.rps:11,.0f}{bare.p50_ms:6.1f}{bare.p99_ms:7.1f}"
                f"{bare.cpu_us:8.0f} |{box.rps:14,.0f}{box.p50_ms:6.1f}{box.p99_ms:7.1f}"
                f"{box.cpu_us:8.0f} |{ratio:11.2f}x{bare.cpu_us / box.cpu_us:9.2f}x"
                f"{'>= ' + format(target, '.1f'):>8}"
            )
            checks.append((f"{endpoint} >= {target:.1f}x bare", f"{ratio:.2f}x", ratio >= target))
            by_cpu = bare.cpu_us / box.cpu_us
            checks.append(
                (f"{endpoint} >= {target:.1f}x bare (by CPU)", f"{by_cpu:.2f}x", by_cpu >= target)
            )
        print(
            f"(the servers waited for their core {statistics.median(waits):.0%} of the time, "
            "median: other load on the machine; the CPU ratio does not see it)"
        )
        print(
            f"(a closed loop of {args.connections} connections keeps p50 near "
            f"{args.connections} / req/s: p99 < {P99_TARGET_MS:g} ms needs well over "
            f"{args.connections * 1000 / P99_TARGET_MS:,.0f} req/s)"
        )
        for endpoint in ENDPOINTS:
            p99 = _median_load(main["sandbox"][endpoint]).p99_ms
            checks.append(
                (f"{endpoint} p99 < {P99_TARGET_MS:g} ms", f"{p99:.1f} ms", p99 < P99_TARGET_MS)
            )
    if over:
        medians = {name: _median_load(loads) for name, loads in over.items()}
        base = medians["enterprise"]
        print()
        print(
            "Limiter and scenario engine overhead: GET /pipeline/{id}, median of "
            f"{args.rounds} interleaved runs"
        )
        print(
            f"{'series':36}{'req/s':>8}{'p50':>7}{'p99':>7}{'CPU µs/req':>12}"
            f"{'+req/s':>9}{'+CPU':>8}"
        )
        labels = {
            "enterprise": "Enterprise (no limiter, no scenario)",
            "pro, limiter on": "Pro, limits raised (limiter runs)",
            "enterprise, scenario": "Enterprise + never-matching rule",
        }
        added: dict[str, tuple[float, float]] = {}
        for name, load in medians.items():
            by_rps, by_cpu = base.rps / load.rps - 1, load.cpu_us / base.cpu_us - 1
            added[name] = (by_rps, by_cpu)
            tail = "" if name == "enterprise" else f"{by_rps:+9.1%}{by_cpu:+8.1%}"
            print(
                f"{labels[name]:36}{load.rps:8,.0f}{load.p50_ms:7.1f}{load.p99_ms:7.1f}"
                f"{load.cpu_us:12.1f}{tail}"
            )
        for name, what in (
            ("pro, limiter on", "limiter"),
            ("enterprise, scenario", "[info] never-matching scenario"),
        ):
            by_rps, by_cpu = added[name]
            checks.append(
                (f"{what} adds < 5 % (CPU/request)", f"{by_cpu:+.1%}", by_cpu < OVERHEAD_TARGET)
            )
        if costs:
            request_us = base.cpu_us
            print(
                "in-process, µs per request (share of one GET /pipeline/{id} at "
                f"{request_us:.0f} µs of CPU):"
            )
            for name, text in (
                ("limiter_pro_us", "limiter, Pro bucket (take + headers)"),
                ("limiter_enterprise_us", "limiter, Enterprise (unlimited) bucket"),
                ("scenario_rules_us", "rule engine, one never-matching rule"),
                ("no_scenario_check_us", "rule engine, no scenario (the `any` check)"),
            ):
                print(f"  {text:44} {costs[name]:7.2f} µs  {costs[name] / request_us:6.2%}")
            limiter = costs["limiter_pro_us"] / request_us
            checks.append(
                ("limiter < 5 % (in-process)", f"{limiter:.2%}", limiter < OVERHEAD_TARGET)
            )
            none = costs["no_scenario_check_us"] / request_us
            checks.append(
                (
                    "rule engine, no scenario < 5 % (in-process)",
                    f"{none:.2%}",
                    none < OVERHEAD_TARGET,
                )
            )
    if mem:
        per_job = mem.jobs_delta_mb * 2**20 / mem.jobs
        print()
        print("Memory (VmRSS, MB = 2**20 bytes)")
        print(f"  bare app, idle after 1 request        {mem.bare_idle_mb:7.1f} MB")
        print(f"  sandbox, after start                  {mem.sandbox_start_mb:7.1f} MB")
        print(f"  sandbox, idle after 1 request         {mem.sandbox_idle_mb:7.1f} MB")
        print(
            f"  sandbox, {mem.jobs:,} jobs in one account {mem.sandbox_jobs_mb:7.1f} MB "
            f"(+{mem.jobs_delta_mb:.1f} MB, {per_job:,.0f} bytes a job; "
            f"stored in {mem.fill_seconds:.1f} s, {mem.jobs / mem.fill_seconds:,.0f} jobs/s)"
        )
        idle_ok = mem.sandbox_idle_mb <= IDLE_TARGET_MB
        checks.append(
            (f"idle RSS <= {IDLE_TARGET_MB:g} MB", f"{mem.sandbox_idle_mb:.1f} MB", idle_ok)
        )
        scaled = mem.jobs_delta_mb * 100_000 / mem.jobs
        checks.append(
            (
                f"100,000 jobs add <= {JOBS_TARGET_MB:g} MB"
                + ("" if mem.jobs == 100_000 else f" (scaled from {mem.jobs:,})"),
                f"{scaled:.1f} MB",
                scaled <= JOBS_TARGET_MB,
            )
        )
    starts = startups.get("sandbox", [])
    if starts:
        median = statistics.median(starts)
        print()
        print(
            f"Startup to first 200 on /health (sandbox, {len(starts)} starts in this run, "
            f"pinned to one core): median {median:.3f} s, max {max(starts):.3f} s "
            "(bench/startup.py measures it on its own)"
        )
        checks.append(
            (
                f"startup <= {STARTUP_TARGET_S} s (median)",
                f"{median:.3f} s",
                median <= STARTUP_TARGET_S,
            )
        )
    print()
    print("Targets")
    for what, figure, met in checks:
        print(f"  {what:58} {figure:>10}  {verdict(met)}")
    return checks


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: apt-get install -y wrk (as root)")
    print("wrk is missing: apt-get install -y wrk", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=False).returncode:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=True)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops every server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds a measurement")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each overhead series")
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs stored for memory")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["throughput", "overhead", "memory"],
        help="leave a part out (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    ensure_wrk()
    signal.signal(signal.SIGTERM, _terminate)
    info = machine()
    main_results = over = costs = mem = None
    with tempfile.TemporaryDirectory(prefix="aiprod-bench-") as tmp:
        work = Path(tmp)
        fleet = Fleet(work)
        try:
            if "throughput" not in args.skip:
                print("Throughput and latency", flush=True)
                main_results = throughput(fleet, args)
            if "overhead" not in args.skip:
                print("Limiter and scenario engine overhead", flush=True)
                over = overheads(fleet, args, work)
                try:
                    costs = micro(work)
                except Exception as exc:  # internals moved: the wrk figures still stand
                    print(f"  in-process timings n/a: {exc!r}", flush=True)
            if "memory" not in args.skip:
                print("Memory", flush=True)
                mem = memory(fleet, args.jobs)
        finally:
            fleet.stop_all()
    checks = report(args, info, main_results, over, costs, mem, fleet.startups)
    if args.json:
        document = {
            "machine": info,
            "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
            "throughput": {
                app: {k: [asdict(x) for x in v] for k, v in loads.items()}
                for app, loads in (main_results or {}).items()
            },
            "overhead": {k: [asdict(x) for x in v] for k, v in (over or {}).items()},
            "in_process_us": costs,
            "memory": asdict(mem) | {"jobs_delta_mb": mem.jobs_delta_mb} if mem else None,
            "startup_s": fleet.startups,
            "targets": [{"target": t, "figure": f, "met": m} for t, f, m in checks],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
