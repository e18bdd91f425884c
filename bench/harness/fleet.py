"""The child processes of one benchmark run, every one stopped at the end however the run ends:
servers started on a free port and waited for until GET /health answers 200, servers on
`--port 0` waited for until their ready line, and any other child."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .processes import (
    ROOT,
    clean_env,
    free_port,
    health_status,
    pinned,
    ready_line,
    sandbox_cli,
    stop,
    wait_ready,
)


@dataclass
class Server:
    """A server the Fleet started on a free port, and how long it took to answer 200."""

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
    """`start` runs a server on a free port (pinned to `core` unless None, its output to a log
    in `logs`) and returns once GET /health answers 200, noting the time it took per name;
    `serve` runs `aiprod-sandbox serve --port 0` until its ready line; `spawn` runs any other
    child. Use it as a context manager (or call `stop_all`)."""

    def __init__(
        self,
        logs: Path | None = None,
        *,
        core: int | None = 0,
        cwd: Path | None = ROOT,
        stop_timeout: float = 10.0,
    ) -> None:
        self.logs = logs
        self.core = core
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self.children: list[subprocess.Popen[bytes]] = []
        self.startups: dict[str, list[float]] = {}

    def spawn(self, argv: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = subprocess.Popen(list(argv), **options)
        self.children.append(process)
        return process

    def start(self, name: str, argv: Callable[[int], list[str]]) -> Server:
        assert self.logs is not None, "Fleet(logs=...) to start servers"
        port = free_port()
        log = self.logs / f"{name.replace(' ', '_')}-{port}.log"
        command = argv(port) if self.core is None else pinned(self.core, argv(port))
        env = clean_env()
        started = time.perf_counter()
        with log.open("wb") as sink:
            process = self.spawn(
                command,
                env=env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        seconds = wait_ready(
            process, lambda: health_status(port) == 200, started, name, output=log.read_text
        )
        self.startups.setdefault(name.split(" ")[0], []).append(seconds)
        return Server(name, port, process, seconds, log)

    def serve(
        self, *flags: str, log: IO[bytes], env: dict[str, str] | None = None, timeout: float = 30.0
    ) -> tuple[subprocess.Popen[bytes], str]:
        """`aiprod-sandbox serve --port 0 *flags`, stderr to `log`; once it has printed its
        ready line: the process and that line. RuntimeError if it has not in `timeout` s."""
        process = self.spawn(
            [sandbox_cli(), "serve", "--port", "0", *flags],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
        return process, ready_line(process, timeout)

    def stop(self, child: Server | subprocess.Popen[bytes]) -> float:
        """Stop one child now; the seconds it took."""
        process = child.process if isinstance(child, Server) else child
        seconds = stop(process, self.stop_timeout)
        if process in self.children:
            self.children.remove(process)
        return seconds

    def stop_all(self) -> None:
        for process in reversed(list(self.children)):
            with contextlib.suppress(Exception):
                self.stop(process)

    @contextlib.contextmanager
    def serving(self, name: str, argv: Callable[[int], list[str]]) -> Iterator[Server]:
        server = self.start(name, argv)
        try:
            yield server
        finally:
            self.stop(server)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
