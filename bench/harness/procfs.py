"""What /proc says of a process: its memory, its CPU time, how long it waited for a core; and
the machine's load average. MiB = 2**20 bytes, as VmRSS counts them."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path


def status_kib(pid: int) -> dict[str, int]:
    """The sizes in /proc/PID/status (VmRSS, VmHWM, ...), in KiB."""
    sizes: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        words = rest.split()
        if len(words) == 2 and words[1] == "kB":
            sizes[name] = int(words[0])
    return sizes


def rss_mib(pid: int) -> float:
    """VmRSS of a process, MiB."""
    return status_kib(pid)["VmRSS"] / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ran_and_waited_ns(pid: int) -> tuple[int, int]:
    """Nanoseconds a process's threads ran and waited to run (`/proc/PID/task/*/schedstat`)."""
    ran = waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "schedstat").read_text().split()
            ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran, waited


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes, as /proc/loadavg gives it."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class RssSampler(threading.Thread):
    """VmRSS of a process every `every` s, in a thread, until `halt` is set."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.trace: list[tuple[float, int]] = []  # (monotonic, VmRSS KiB)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.trace.append((time.monotonic(), status_kib(self.pid)["VmRSS"]))
            self.halt.wait(self.every)

    def at(self, moment: float) -> int:
        """The last sample taken at or before `moment` (KiB)."""
        return max(((t, kib) for t, kib in self.trace if t <= moment), key=lambda s: s[0])[1]

    def peak(self, since: float = 0.0) -> tuple[float, int]:
        """(when, KiB) of the highest sample taken at or after `since`."""
        return max(((t, kib) for t, kib in self.trace if t >= since), key=lambda s: s[1])
