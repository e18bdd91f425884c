"""CI runs the soak script, bounded: 8 s of 16 clients against its own server process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_a_short_soak_passes_every_check(tmp_path: Path) -> None:
    summary_file = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(SOAK), "--duration", "8", "--clients", "16", "--json", summary_file],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert summary_file.exists(), f"no summary; stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    summary = json.loads(summary_file.read_text())
    failed = {name: check["detail"] for name, check in summary["checks"].items() if not check["ok"]}
    assert not failed, f"{failed}\n{run.stdout}"
    assert run.returncode == 0, run.stdout + run.stderr
    assert summary["requests"] > 500 and summary["jobs_submitted"] > 100
    assert summary["deliveries_received"] == summary["jobs_submitted"]
    assert set(summary["checks"]) == {
        "no unexpected answers",
        "every job accounted for",
        "every delivery accounted for",
        "journals bounded",
        "memory flat after warm-up",
        "server log clean, clean exit",
    }
