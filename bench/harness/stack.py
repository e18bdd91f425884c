"""Which event loop and HTTP parser a running server uses, read from the process itself.

Not what it was configured with, nor what is installed: what runs.

- A native server (Python, Node.js): `gdb` attaches, breaks on `llhttp_execute` (the parser
  inside httptools and inside Node.js), and one GET /health is sent. The breakpoint's frame
  names the object that parses (`info symbol`: httptools' `parser…so`, or the node binary);
  the stack under it names the loop: `uv_run` in uvloop's `loop…so` or in node, or no
  libuv at all (asyncio's own loop). If llhttp is never called within 15 s, gdb is
  interrupted: the parser is a pure-Python one (h11), and the idle stack names the loop.
- A JVM (WireMock): `jcmd Thread.print` while a keep-alive connection is open; its frames
  name the selector loop (Jetty's `ManagedSelector` on `sun.nio.ch.EPollSelectorImpl`) and
  the connection's parser (Jetty's `HttpConnection`/`HttpParser`).

gdb stops the server for about a second: probe before or after measuring, never during.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .client import Client
from .processes import HEALTH_REQUEST

LLHTTP_WAIT = 15.0  # seconds, counted from the spawn of gdb


@dataclass(frozen=True)
class Stack:
    loop: str
    parser: str
    evidence: str  # how it was seen, one line


def probe(pid: int, port: int) -> Stack:
    exe = Path(f"/proc/{pid}/exe").resolve()
    if exe.name == "java":
        return _jvm(pid, port, exe)
    if shutil.which("gdb") is None:
        return Stack("?", "?", "gdb is not installed (apt-get install -y gdb)")
    return _native(pid, port, exe)


def _native(pid: int, port: int, exe: Path) -> Stack:
    argv = ["gdb", "-p", str(pid), "-batch", "-nx", "-q"]
    for command in (
        "set pagination off",
        "set breakpoint pending off",
        "break llhttp_execute",
        "continue",
        "info symbol $pc",
        "bt -frame-arguments none",
        "frame function uv_run",
        "info symbol $pc",
        "detach",
    ):
        argv += ["-ex", command]
    gdb = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    # gdb's output to a pipe comes late: rather than wait for its "Continuing.", knock until
    # it has attached and the breakpoint stops the server (each knock on its own connection).
    deadline = time.monotonic() + LLHTTP_WAIT
    while gdb.poll() is None and time.monotonic() < deadline:
        threading.Thread(target=_one_health_request, args=(port,), daemon=True).start()
        time.sleep(0.25)
    if gdb.poll() is None:  # llhttp never called: interrupt, and see the idle stack
        gdb.send_signal(signal.SIGINT)
    try:
        output, _ = gdb.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # a killed gdb leaves the server stopped: wake it
        gdb.kill()
        output, _ = gdb.communicate()
        os.kill(pid, signal.SIGCONT)
    return _read_native(output, exe)


def _one_health_request(port: int) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(HEALTH_REQUEST)
            sock.recv(64)
    except OSError:
        pass


SYMBOL = re.compile(r"^(\w+)(?: \+ \d+)? in section \S+(?: of (\S+))?$", re.MULTILINE)


def _read_native(output: str, exe: Path) -> Stack:
    symbols = {name: Path(owner) if owner else exe for name, owner in SYMBOL.findall(output)}
    parser_at = symbols.get("llhttp_execute")
    loop_at = symbols.get("uv_run")
    if parser_at is not None:
        parser = f"llhttp in {_owner(parser_at)}"
        seen = "gdb: llhttp_execute hit by one GET /health"
    elif "Breakpoint 1 at" in output:
        parser = "not llhttp (never called: a pure-Python parser, h11)"
        seen = f"gdb: llhttp_execute not hit in {LLHTTP_WAIT:g} s"
    else:
        parser = "not llhttp (not loaded: a pure-Python parser, h11)"
        seen = "gdb: no llhttp_execute in the process"
    if loop_at is not None:
        loop = f"libuv in {_owner(loop_at)}"
        seen += "; uv_run under it" if parser_at is not None else "; uv_run on the idle stack"
    elif "select_epoll_poll" in output or "pyepoll_poll" in output or parser_at is not None:
        loop = "asyncio (no libuv: Python's selector loop)"
        seen += "; no uv_run on the stack"
    else:
        loop = "?"
        seen += f"; stack not read: {output.strip().splitlines()[-1:]}"
    return Stack(loop, parser, seen)


def _owner(path: Path) -> str:
    """`uvloop 0.23.0 (loop.cpython-311….so)` for a module of a Python package, `node v20…
    (libuv …, llhttp …)` for Node.js (its own answer), else the binary's name."""
    for parent in path.parents:
        if parent.name in ("site-packages", "dist-packages"):
            package = path.relative_to(parent).parts[0]
            found = sorted(parent.glob(f"{package}-*.dist-info"))
            version = found[0].name.removesuffix(".dist-info").split("-")[1] if found else "?"
            return f"{package} {version} ({path.name})"
    if path.name == "node":
        versions = subprocess.run(
            [
                str(path),
                "-p",
                "`${process.version} (libuv ${process.versions.uv}, "
                "llhttp ${process.versions.llhttp})`",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        return f"node {versions}"
    return path.name


def _jvm(pid: int, port: int, exe: Path) -> Stack:
    jcmd = exe.parent / "jcmd"
    if not jcmd.exists():
        return Stack("?", "?", f"no jcmd beside {exe}")
    with Client(port) as client:  # one keep-alive connection, open while the JVM is read
        client.call("GET", "/health")
        time.sleep(0.2)
        threads, classes = (
            subprocess.run(
                [str(jcmd), str(pid), command], capture_output=True, text=True, timeout=60
            ).stdout
            for command in ("Thread.print", "GC.class_histogram")
        )
    selectors = len(re.findall(r"\.ManagedSelector\.nioSelect", threads))
    jetty = re.search(r"([\w.]*org\.eclipse\.jetty)\.io\.ManagedSelector", threads)
    polling = "epoll" if "sun.nio.ch.EPollSelectorImpl" in threads else "NIO"
    loop = f"Jetty ManagedSelector on {polling} ({selectors} selector threads)" if jetty else "?"
    parsers = re.search(r"^\s*\d+:\s+(\d+)\s+\d+\s+([\w.]+\.http\.HttpParser)\s", classes, re.M)
    parser = f"Jetty HttpParser ({parsers[1]} live: {parsers[2]})" if parsers else "?"
    seen = "jcmd Thread.print and GC.class_histogram, one keep-alive connection open"
    return Stack(loop, parser, seen)
