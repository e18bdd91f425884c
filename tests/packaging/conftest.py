"""Packaging fixtures: the wheel and sdist built once, the wheel installed once into a fresh
virtual environment outside the source tree, the Dockerfile parsed, and the image's exact
ENTRYPOINT/CMD run from that install as `docker run` would run it.

No Docker engine is needed: the Dockerfile's runtime stage is read (ENV, ENTRYPOINT, CMD,
HEALTHCHECK), its commands are resolved on the venv's bin/ (the image's PATH has them on
/usr/local/bin), and they run with the Dockerfile's ENV plus a free port given through the
same AIPROD_SANDBOX_PORT variable. Every wait is bounded, every process is stopped (SIGTERM,
then SIGKILL) at teardown, and requests go to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
CONSTRAINTS = REPO / "constraints" / "runtime.txt"  # the image's pinned dependencies
BUILD_TIMEOUT = 300.0
VENV_TIMEOUT = 60.0
INSTALL_TIMEOUT = 180.0
CLI_TIMEOUT = 15.0
HEALTHY_WITHIN = 10.0
STOP_TIMEOUT = 5.0
# Variables that would make the installed wheel read something other than itself.
_LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH")


# --- the Dockerfile -----------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # continuation lines joined with one space
    line: int


@dataclass(frozen=True)
class Healthcheck:
    options: dict[str, str]
    command: list[str]
    exec_form: bool

    def seconds(self, name: str, default: float) -> float:
        """An option such as --timeout=3s in seconds (Docker's default if not given)."""
        text = self.options.get(name)
        if text is None:
            return default
        total = 0.0
        for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", text):
            total += (
                float(amount)
                * {
                    "h": 3600,
                    "m": 60,
                    "s": 1,
                    "ms": 1e-3,
                    "us": 1e-6,
                    "ns": 1e-9,
                }[unit]
            )
        return total


@dataclass(frozen=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]

    @classmethod
    def parse(cls, text: str) -> Dockerfile:
        """Comments and blank lines dropped (also inside a continuation, as Docker does),
        backslash continuations joined."""
        found: list[Instruction] = []
        pending: list[str] = []
        start = 0
        for number, raw in enumerate(text.splitlines(), start=1):
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not pending:
                start = number
            continued = stripped.endswith("\\")
            pending.append(stripped[:-1].strip() if continued else stripped)
            if not continued:
                keyword, _, args = " ".join(pending).partition(" ")
                found.append(Instruction(keyword.upper(), args.strip(), start))
                pending = []
        assert not pending, "the Dockerfile ends inside a line continuation"
        return cls(tuple(found))

    @property
    def stages(self) -> list[list[Instruction]]:
        stages: list[list[Instruction]] = []
        for instruction in self.instructions:
            if instruction.keyword == "FROM":
                stages.append([])
            if stages:
                stages[-1].append(instruction)
        return stages

    @property
    def runtime(self) -> list[Instruction]:
        """The last stage: what `docker run` runs."""
        return self.stages[-1]

    def all(self, keyword: str, stage: Sequence[Instruction] | None = None) -> list[Instruction]:
        return [i for i in (self.runtime if stage is None else stage) if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None  # Docker keeps the last CMD/ENTRYPOINT/...

    def exec_form(self, keyword: str) -> list[str] | None:
        """ENTRYPOINT or CMD as an argv list; None if absent. Fails on the shell form (a shell
        as PID 1 would swallow SIGTERM)."""
        instruction = self.last(keyword)
        if instruction is None:
            return None
        assert instruction.args.startswith("["), (
            f"line {instruction.line}: {keyword} must use the exec (JSON array) form"
        )
        argv = json.loads(instruction.args)
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), argv
        return argv

    @staticmethod
    def _pairs(args: str) -> dict[str, str]:
        words = shlex.split(args)
        if words and "=" not in words[0]:  # legacy `ENV KEY value with spaces`
            return {words[0]: " ".join(words[1:])}
        return dict(word.split("=", 1) for word in words)

    @property
    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            values.update(self._pairs(instruction.args))
        return values

    @property
    def labels(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("LABEL"):
            values.update(self._pairs(instruction.args))
        return values

    def args(self, stage: Sequence[Instruction] | None = None) -> dict[str, str | None]:
        """ARG names and defaults, of a stage or (stage=[]) of the global scope."""
        values: dict[str, str | None] = {}
        source = self.all("ARG", stage)
        for instruction in source:
            name, has_default, default = instruction.args.partition("=")
            values[name.strip()] = default.strip() if has_default else None
        return values

    @property
    def global_args(self) -> dict[str, str | None]:
        before_from = []
        for instruction in self.instructions:
            if instruction.keyword == "FROM":
                break
            before_from.append(instruction)
        return self.args(before_from)

    @property
    def healthcheck(self) -> Healthcheck | None:
        instruction = self.last("HEALTHCHECK")
        if instruction is None:
            return None
        match = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.+)", instruction.args, re.IGNORECASE)
        assert match is not None, f"line {instruction.line}: HEALTHCHECK without CMD"
        options = dict(option.removeprefix("--").split("=", 1) for option in match[1].split())
        body = match[2].strip()
        if body.startswith("["):
            return Healthcheck(options, json.loads(body), exec_form=True)
        return Healthcheck(options, ["/bin/sh", "-c", body], exec_form=False)


@pytest.fixture(scope="session")
def dockerfile() -> Dockerfile:
    return Dockerfile.parse(DOCKERFILE.read_text(encoding="utf-8"))


# --- build and install, once per session --------------------------------------------------


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Installed:
    venv: Path
    bin: Path
    python: Path
    workdir: Path  # a temporary directory outside the source tree: the cwd of every command

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment: no AIPROD_SANDBOX_*, no PYTHONPATH and the like, no proxies;
        the venv's bin/ first on PATH (as /usr/local/bin is in the image); plus `extra`."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("AIPROD_SANDBOX_")
            and name not in _LEAKY
            and not name.lower().endswith("_proxy")
        }
        env["PATH"] = os.pathsep.join([str(self.bin), env.get("PATH", os.defpath)])
        env.update(extra or {})
        return env

    def resolve(self, argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
        """argv with its program looked up on env's PATH, which must find the venv's copy."""
        found = shutil.which(argv[0], path=env["PATH"])
        assert found is not None, f"{argv[0]!r} is not on the PATH of the installed wheel"
        assert Path(found).parent == self.bin, f"{argv[0]} resolved to {found}, not the venv"
        return [found, *argv[1:]]

    def run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = CLI_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        full_env = self.env(env)
        try:
            return subprocess.run(
                self.resolve(argv, full_env),
                cwd=self.workdir,
                env=full_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{' '.join(argv)} still running after {timeout} s: {exc}")


def _checked(argv: Sequence[str], timeout: float, env: Mapping[str, str], cwd: Path) -> None:
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(map(str, argv))}: still running after {timeout} s: {exc}")
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))}: exit {done.returncode}\n"
            f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
        )


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`python -m build` from the repository root: the sdist, then the wheel built from it."""
    outdir = tmp_path_factory.mktemp("dist")
    _checked(
        [sys.executable, "-m", "build", "--outdir", str(outdir), "."],
        BUILD_TIMEOUT,
        env={name: value for name, value in os.environ.items() if name not in _LEAKY},
        cwd=REPO,
    )
    wheels = sorted(outdir.glob("*.whl"))
    sdists = sorted(outdir.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in outdir.iterdir())
    return Built(wheel=wheels[0], sdist=sdists[0])


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, built: Built) -> Installed:
    """A fresh venv (outside the source tree) with only the built wheel and its dependencies,
    at the versions the image pins (`pip install -r constraints/runtime.txt`, then the wheel
    with `--no-deps` and `pip check`, as it does)."""
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    assert REPO not in venv.parents, "the venv must be outside the source tree"
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIPROD_SANDBOX_") and name not in _LEAKY
    }
    _checked([sys.executable, "-m", "venv", str(venv)], VENV_TIMEOUT, env=clean, cwd=root)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    # As the image does: the pins in a layer of their own, the wheel with no dependency of
    # its own choosing, and `pip check` that the pins are all it needs.
    _checked(
        [*pip, "install", "--quiet", "-r", str(CONSTRAINTS)], INSTALL_TIMEOUT, env=clean, cwd=root
    )
    _checked(
        [*pip, "install", "--quiet", "--no-deps", str(built.wheel)],
        INSTALL_TIMEOUT,
        env=clean,
        cwd=root,
    )
    _checked([*pip, "check"], INSTALL_TIMEOUT, env=clean, cwd=root)
    workdir = root / "cwd"
    workdir.mkdir()
    return Installed(venv=venv, bin=venv / "bin", python=python, workdir=workdir)


# --- the image's command, run from the install --------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Container:
    """`docker run IMAGE *run_args`, locally: ENTRYPOINT + (run_args or CMD), the Dockerfile's
    ENV with AIPROD_SANDBOX_PORT set to a free port, cwd outside the source tree."""

    installed: Installed
    dockerfile: Dockerfile
    argv: list[str]
    env: dict[str, str]
    port: int
    logs: Path
    process: subprocess.Popen[bytes] | None = None
    health_before_start: int | None = None
    started_at: float = 0.0
    healthy_after: float | None = None
    stopped: list[tuple[int, float]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Container:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (
            open(self.logs / "stdout", "wb") as stdout,
            open(self.logs / "stderr", "wb") as stderr,
        ):
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.installed.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        return self

    def stdout(self) -> str:
        return (self.logs / "stdout").read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return (self.logs / "stderr").read_text(encoding="utf-8", errors="replace")

    def healthcheck(self) -> int:
        """Run the HEALTHCHECK command once, exactly as the Dockerfile gives it, with the
        container's environment; its --timeout counts as a failure, as in Docker."""
        check = self.dockerfile.healthcheck
        assert check is not None, "the Dockerfile has no HEALTHCHECK"
        argv = self.installed.resolve(check.command, self.env) if check.exec_form else check.command
        try:
            done = subprocess.run(
                argv,
                cwd=self.installed.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=check.seconds("timeout", 30.0),
            )
        except subprocess.TimeoutExpired:
            return 124
        return done.returncode

    def wait_healthy(self, within: float = HEALTHY_WITHIN) -> float:
        """Poll the HEALTHCHECK command until it exits 0; seconds since spawn."""
        assert self.process is not None
        deadline = self.started_at + within
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{' '.join(self.argv)} exited {self.process.returncode} before healthy\n"
                    f"stdout:\n{self.stdout()}\nstderr:\n{self.stderr()}"
                )
            if self.healthcheck() == 0:
                self.healthy_after = time.monotonic() - self.started_at
                return self.healthy_after
            if time.monotonic() > deadline:
                pytest.fail(
                    f"HEALTHCHECK did not pass within {within} s of the start\n"
                    f"stderr:\n{self.stderr()}"
                )
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> tuple[int, float]:
        """Send `sig` (as `docker stop` does), wait; (exit code, seconds). Killed on timeout,
        then the test fails."""
        assert self.process is not None
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            pytest.fail(
                f"did not exit within {timeout} s of signal {sig}; killed it\n"
                f"stderr:\n{self.stderr()}"
            )
        result = (code, time.monotonic() - started)
        self.stopped.append(result)
        return result

    def kill(self) -> None:
        """Teardown: whatever happened, no process is left behind."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


def image_command(dockerfile: Dockerfile, run_args: Sequence[str]) -> list[str]:
    """What `docker run IMAGE *run_args` executes: run arguments replace CMD."""
    entrypoint = dockerfile.exec_form("ENTRYPOINT") or []
    cmd = dockerfile.exec_form("CMD") or []
    return [*entrypoint, *(run_args if run_args else cmd)]


def container_env(
    installed: Installed, dockerfile: Dockerfile, port: int, extra: Mapping[str, str] | None
) -> dict[str, str]:
    """The Dockerfile's ENV, the free port through the same variable, then `-e` extras."""
    image_env = dockerfile.env
    assert "AIPROD_SANDBOX_PORT" in image_env, "the Dockerfile sets no AIPROD_SANDBOX_PORT"
    for name, value in image_env.items():
        assert "$" not in value, f"ENV {name}={value}: substitution is not emulated here"
    return installed.env({**image_env, "AIPROD_SANDBOX_PORT": str(port), **(extra or {})})


@contextlib.contextmanager
def running_image(
    installed: Installed,
    dockerfile: Dockerfile,
    logs: Path,
    run_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    wait: bool = True,
) -> Iterator[Container]:
    """A Container started (and, with `wait`, healthy); always stopped at exit."""
    port = free_port()
    full_env = container_env(installed, dockerfile, port, env)
    if "AIPROD_SANDBOX_PORT_FILE" in full_env:
        # Each container has a /tmp of its own: so does each run here.
        logs.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix="container-tmp-", dir=logs))
        full_env["AIPROD_SANDBOX_PORT_FILE"] = str(
            private / Path(full_env["AIPROD_SANDBOX_PORT_FILE"]).name
        )
    argv = installed.resolve(image_command(dockerfile, run_args), full_env)
    container = Container(installed, dockerfile, argv, full_env, port, logs)
    try:
        container.health_before_start = container.healthcheck()
        container.start()
        if wait:
            container.wait_healthy()
        yield container
    finally:
        container.kill()
