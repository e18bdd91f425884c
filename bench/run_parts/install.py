"""The Python environment the floor and the sandbox run from.

By default, as a partner installs it: the wheel of this checkout built and installed into a
fresh venv with the image's pins (`pip install -c constraints/runtime.txt dist/*.whl`, the code
of bench/installed_startup.py), and the bare app (bench/bare_app.py) run by that venv's
Python too, so both stand on the same uvicorn, Starlette, httptools and uvloop. `--venv PATH`
takes a venv that has the wheel already; `--dev` takes this interpreter (the editable
install) instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.processes import BENCH, ROOT
from installed_startup_parts.wheel import build_and_install

CONSTRAINTS = ROOT / "constraints" / "runtime.txt"
PACKAGES = ("aiprod-sandbox", "uvicorn", "starlette", "httptools", "uvloop", "pydantic")
ASK = f"""
import importlib.metadata as m, json, aiprod_sandbox
print(json.dumps({{"aiprod_sandbox_at": aiprod_sandbox.__file__,
    **{{n: m.version(n) for n in {PACKAGES!r}}}}}))
"""


@dataclass(frozen=True)
class Install:
    python: Path
    how: str  # how it was made, one line

    @property
    def cli(self) -> Path:
        return self.python.parent / "aiprod-sandbox"

    def bare(self, port: int) -> list[str]:
        """The floor, bench/bare_app.py, on `port`, run by this environment's Python."""
        return [str(self.python), str(BENCH / "bare_app.py"), "--port", str(port)]

    def sandbox(self, *extra: str) -> Callable[[int], list[str]]:
        """`aiprod-sandbox serve` on a port, with the bare app's uvicorn options and `extra`
        (the loop and the parser left to the sandbox's own choice, as a partner's are)."""

        def argv(port: int) -> list[str]:
            return [
                str(self.cli),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                *extra,
            ]

        return argv

    def versions(self) -> dict[str, str]:
        """What this environment's Python has installed, and where aiprod_sandbox is."""
        done = subprocess.run(
            [str(self.python), "-c", ASK], capture_output=True, text=True, timeout=60, check=True
        )
        found: dict[str, str] = json.loads(done.stdout)
        return found


def prepare(work: Path, venv: Path | None, dev: bool) -> Install:
    if dev:
        return Install(Path(sys.executable), "this interpreter (the development install)")
    if venv is not None:
        return Install(venv.resolve() / "bin" / "python", f"the venv {venv} (given)")
    print("  building the wheel, installing it into a fresh venv ...", flush=True)
    made = build_and_install(work, constraints=CONSTRAINTS)
    return Install(
        made / "bin" / "python",
        "a fresh venv: pip install -c constraints/runtime.txt dist/aiprod_sandbox-*.whl "
        "(python -m build --wheel of this checkout)",
    )
