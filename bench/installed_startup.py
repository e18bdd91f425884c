"""Startup of the installed wheel, run the way the image runs it.

Builds the wheel (`python -m build --wheel`) and installs it into a fresh virtual environment
in a temporary folder outside the source tree (or takes `--venv PATH`, a venv that already has
it), reads the Dockerfile's runtime ENV, ENTRYPOINT/CMD and HEALTHCHECK, and measures, from
process spawn of `ENTRYPOINT --seed 7` (as `docker run IMAGE --seed 7`) with the Dockerfile's ENV
and a free port in AIPROD_SANDBOX_PORT:

- to the first HEALTHCHECK command that exits 0 (the command run back to back, one at a time,
  exactly as the Dockerfile gives it; the time is taken when the passing probe exits);
- to the first 200 on GET /health, polled by raw socket every 2 ms (a separate spawn);
- one HEALTHCHECK probe against a server already up (spawn to exit 0): the probe's own cost;
- SIGTERM to exit of an idle server;
- `python -c pass` from the venv (spawn to exit): the floor, and a gauge of the machine's load.

Runs are interleaved after unmeasured warm-ups. Target: startup to healthy <= 0.5 s.

    .venv/bin/python bench/installed_startup.py              # build + install, 10 runs each
    .venv/bin/python bench/installed_startup.py --venv /tmp/v --runs 20
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.machine import cpu_model
from harness.measuring import interleaved
from harness.processes import (
    GIVE_UP_AFTER,
    POLL_INTERVAL,
    ROOT,
    free_port,
    health_status,
    stop,
    wait_ready,
)
from harness.report import print_spread
from installed_startup_parts.dockerfile import Image
from installed_startup_parts.wheel import LEAKY, build_and_install

TARGET_SECONDS = 0.5


class Runner:
    """The installed command, run as the image runs it: the Dockerfile's ENV, the venv's bin
    first on PATH, a port of its own in AIPROD_SANDBOX_PORT, from an empty folder."""

    def __init__(self, image: Image, venv: Path, workdir: Path) -> None:
        self.image = image
        self.bin = venv / "bin"
        self.workdir = workdir
        base = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("AIPROD_SANDBOX_")
            and name not in LEAKY
            and not name.lower().endswith("_proxy")
        }
        base["PATH"] = os.pathsep.join([str(self.bin), base.get("PATH", os.defpath)])
        self.base_env = {**base, **image.env}

    def resolve(self, argv: Sequence[str], env: dict[str, str]) -> list[str]:
        found = shutil.which(argv[0], path=env["PATH"])
        if found is None or Path(found).parent != self.bin:
            raise SystemExit(f"{argv[0]} does not resolve into {self.bin} (got {found})")
        return [found, *argv[1:]]

    def env(self, port: int) -> dict[str, str]:
        return {**self.base_env, "AIPROD_SANDBOX_PORT": str(port)}

    def spawn(self, port: int) -> subprocess.Popen[bytes]:
        env = self.env(port)
        return subprocess.Popen(
            self.resolve(self.image.command(["--seed", "7"]), env),
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def probe(self, port: int) -> int:
        """The HEALTHCHECK command, exactly as the Dockerfile gives it; its exit status."""
        env = self.env(port)
        argv = self.image.healthcheck
        if argv[0] != "/bin/sh":
            argv = self.resolve(argv, env)
        try:
            return subprocess.run(
                argv,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=self.image.health_timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            return 124

    def until(self, ready: Callable[[int], bool], interval: float) -> tuple[float, float]:
        """(seconds from spawn until `ready`, seconds from SIGTERM to exit)."""
        port = free_port()
        started = time.perf_counter()
        process = self.spawn(port)
        try:
            healthy = wait_ready(
                process, lambda: ready(port), started, "the server", interval=interval
            )
        finally:
            stopped = stop(process)
        return healthy, stopped

    def one_probe(self) -> float:
        """One HEALTHCHECK probe against a server already up, spawn to exit 0."""
        port = free_port()
        process = self.spawn(port)
        try:
            wait_ready(
                process, lambda: health_status(port) == 200, time.perf_counter(), "the server"
            )
            started = time.perf_counter()
            code = self.probe(port)
            seconds = time.perf_counter() - started
            if code != 0:
                raise SystemExit(f"HEALTHCHECK exited {code} against a running server")
            return seconds
        finally:
            stop(process)

    def floor(self) -> float:
        """The venv's interpreter alone, spawn to exit: what any command costs at least."""
        started = time.perf_counter()
        subprocess.run(
            [str(self.bin / "python"), "-c", "pass"],
            cwd=self.workdir,
            env=self.base_env,
            check=True,
            timeout=GIVE_UP_AFTER,
        )
        return time.perf_counter() - started


def describe_machine(venv: Path) -> list[str]:
    """The machine, and the versions installed in `venv` (asked of its own interpreter)."""
    versions = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m, platform; print(platform.python_version(), "
            "*(f'{n} {m.version(n)}' for n in ('aiprod-sandbox', 'uvicorn', 'starlette', "
            "'pydantic')), sep=', ')",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        f"{os.cpu_count()} CPUs, {cpu_model()}, {platform.system()} {platform.release()}, "
        f"load average {load:.2f} at start",
        f"installed: Python {versions}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Installed wheel: spawn to healthy.")
    parser.add_argument("--venv", type=Path, help="a venv with the wheel installed already")
    parser.add_argument("--runs", type=int, default=10, help="measured runs each (default: 10)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs each first")
    args = parser.parse_args(argv)

    image = Image(ROOT / "Dockerfile")
    with tempfile.TemporaryDirectory(prefix="aiprod-installed-") as temp:
        root = Path(temp)
        if args.venv is None:
            print("building the wheel and installing it into a fresh venv ...", flush=True)
            venv = build_and_install(root)
        else:
            venv = args.venv.resolve()
        workdir = root / "cwd"
        workdir.mkdir()
        runner = Runner(image, venv, workdir)
        for line in describe_machine(venv):
            print(line)
        print(
            f"command: {' '.join(image.command(['--seed', '7']))}; "
            f"healthcheck: {' '.join(image.healthcheck)}"
        )

        stop_samples: list[float] = []

        def to_healthcheck() -> float:
            return runner.until(lambda port: runner.probe(port) == 0, 0.0)[0]

        def to_raw_200() -> float:
            healthy, stopped = runner.until(lambda port: health_status(port) == 200, POLL_INTERVAL)
            stop_samples.append(stopped)
            return healthy

        contenders: dict[str, Callable[[], float]] = {
            "spawn -> HEALTHCHECK exits 0": to_healthcheck,
            "spawn -> first 200 on /health": to_raw_200,
            "one HEALTHCHECK probe (up)": runner.one_probe,
            "python -c pass (floor)": runner.floor,
        }
        try:
            samples = interleaved(contenders, args.runs, args.warmup)
        except RuntimeError as exc:  # the server exited, or was not up in time
            raise SystemExit(str(exc)) from None
        samples["idle SIGTERM -> exit"] = stop_samples[args.warmup :]

    print(f"\n{args.runs} runs each (seconds)")
    figures = print_spread(samples, 32)
    for name in ("spawn -> first 200 on /health", "spawn -> HEALTHCHECK exits 0"):
        median, p90 = figures[name][1], figures[name][2]
        verdict = "met" if median <= TARGET_SECONDS else "NOT met"
        print(f"target median <= {TARGET_SECONDS} s, {name}: {verdict} (p90 {p90:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
