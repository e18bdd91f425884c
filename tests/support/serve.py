"""The real `aiprod-sandbox serve` command in a child process, for the suites that need one.

`launch` starts `aiprod-sandbox serve --port 0 --seed 7 *args` with a clean environment (no
AIPROD_SANDBOX_* variables, no proxies), reads stdout in a thread so the child never blocks,
and returns once the ready line is read, or fails the test with the child's stderr.
`shut_down` stops it with SIGTERM (it is killed, and the test fails, past 5 s). Only
127.0.0.1 is used, and every wait has a timeout.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

import httpx
import pytest

CLI = Path(sys.executable).parent / "aiprod-sandbox"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
_ALNUM = string.ascii_letters + string.digits
READY_LINE = re.compile(
    r"^AIPROD Sandbox (?P<version>\S+) ready on (?P<url>http://127\.0\.0\.1:(?P<port>\d+)) "
    r"\(example key: (?P<key>sk_test_\w+); docs: (?P<docs>\S+)\)$"
)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without AIPROD_SANDBOX_* settings or proxies, plus `extra`.

    The suite must not depend on the shell it runs in: a stray variable would change the
    server's settings, and a proxy would swallow requests to 127.0.0.1.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIPROD_SANDBOX_") and not name.lower().endswith("_proxy")
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def http_client(timeout: float = 5.0) -> httpx.Client:
    """A client that ignores proxy variables: every request goes straight to 127.0.0.1."""
    return httpx.Client(timeout=timeout, trust_env=False)


@dataclass
class SandboxProcess:
    """A running `aiprod-sandbox serve`: its URL, ready line and process."""

    process: subprocess.Popen[str]
    ready_line: str
    base_url: str
    port: int
    example_key: str
    stderr_file: IO[str]
    stdout_reader: threading.Thread
    stdout_lines: queue.Queue[str | None]

    def later_stdout(self) -> list[str]:
        """Lines printed to stdout after the ready line (complete once the process exited)."""
        self.stdout_reader.join(timeout=STOP_TIMEOUT)
        printed = []
        while True:
            try:
                line = self.stdout_lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                printed.append(line)
        return printed

    def stderr(self) -> str:
        self.stderr_file.flush()
        self.stderr_file.seek(0)
        return self.stderr_file.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> tuple[int, float]:
        """Send `sig` and wait; returns (exit code, seconds to exit). Kills on timeout."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            pytest.fail(
                f"aiprod-sandbox did not exit within {timeout} s of signal {sig}; killed it.\n"
                f"stderr:\n{self.stderr()}"
            )
        return code, time.monotonic() - started


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Read the child's stdout to the end so it can never block on a full pipe."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def launch(
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    command: Sequence[str] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> SandboxProcess:
    """Start `aiprod-sandbox serve --port 0 --seed 7 *args` and wait for its ready line.

    `command` replaces the `aiprod-sandbox serve` part (e.g. `python -m aiprod_sandbox serve`).
    Fails the test, with the process's stderr, if no ready line comes within `ready_timeout`.
    """
    argv = [*(command or [str(CLI), "serve"]), "--port", "0", "--seed", "7", *args]
    stderr_file = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        env=clean_env(env),
        text=True,
        encoding="utf-8",
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
    reader.start()

    def give_up(why: str) -> NoReturn:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=STOP_TIMEOUT)
        _close_pipes(process, reader)
        stderr_file.seek(0)
        stderr = stderr_file.read()
        stderr_file.close()
        pytest.fail(f"{' '.join(argv)}: {why} (exit code {process.returncode})\nstderr:\n{stderr}")

    try:
        line = lines.get(timeout=ready_timeout)
    except queue.Empty:
        give_up(f"no ready line within {ready_timeout} s")
    if line is None:
        give_up("exited before printing a ready line")
    ready_line = line.rstrip("\n")
    match = READY_LINE.match(ready_line)
    if match is None:
        give_up(f"unexpected first line on stdout: {ready_line!r}")
    return SandboxProcess(
        process=process,
        ready_line=ready_line,
        base_url=match["url"],
        port=int(match["port"]),
        example_key=match["key"],
        stderr_file=stderr_file,
        stdout_reader=reader,
        stdout_lines=lines,
    )


def _close_pipes(process: subprocess.Popen[str], reader: threading.Thread) -> None:
    """After exit: let the reader reach end of file, then close stdout."""
    reader.join(timeout=STOP_TIMEOUT)
    if process.stdout is not None:
        process.stdout.close()


def shut_down(server: SandboxProcess) -> None:
    """Stop with SIGTERM (bounded), then close its pipes and its stderr file."""
    try:
        server.stop(signal.SIGTERM, STOP_TIMEOUT)
    finally:
        _close_pipes(server.process, server.stdout_reader)
        server.stderr_file.close()


def random_key(prefix: str = "sk_test_") -> str:
    """A fresh, well-formed test key: a new account nobody else uses."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(24))
