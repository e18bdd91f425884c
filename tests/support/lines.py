"""A child process's output read line by line in a thread, so a test can wait for a line
(bounded) without the child ever blocking on a full pipe."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import IO


class LineReader:
    """Every line of `stream` as it comes; `wait_line` takes them in order from now on."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []  # every line taken so far, in order
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)  # the stream ended

    def wait_line(self, wanted: Callable[[str], bool], timeout: float) -> str | None:
        """The first line from now on that is `wanted`; None if the stream ends, or
        `timeout` seconds pass, first."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._new.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.lines.append(line)
            if wanted(line):
                return line
        return None

    def rest(self, timeout: float) -> list[str]:
        """The lines left once the stream has ended (within `timeout`)."""
        while (line := self._new.get(timeout=timeout)) is not None:
            self.lines.append(line)
        return self.lines


def read_lines(stream: IO[str], into: queue.Queue[str]) -> None:
    """Every line of `stream` into `into`, as it comes (run it in a daemon thread)."""
    for line in stream:
        into.put(line)
