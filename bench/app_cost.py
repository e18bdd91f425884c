"""Where a request's time goes inside the app (issue 20): the sandbox's ASGI app called
directly, with no socket, no HTTP parser and no server, for `GET /health`, `GET /pipeline/{id}`
and `POST /pipeline/run`, beside the bare Starlette app (`bench/bare_app.py`) called the same
way. What it prints is CPU time per request of the app alone (`time.process_time`, so other
processes on the machine do not count); the difference from wrk's CPU per request over a
socket is what uvicorn and httptools cost, the same for both apps.

`--profile ENDPOINT` runs cProfile over that endpoint instead and prints the functions with
the most cumulative time, the sandbox's own first.

`--against REV` says what a change bought: each round runs this checkout and commit REV (its
`src/`, from a git worktree) in two fresh processes one after the other, so the machine's
drift touches both alike, and prints their figures side by side (each the best of 3 runs of
`--requests`).

`--instructions` counts instructions instead of timing: each app and endpoint runs under
valgrind's callgrind twice, with no requests and with `--requests` of them after the same
warm-up, and the difference is divided by their number. The count is the same from run to run
(within 0.5 %), whatever else the machine runs, so a change of 2 % is seen on a machine whose
timings move by 15 %; it does not see cache misses, so it says what a change removed, and the
timings say what that was worth. With `--against`, one round of it is enough.

    .venv/bin/python bench/app_cost.py                     # 3 rounds of 3,000 requests each
    .venv/bin/python bench/app_cost.py --profile post
    .venv/bin/python bench/app_cost.py --against HEAD~3 --rounds 5
    .venv/bin/python bench/app_cost.py --instructions --requests 1000 [--against HEAD~1 --rounds 1]

`--loop ENDPOINT --seconds S` only answers that endpoint for S seconds, the app as `serve`
runs it, for a sampling profiler to watch without cProfile's cost per call:

    py-spy record -r 1000 -f raw -o post.raw -- .venv/bin/python bench/app_cost.py --loop post
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import cProfile
import importlib.util
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from aiprod_sandbox import Settings, create_app
from aiprod_sandbox.gc_policy import Collector
from harness import machine
from harness.processes import BENCH
from run_parts.common import ENT_KEY, SUBMIT

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
BODY = json.dumps(SUBMIT).encode()


def scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"authorization", f"Bearer {ENT_KEY}".encode()),
        (b"user-agent", b"wrk"),
    ]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8080),
    }  # fmt: skip


async def call(app: App, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request through `app`, as uvicorn would make it: its status and body."""
    given = False
    status, answer = 0, bytearray()

    async def receive() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            answer.extend(message.get("body", b""))

    await app(scope(method, path, body), receive, send)
    return status, bytes(answer)


async def started(app: App) -> asyncio.Task[None]:
    """The app's lifespan, started (its ticker runs, as in `serve`)."""
    messages: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})

    async def send(message: dict[str, Any]) -> None:
        pass

    task = asyncio.create_task(app({"type": "lifespan"}, messages.get, send))
    await asyncio.sleep(0.05)
    return task


def bare() -> App:
    spec = importlib.util.spec_from_file_location("bare_app", BENCH / "bare_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: App = module.create_app()
    return app


async def cases(app: App) -> dict[str, tuple[str, str, bytes]]:
    status, body = await call(app, "POST", "/pipeline/run", BODY)
    assert status == 202, body
    job = json.loads(body)["job_id"]
    return {
        "health": ("GET", "/health", b""),
        "get": ("GET", f"/pipeline/{job}", b""),
        "post": ("POST", "/pipeline/run", BODY),
    }


async def measure(args: argparse.Namespace) -> None:
    apps: dict[str, App] = {"bare": bare(), "sandbox": create_app(Settings(seed=7))}
    lifespans = [await started(app) for app in apps.values()]
    requests = {name: await cases(app) for name, app in apps.items()}
    if args.profile:
        method, path, body = requests["sandbox"][args.profile]
        for _ in range(500):
            await call(apps["sandbox"], method, path, body)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            await call(apps["sandbox"], method, path, body)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(*args.only, 45)
        return
    for name, app in apps.items():  # warm: the first requests fill caches and pools
        for method, path, body in requests[name].values():
            for _ in range(300):
                await call(app, method, path, body)
    if not args.quiet:
        print(f"app CPU per request (µs), {args.rounds} rounds of {args.requests:,} each")
    best: dict[str, float] = {}
    for round_ in range(args.rounds):
        line = []
        for endpoint in ("health", "get", "post"):
            for name, app in apps.items():
                method, path, body = requests[name][endpoint]
                started_at = time.process_time()
                for _ in range(args.requests):
                    status, _ = await call(app, method, path, body)
                took = (time.process_time() - started_at) / args.requests * 1e6
                assert status in (200, 202), (name, endpoint, status)
                cell = f"{endpoint} {name}"
                best[cell] = min(best.get(cell, took), took)
                line.append(f"{cell} {took:6.1f}")
        if not args.quiet:
            print(f"  round {round_ + 1}: " + " | ".join(line), flush=True)
    if args.quiet:  # for `against`: the best of the rounds
        print(" | ".join(f"{cell} {took:6.1f}" for cell, took in best.items()), flush=True)
    for task in lifespans:
        task.cancel()


async def loop(endpoint: str, seconds: float) -> None:
    """The sandbox answering `endpoint` for `seconds`, as `serve` runs it (for py-spy)."""
    app = create_app(Settings(seed=7))
    lifespan = await started(app)  # kept: a task nobody holds is collected, and its app stops
    Collector(lambda: 0).install()
    method, path, body = (await cases(app))[endpoint]
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for _ in range(1000):
            await call(app, method, path, body)
    del lifespan
    os._exit(0)


async def one(spec: str) -> None:
    """`APP:ENDPOINT:N` (under valgrind): the app as `serve` runs it (its collector policy), a
    warm-up of 300 requests, then N; then exit at once, so what is counted after is the same
    for every N."""
    name, endpoint, count = spec.split(":")
    app = bare() if name == "bare" else create_app(Settings(seed=7))
    lifespan = await started(app)  # kept: a task nobody holds is collected, and its app stops
    Collector(lambda: 0).install()
    method, path, body = (await cases(app))[endpoint]
    for _ in range(300 + int(count)):
        await call(app, method, path, body)
    del lifespan
    os._exit(0)


def _counted(spec: str) -> int:
    """Instructions the process of `one(spec)` ran, as callgrind counts them."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    argv += [sys.executable, __file__, "--one", spec]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    assert found is not None, out.stderr[-2000:]
    return int(found.group(1))


def instructions(args: argparse.Namespace) -> None:
    """Instructions a request, each app and endpoint: with N requests minus with none, / N."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt install valgrind)")
    cells = [(f"{endpoint} {name}", f"{name}:{endpoint}")
             for endpoint in ("health", "get", "post") for name in ("bare", "sandbox")]  # fmt: skip
    specs = [f"{spec}:{n}" for _, spec in cells for n in (0, args.requests)]
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        counted = dict(zip(specs, pool.map(_counted, specs), strict=True))
    figures = {
        cell: (counted[f"{spec}:{args.requests}"] - counted[f"{spec}:0"]) / args.requests
        for cell, spec in cells
    }
    if not args.quiet:
        print(f"instructions per request (callgrind), {args.requests:,} requests after 300")
    print(" | ".join(f"{cell} {count / 1000:6.1f}k" for cell, count in figures.items()))


def against(args: argparse.Namespace) -> None:
    """This checkout and `args.against`, one fresh process each per round, alternating."""
    root = BENCH.parent
    with tempfile.TemporaryDirectory(prefix="app-cost-") as tmp:
        tree = os.path.join(tmp, "tree")
        subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "-q", "--detach", tree, args.against],
            check=True,
        )
        try:
            what = "instructions" if args.instructions else "app CPU (µs)"
            print(f"{what} per request: this checkout against {args.against}, "
                  f"{args.rounds} rounds of {args.requests:,} each, alternating")  # fmt: skip
            one = [sys.executable, __file__, "--rounds", "3", "--quiet"]
            one += ["--requests", str(args.requests)]
            if args.instructions:
                one.append("--instructions")
            for round_ in range(args.rounds):
                for label, src in (("this", root / "src"), (args.against, tree + "/src")):
                    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{BENCH}"}
                    out = subprocess.run(one, env=env, check=True, capture_output=True, text=True)
                    figures = out.stdout.strip().splitlines()[-1]
                    print(f"  round {round_ + 1} {label:>10}: {figures}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", tree])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", choices=("health", "get", "post"))
    parser.add_argument("--against", metavar="REV", help="alternate with commit REV's src/")
    parser.add_argument("--instructions", action="store_true", help="count with callgrind")
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=("health", "get", "post"), help="answer it, no figures")
    parser.add_argument("--seconds", type=float, default=12.0, help="with --loop: how long")
    parser.add_argument("--sort", default="cumulative", help="with --profile: pstats order")
    parser.add_argument(
        "--only", action="append", default=[], help="with --profile: functions matching this"
    )
    args = parser.parse_args()
    if args.one:
        uvloop.run(one(args.one))
        return 0
    if args.loop:
        uvloop.run(loop(args.loop, args.seconds))
        return 0
    if not args.quiet:
        print(machine.headline(machine.describe()), flush=True)
    if args.against:
        against(args)
    elif args.instructions:
        instructions(args)
    else:
        uvloop.run(measure(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
