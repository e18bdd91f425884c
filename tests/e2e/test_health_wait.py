"""`aiprod-sandbox health --wait`: how a CI job without `docker inspect` (GitLab's services,
a compose step) waits for its sandbox: it asks again until healthy, for a bounded time."""

from __future__ import annotations

import subprocess
import time

from tests.packaging.conftest import free_port
from tests.support.serve import CLI, clean_env, launch, shut_down


def test_it_waits_for_a_sandbox_that_starts_later() -> None:
    port = free_port()
    waiting = subprocess.Popen(
        [str(CLI), "health", "--url", f"http://127.0.0.1:{port}", "--wait", "20"],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    assert waiting.poll() is None  # nothing answers yet: still waiting
    server = launch(["--port", str(port)])  # the last --port given wins
    try:
        out, err = waiting.communicate(timeout=20)
    finally:
        shut_down(server)
    assert waiting.returncode == 0, err
    assert out.strip() == f"healthy: http://127.0.0.1:{port}"


def test_it_gives_up_after_the_wait_with_the_reason() -> None:
    port = free_port()
    started = time.monotonic()
    done = subprocess.run(
        [str(CLI), "health", "--url", f"http://127.0.0.1:{port}", "--wait", "0.6"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 1
    assert 0.6 <= time.monotonic() - started < 10
    assert done.stderr.startswith(f"unhealthy: http://127.0.0.1:{port}: ")
    assert "Traceback" not in done.stderr
