"""What one account's largest state import does to another account's requests (issue 19).

`PUT /_sandbox/state` takes up to 16 MiB: a whole account with 10,000 jobs, its journal and
its deliveries. The body is parsed and checked in a worker thread, and its lists made ready
there; only applying it holds the event loop. This measures that: the installed `aiprod-sandbox
serve` (not pinned), one account importing a 14 MiB document of 10,000 jobs `--imports` times
in a row while another account reads `GET /jobs?limit=1` in a loop; reported, the victim's
latency while nothing else runs and while the imports run (median, p99, max), and how long
each import took.

    .venv/bin/python bench/import_stall.py            # 3 imports
    .venv/bin/python bench/import_stall.py --src /tmp/wt/src   # another revision's tree
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from harness import machine
from harness.fleet import Fleet
from harness.processes import sandbox_cli

ATTACKER = "sk_test_free_import_stall_attack_1"  # a free key is enough
VICTIM = "sk_test_ent_import_stall_victim_01"  # Enterprise: no rate limit
JOB = {
    "status": "COMPLETED",
    "input": {"video_url": "https://example.com/" + "a" * 200 + ".mp4", "voice_text": "x" * 300},
    "metadata": {f"k{i}": "v" * 40 for i in range(10)},
    "timeline": [{"at": "2026-05-28T20:26:40.000Z", "event": "job.created"}] * 6,
}


def document() -> bytes:
    return json.dumps({"jobs": [JOB] * 10_000}).encode()


def victim(url: str, stop: threading.Event, seen: list[float]) -> None:
    headers = {"Authorization": f"Bearer {VICTIM}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30, trust_env=False) as client:
        while not stop.is_set():
            started = time.perf_counter()
            assert client.get("/jobs?limit=1").status_code == 200
            seen.append((time.perf_counter() - started) * 1000)
            time.sleep(0.002)


def figures(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"median {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms  "
        f"max {ordered[-1]:7.2f} ms  ({len(ordered)} requests)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--imports", type=int, default=3)
    parser.add_argument("--src", help="serve this source tree (a worktree's src/) instead")
    args = parser.parse_args()
    print(machine.headline(machine.describe()), flush=True)
    body = document()
    print(f"document: {len(body) / 2**20:.1f} MiB, 10,000 jobs")
    cli = sandbox_cli()
    with (
        tempfile.TemporaryDirectory(prefix="import-stall-") as logs,
        Fleet(Path(logs), core=None) as fleet,
    ):
        command = [cli, "serve"]
        if args.src:  # `env` execs: the pid stays the server's
            command = ["env", f"PYTHONPATH={args.src}", sys.executable, "-m", "aiprod_sandbox"]
            command.append("serve")
        server = fleet.start("sandbox", lambda port: [*command, "--port", str(port)])
        url = server.url("")
        idle: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=victim, args=(url, stop, idle))
        reader.start()
        time.sleep(3)
        stop.set()
        reader.join()
        during: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=victim, args=(url, stop, during))
        reader.start()
        took = []
        headers = {"Authorization": f"Bearer {ATTACKER}", "Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=120, trust_env=False) as client:
            for _ in range(args.imports):
                started = time.perf_counter()
                answer = client.put("/_sandbox/state", content=body)
                assert answer.status_code == 200, answer.text
                took.append(time.perf_counter() - started)
        stop.set()
        reader.join()
    print(f"the victim's GET /jobs?limit=1, nothing else running: {figures(idle)}")
    print(f"the victim's GET /jobs?limit=1, during the imports:  {figures(during)}")
    print("each import: " + ", ".join(f"{seconds:.2f} s" for seconds in took))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
