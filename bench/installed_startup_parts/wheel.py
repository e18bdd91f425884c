"""The wheel, built from this checkout (`python -m build --wheel`) and installed into a fresh
virtual environment, outside the source tree (bench/installed_startup.py, bench/run.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.processes import ROOT

# would let the installed copy see this checkout, or another environment
LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


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


def build_and_install(root: Path, constraints: Path | None = None) -> Path:
    """The venv under `root`, with the wheel installed (`pip install -c CONSTRAINTS` when
    given: the versions the image installs)."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    dist = root / "dist"
    run_checked(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), "."], 300, ROOT, env
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
            *(["-c", str(constraints)] if constraints else []),
            str(wheel),
        ],
        180,
        root,
        env,
    )
    return venv
