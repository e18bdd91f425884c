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
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script from anywhere
from startup import free_port, health_status  # noqa: E402  (the same probe as bench/startup.py)

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5
POLL_INTERVAL = 0.002
GIVE_UP_AFTER = 30.0
LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


# --- the Dockerfile's runtime stage ----------------------------------------------------------


def runtime_stage(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, args) of the last stage; comments dropped, continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if not continued:
            keyword, _, args = " ".join(pending).partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = []
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


class Image:
    def __init__(self, dockerfile: Path) -> None:
        stage = runtime_stage(dockerfile.read_text(encoding="utf-8"))
        self.env: dict[str, str] = {}
        self.entrypoint: list[str] = []
        self.cmd: list[str] = []
        self.healthcheck: list[str] = []
        self.health_timeout = 30.0
        for keyword, args in stage:
            if keyword == "ENV":
                words = shlex.split(args)
                if words and "=" not in words[0]:
                    self.env[words[0]] = " ".join(words[1:])
                else:
                    self.env.update(word.split("=", 1) for word in words)
            elif keyword == "ENTRYPOINT":
                self.entrypoint = json.loads(args)
            elif keyword == "CMD":
                self.cmd = json.loads(args)
            elif keyword == "HEALTHCHECK":
                found = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.+)", args, re.IGNORECASE)
                if found is None:
                    raise SystemExit("HEALTHCHECK without CMD")
                body = found[2].strip()
                self.healthcheck = (
                    json.loads(body) if body.startswith("[") else ["/bin/sh", "-c", body]
                )
                timeout = re.search(r"--timeout=(\d+(?:\.\d+)?)s\b", found[1])
                if timeout:
                    self.health_timeout = float(timeout[1])
        if not (self.entrypoint and self.healthcheck and "AIPROD_SANDBOX_PORT" in self.env):
            raise SystemExit("the Dockerfile lacks ENTRYPOINT, HEALTHCHECK or the port ENV")

    def command(self, run_args: Sequence[str]) -> list[str]:
        """What `docker run IMAGE *run_args` executes: run arguments replace CMD."""
        return [*self.entrypoint, *(run_args or self.cmd)]


# --- build and install ------------------------------------------------------------------------


def run_checked(argv: Sequence[str], timeout: float, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr[-4000:]}")


def build_and_install(root: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    dist = root / "dist"
    run_checked(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), "."], 300, REPO, env
    )
    wheel = next(dist.glob("*.whl"))
    venv = root / "venv"
    run_checked([sys.executable, "-m", "venv", str(venv)], 60, root, env)
    run_checked(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        180,
        root,
        env,
    )
    return venv


# --- measuring ----------------------------------------------------------------------------------


class Runner:
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

    @staticmethod
    def stop(process: subprocess.Popen[bytes]) -> float:
        started = time.perf_counter()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        return time.perf_counter() - started

    def until(self, ready: Callable[[int], bool], interval: float) -> tuple[float, float]:
        """(seconds from spawn until `ready`, seconds from SIGTERM to exit)."""
        port = free_port()
        started = time.perf_counter()
        process = self.spawn(port)
        try:
            while not ready(port):
                if process.poll() is not None:
                    raise SystemExit(f"the server exited {process.returncode} before healthy")
                if time.perf_counter() - started > GIVE_UP_AFTER:
                    raise SystemExit(f"not healthy within {GIVE_UP_AFTER} s")
                time.sleep(interval)
            healthy = time.perf_counter() - started
        finally:
            stopped = self.stop(process)
        return healthy, stopped

    def one_probe(self) -> float:
        port = free_port()
        process = self.spawn(port)
        try:
            self.until_up(process, port)
            started = time.perf_counter()
            code = self.probe(port)
            seconds = time.perf_counter() - started
            if code != 0:
                raise SystemExit(f"HEALTHCHECK exited {code} against a running server")
            return seconds
        finally:
            self.stop(process)

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

    @staticmethod
    def until_up(process: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.perf_counter() + GIVE_UP_AFTER
        while health_status(port) != 200:
            if process.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit("the server did not come up")
            time.sleep(POLL_INTERVAL)


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p90 = statistics.quantiles(ordered, n=10, method="inclusive")[8] if len(ordered) > 1 else 0.0
    return ordered[0], statistics.median(ordered), p90 or ordered[-1]


def describe_machine(venv: Path) -> list[str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
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
        f"{os.cpu_count()} CPUs, {cpu}, {platform.system()} {platform.release()}, "
        f"load average {load:.2f} at start",
        f"installed: Python {versions}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Installed wheel: spawn to healthy.")
    parser.add_argument("--venv", type=Path, help="a venv with the wheel installed already")
    parser.add_argument("--runs", type=int, default=10, help="measured runs each (default: 10)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs each first")
    args = parser.parse_args(argv)

    image = Image(REPO / "Dockerfile")
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
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for run in range(args.warmup + args.runs):
            for name, measure in contenders.items():
                seconds = measure()
                if run >= args.warmup:
                    samples[name].append(seconds)
        samples["idle SIGTERM -> exit"] = stop_samples[args.warmup :]

    print(f"\n{args.runs} runs each (seconds)")
    print(f"{'':32} {'min':>7} {'median':>7} {'p90':>7}")
    figures = {}
    for name, values in samples.items():
        figures[name] = summary(values)
        low, median, p90 = figures[name]
        print(f"{name:32} {low:7.3f} {median:7.3f} {p90:7.3f}")
    for name in ("spawn -> first 200 on /health", "spawn -> HEALTHCHECK exits 0"):
        median, p90 = figures[name][1], figures[name][2]
        verdict = "met" if median <= TARGET_SECONDS else "NOT met"
        print(f"target median <= {TARGET_SECONDS} s, {name}: {verdict} (p90 {p90:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
