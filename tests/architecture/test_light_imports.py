"""`aiprod-sandbox --help`, `--version` and `health` start instantly: the command line, the
settings and the package root import none of the heavy libraries the server needs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pydantic", "starlette", "uvicorn", "httpx", "faker", "yaml")


def test_the_command_line_imports_nothing_heavy() -> None:
    code = (
        "import json, sys, aiprod_sandbox, aiprod_sandbox.cli, aiprod_sandbox.settings;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
