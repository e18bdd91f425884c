"""Server start, cold: a new interpreter per run (`bench/plugin.py --role cold`) imports the
plugin module (what pytest's entry point loads at start-up), then times
`ThreadedSandbox(Settings())` (construct) and `.start()` (until uvicorn reports `started`),
then `.stop()`, and prints them as one JSON line.

Keep the imports here and in bench/plugin.py few: whatever they load before the timed import
is not counted in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[1] / "plugin.py"


def now() -> float:
    return time.perf_counter()


def run_cold(profile: bool) -> None:
    t0 = now()
    import aiprod_sandbox.testing.plugin  # noqa: F401  (pytest loads it at start-up)
    from aiprod_sandbox.settings import Settings
    from aiprod_sandbox.testing import ThreadedSandbox

    t1 = now()
    profiler = _profiler() if profile else None
    if profiler:
        profiler.start()
    t2 = now()
    server = ThreadedSandbox(Settings())
    t3 = now()
    server.start()
    t4 = now()
    if profiler:
        profiler.stop()
    server.stop()
    t5 = now()
    if profiler:
        print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)
    result = {"import": t1 - t0, "construct": t3 - t2, "start": t4 - t3, "stop": t5 - t4}
    print(json.dumps(result), flush=True)


def _profiler() -> Any:
    from .profiling import profiler  # only with --profile, after the timed import

    return profiler()


def cold_env(cached: bool) -> dict[str, str]:
    """The environment as it is, or with a bytecode cache kept outside the repository (this
    machine sets PYTHONDONTWRITEBYTECODE=1, so the package's own modules, installed editable,
    are compiled from source in every new process)."""
    env = dict(os.environ)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "bench-pycache")
    return env


def cold_starts(runs: int, cached: bool) -> list[dict[str, float]]:
    results = []
    env = cold_env(cached)
    for index in range(runs + 1):
        spawned = now()
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--role", "cold"],
            capture_output=True,
            timeout=60,
            env=env,
        )
        elapsed = now() - spawned
        if done.returncode != 0:
            raise RuntimeError(f"cold run failed:\n{done.stderr.decode(errors='replace')}")
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
        result["process"] = elapsed
        if index:  # the first fills the bytecode cache (or the page cache): not counted
            results.append(result)
    return results
