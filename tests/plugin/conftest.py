"""Tests of the pytest plugin: each one writes a small test suite and runs it with `pytester`.

The inner suites run in a child process (`runpytest_subprocess`): the plugin starts servers
and threads, and a child process is the way a partner's CI runs it. The plugin is never
named on those command lines: it is on because the package is installed (its `pytest11`
entry point), as for a partner.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

# `pytest_plugins = ["pytester"]` here would be refused when the whole suite runs from the
# root ("Defining 'pytest_plugins' in a non-top-level conftest is no longer supported"), so
# the plugin is loaded when this folder's conftest is; a no-op if it is loaded already.
PYTESTER = "pytester"

INNER_TIMEOUT = 60.0
# What every inner run gets: no cache files, markers checked, warnings are errors (as in
# this project's own configuration), and a short traceback for readable failures.
INNER_ARGS = ("-p", "no:cacheprovider", "--strict-markers", "-W", "error", "--tb=short")
# Plugins of other packages in this environment: not under test, and slow to import (they
# double the start of every inner run). The xdist test turns xdist back on.
UNRELATED_PLUGINS = ("faker", "hypothesispytest", "anyio", "xdist", "xdist.looponfail")
# Variables that would point the inner runs somewhere else than the plugin's defaults.
PLUGIN_VARIABLES = ("AIPROD_SANDBOX_URL", "AIPROD_SANDBOX_RECEIVER_HOST")

# The external sandbox: the console script installed next to this interpreter.
CLI = Path(sys.executable).parent / "aiprod-sandbox"
READY = re.compile(r"ready on (http://127\.0\.0\.1:\d+)")
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PYTESTER):
        config.pluginmanager.import_plugin(PYTESTER)


class Inner:
    """Runs a suite written into the pytester folder, in a child process."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester

    def run(
        self, *args: str, timeout: float = INNER_TIMEOUT, keep: tuple[str, ...] = ()
    ) -> pytest.RunResult:
        """Run pytest in the folder; `keep` names unrelated plugins to leave on."""
        blocked = [f"-pno:{name}" for name in UNRELATED_PLUGINS if name.split(".")[0] not in keep]
        return self.pytester.runpytest_subprocess(*INNER_ARGS, *blocked, *args, timeout=timeout)

    def suite(self, *args: str, timeout: float = INNER_TIMEOUT, **files: Any) -> pytest.RunResult:
        """Write `files` (name → module source) and run pytest on the folder."""
        self.pytester.makepyfile(**files)
        return self.run(*args, timeout=timeout)


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Inner:
    for name in PLUGIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return Inner(pytester)


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)  # the process closed its output: it has stopped


@pytest.fixture(scope="session")
def served() -> Iterator[str]:
    """A real `aiprod-sandbox serve --port 0` (as a container runs it); its URL, read from
    the ready line. Stopped with SIGTERM, and it must exit cleanly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPROD_SANDBOX_")}
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [str(CLI), "serve", "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        yield _ready_url(lines)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=STOP_TIMEOUT) == 0
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        finally:
            reader.join(timeout=STOP_TIMEOUT)
            process.stdout.close()


def _ready_url(lines: queue.Queue[str | None]) -> str:
    printed: list[str] = []
    while True:
        try:
            line = lines.get(timeout=READY_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no ready line within {READY_TIMEOUT} s; printed: {printed}")
        if line is None:
            pytest.fail(f"aiprod-sandbox serve stopped before it was ready; printed: {printed}")
        printed.append(line)
        found = READY.search(line)
        if found:
            return found.group(1)
