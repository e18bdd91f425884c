"""Startup benchmark: time from process spawn to the first 200 on `GET /health`.

Measures `aiprod-sandbox serve --port P`, the same for a bare Starlette + uvicorn app
(`bench/bare_app.py`), and `python -c pass` (spawn to exit) as the floor. Runs are interleaved
so that drift in the machine's load touches every contender alike. The target is a median
under 0.5 s for the sandbox.

    .venv/bin/python bench/startup.py            # 20 runs each
    .venv/bin/python bench/startup.py --runs 50
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_SECONDS = 0.5
POLL_INTERVAL = 0.002
GIVE_UP_AFTER = 30.0
REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health_status(port: int) -> int | None:
    """The status of one raw `GET /health`, or None if nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(REQUEST)
            head = sock.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        return None
    return int(parts[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def time_to_health(argv: Sequence[str], port: int, env: dict[str, str]) -> float:
    """Seconds from spawning `argv` until `GET /health` on `port` answers 200."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while True:
            if health_status(port) == 200:
                return time.perf_counter() - started
            if process.poll() is not None:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"{argv[0]} exited {process.returncode}:\n{stderr}")
            if time.perf_counter() - started > GIVE_UP_AFTER:
                raise RuntimeError(f"{' '.join(argv)}: no 200 on /health in {GIVE_UP_AFTER} s")
            time.sleep(POLL_INTERVAL)
    finally:
        stop(process)
        if process.stderr:
            process.stderr.close()


def time_to_exit(argv: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, check=True, timeout=GIVE_UP_AFTER)
    return time.perf_counter() - started


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p90 = statistics.quantiles(ordered, n=10, method="inclusive")[8] if len(ordered) > 1 else 0.0
    return ordered[0], statistics.median(ordered), p90 or ordered[-1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Startup to first 200 on /health.")
    parser.add_argument("--runs", type=int, default=20, help="measured runs each (default: 20)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured runs each first")
    args = parser.parse_args(argv)

    python = sys.executable
    cli = str(Path(python).parent / "aiprod-sandbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPROD_SANDBOX_")}

    def served(command: Callable[[int], list[str]]) -> Callable[[], float]:
        def measure() -> float:
            port = free_port()
            return time_to_health(command(port), port, env)

        return measure

    contenders: dict[str, Callable[[], float]] = {
        "aiprod-sandbox serve": served(lambda port: [cli, "serve", "--port", str(port)]),
        "bare starlette+uvicorn": served(
            lambda port: [python, str(HERE / "bare_app.py"), "--port", str(port)]
        ),
        "python -c pass (floor)": lambda: time_to_exit([python, "-c", "pass"], env),
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for run in range(args.warmup + args.runs):
        for name, measure in contenders.items():
            seconds = measure()
            if run >= args.warmup:
                samples[name].append(seconds)

    print(f"startup to first 200 on GET /health, {args.runs} runs each (seconds)")
    print(f"{'':24} {'min':>7} {'median':>7} {'p90':>7}")
    figures = {}
    for name, values in samples.items():
        figures[name] = summary(values)
        low, median, p90 = figures[name]
        print(f"{name:24} {low:7.3f} {median:7.3f} {p90:7.3f}")
    sandbox_median = figures["aiprod-sandbox serve"][1]
    bare_median = figures["bare starlette+uvicorn"][1]
    floor_median = figures["python -c pass (floor)"][1]
    print(f"ratio sandbox/bare (median): {sandbox_median / bare_median:.2f}x")
    print(
        f"above the floor (median): sandbox +{sandbox_median - floor_median:.3f} s, "
        f"bare +{bare_median - floor_median:.3f} s"
    )
    met = sandbox_median < TARGET_SECONDS
    print(f"target median < {TARGET_SECONDS} s: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
