"""What the sandbox's HTTP protocol class costs a request beyond uvicorn's own (issue 20):
instructions counted with valgrind's callgrind, the protocol alone.

`serve` runs `aiprod_sandbox.httptools_protocol.HttpToolsProtocol`: uvicorn's httptools
protocol with h11's limits on a request head and the connection guard's byte count. Here each
protocol is given a stub transport and an app that answers `{}` at once, and keep-alive
`GET /pipeline/{id}` requests are fed to it one after the other on uvloop: no socket, no
kernel, nothing else of the sandbox. Each runs under callgrind twice, with 300 requests and
with 300 + `--requests`; the difference divided by `--requests` is its cost a request.

    .venv/bin/python bench/protocol_cost.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as UvicornProtocol
from uvicorn.server import ServerState

from aiprod_sandbox.connections import ConnectionGuard, GuardedState
from aiprod_sandbox.httptools_protocol import HttpToolsProtocol as SandboxProtocol
from run_parts.common import ENT_KEY

REQUEST = (
    b"GET /pipeline/job_bench0000000000 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"Authorization: Bearer " + ENT_KEY.encode() + b"\r\nUser-Agent: wrk\r\n\r\n"
)
WARM = 300


class StubTransport(asyncio.Transport):
    """Takes what the protocol writes and counts the writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        known = {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 5555)}
        return known.get(name, default)

    def write(self, data: Any) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


async def feed(which: str, count: int) -> None:
    """`which` protocol fed WARM + count requests, then exit at once (under valgrind)."""
    config = Config(answer, log_config=None, access_log=False, lifespan="off")
    config.load()
    if which == "sandbox":
        protocol: Any = SandboxProtocol(config, GuardedState(ConnectionGuard(4096)), {})
    else:
        protocol = UvicornProtocol(config, ServerState(), {})
    transport = StubTransport()
    protocol.connection_made(transport)
    for _ in range(WARM + count):
        protocol.data_received(REQUEST)
        for _ in range(3):  # the app's task runs and answers
            await asyncio.sleep(0)
    if transport.writes < 2 * (WARM + count):
        raise SystemExit(f"{which}: {transport.writes} writes for {WARM + count} requests")
    os._exit(0)


def counted(which: str, count: int) -> int:
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    argv += [sys.executable, __file__, "--feed", f"{which}:{count}"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    assert found is not None, done.stderr[-2000:]
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--feed", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.feed:
        which, count = args.feed.split(":")
        uvloop.run(feed(which, int(count)))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt install valgrind)")
    figures = {}
    for which in ("uvicorn", "sandbox"):
        figures[which] = (counted(which, args.requests) - counted(which, 0)) / args.requests
    print(f"instructions a request, the protocol alone ({args.requests:,} keep-alive GETs):")
    for which, figure in figures.items():
        print(f"  {which:8} {figure / 1000:6.1f}k")
    print(f"  the sandbox's protocol adds {(figures['sandbox'] - figures['uvicorn']) / 1000:.1f}k")
    return 0


if __name__ == "__main__":
    sys.exit(main())
