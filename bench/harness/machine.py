"""The machine a run was made on, for the lines that head a report: date, commit, CPUs, CPU
model, kernel, Python and package versions, load average."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from .processes import ROOT
from .procfs import load_average

PACKAGES = ("uvicorn", "starlette", "pydantic")


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor() or "unknown",
    )


def package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def commit() -> str:
    """The short hash of HEAD, and whether tracked files have changed since."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + (" (+ local changes)" if changed else "")


def describe(tools: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every figure of the machine, `tools` (name: version) after the packages."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **{package: package_version(package) for package in PACKAGES},
        **(tools or {}),
        "load_average": load_average(),
    }


def headline(info: Mapping[str, str], *tools: str) -> str:
    """`describe`'s figures as the one line a benchmark prints first (`tools` by name)."""
    named = "".join(f", {info[tool]}" for tool in tools)
    return (
        f"{info['date']}, commit {info['commit']}, {info['nproc']} CPUs ({info['cpu']}), "
        f"Linux {info['kernel']}, Python {info['python']}, uvicorn {info['uvicorn']}, "
        f"starlette {info['starlette']}{named}; load average {info['load_average']}"
    )
