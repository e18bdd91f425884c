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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.fleet import Fleet
from harness.measuring import interleaved
from harness.processes import GIVE_UP_AFTER, bare_app, clean_env, sandbox_cli
from harness.report import print_spread

TARGET_SECONDS = 0.5


def time_to_exit(argv: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, check=True, timeout=GIVE_UP_AFTER)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Startup to first 200 on /health.")
    parser.add_argument("--runs", type=int, default=20, help="measured runs each (default: 20)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured runs each first")
    args = parser.parse_args(argv)

    cli = sandbox_cli()
    env = clean_env()
    with tempfile.TemporaryDirectory(prefix="aiprod-startup-") as logs:
        # not pinned, started from this folder: as a partner starts it
        fleet = Fleet(Path(logs), core=None, cwd=None)

        def served(name: str, command: Callable[[int], list[str]]) -> Callable[[], float]:
            def measure() -> float:
                server = fleet.start(name, command)
                fleet.stop(server)
                return server.startup_s

            return measure

        contenders: dict[str, Callable[[], float]] = {
            "aiprod-sandbox serve": served(
                "sandbox", lambda port: [cli, "serve", "--port", str(port)]
            ),
            "bare starlette+uvicorn": served("bare", bare_app),
            "python -c pass (floor)": lambda: time_to_exit([sys.executable, "-c", "pass"], env),
        }
        with fleet:
            samples = interleaved(contenders, args.runs, args.warmup)

    print(f"startup to first 200 on GET /health, {args.runs} runs each (seconds)")
    figures = print_spread(samples, 24)
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
