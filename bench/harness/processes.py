"""Child processes of a benchmark: started on a free port, waited for until ready, always stopped.

Ready is a first 200 on GET /health (a raw socket request, polled every 2 ms), or, for a
server started on `--port 0`, the `ready on http://...` line it prints. Stopping is SIGTERM,
then kill after a timeout. fleet.py holds the children of a run together.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
GIVE_UP_AFTER = 30.0
POLL_INTERVAL = 0.002
HEALTH_REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
READY = re.compile(r"ready on (http://127\.0\.0\.1:\d+)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health_status(port: int) -> int | None:
    """The status of one raw `GET /health`, or None if nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(HEALTH_REQUEST)
            head = sock.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        return None
    return int(parts[1])


def sandbox_cli() -> str:
    """The `aiprod-sandbox` console script next to this interpreter."""
    return str(Path(sys.executable).parent / "aiprod-sandbox")


def bare_app(port: int) -> list[str]:
    """The bare Starlette app (bench/bare_app.py) on `port`: the floor set against the sandbox."""
    return [sys.executable, str(BENCH / "bare_app.py"), "--port", str(port)]


def python_script(path: str | Path, *args: str) -> list[str]:
    """`path` run by this interpreter: how a benchmark starts itself in another role."""
    return [sys.executable, str(path), *args]


def clean_env() -> dict[str, str]:
    """This environment without AIPROD_SANDBOX_* variables: a server runs on its flags alone."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIPROD_SANDBOX_")}


def pinned(core: int, argv: Sequence[str]) -> list[str]:
    """`taskset -c CORE argv` where taskset exists (it execs: the pid stays the program's)."""
    if shutil.which("taskset") and core < (os.cpu_count() or 1):
        return ["taskset", "-c", str(core), *argv]
    return list(argv)


@contextlib.contextmanager
def on_core(core: int) -> Iterator[None]:
    """This process on `core` alone for the block (when the machine has it), then as before."""
    before = os.sched_getaffinity(0)
    with contextlib.suppress(OSError):
        if core < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def stop(process: subprocess.Popen[Any], timeout: float = 5.0) -> float:
    """SIGTERM, then kill if it has not exited within `timeout` s; the seconds it took."""
    started = time.perf_counter()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    return time.perf_counter() - started


def wait_ready(
    process: subprocess.Popen[Any],
    ready: Callable[[], bool],
    started: float,
    what: str,
    *,
    output: Callable[[], str] | None = None,
    interval: float = POLL_INTERVAL,
    give_up: float = GIVE_UP_AFTER,
) -> float:
    """Poll `ready` every `interval` s until it holds; the seconds since `started` (a
    `time.perf_counter()` taken before the spawn). RuntimeError, with what `output` returns,
    if the process exits first; RuntimeError after `give_up` s."""
    while not ready():
        if process.poll() is not None:
            said = output() if output else ""
            raise RuntimeError(f"{what} exited {process.returncode}:\n{said}")
        if time.perf_counter() - started > give_up:
            raise RuntimeError(f"{what}: not ready within {give_up} s")
        time.sleep(interval)
    return time.perf_counter() - started


def read_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One stdout line of a child, or RuntimeError after `timeout` seconds."""
    box: list[bytes] = []
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: box.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box or not box[0]:
        raise RuntimeError(f"{process.args!r}: no line on stdout within {timeout} s")
    return box[0]


def ready_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The `ready on http://127.0.0.1:PORT` line a server on `--port 0` prints, read by a
    thread that goes on draining stdout (a full pipe would block the server). RuntimeError,
    with what it printed, if the line has not come within `timeout` s."""
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for raw in stdout:
            if not found.is_set():
                lines.append(raw.decode(errors="replace"))
                if READY.search(lines[-1]):
                    found.set()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout) or not lines or not READY.search(lines[-1]):
        raise RuntimeError(f"no ready line within {timeout} s: {''.join(lines)}")
    return lines[-1].strip()


def ready_url(line: str) -> str:
    """The `http://127.0.0.1:PORT` in a ready line."""
    found = READY.search(line)
    if found is None:
        raise RuntimeError(f"not a ready line: {line!r}")
    return found[1]
