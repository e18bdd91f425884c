"""Webhook fan-out under load: 1,000 job completions to 3 loopback receivers, one of them slow.

Starts a real sandbox (`aiprod-sandbox serve --port 0 --webhook-timeout 2`, the console script
next to this interpreter), three receivers (one process each; the slow one answers every POST
after `--slow-delay` seconds, 1.5 s by default: slow, but inside the 2 s attempt timeout, so no
attempt fails and nothing is retried), and registers three webhooks (`job.completed`) on one
Enterprise account (no rate limit). Then:

  phase A  a probe process sends GET /jobs/{id} every `--interval` seconds, `--baseline`
           times, with nothing else running: the baseline latency;
  phase B  1,000 jobs are submitted as fast as `--submitters` keep-alive connections allow
           (instant timing: each completes at once and fans out 3 deliveries) while the probe
           keeps measuring GET /jobs/{id}, until every receiver has its 1,000 deliveries or
           the overall deadline (`--budget`, 180 s from start) comes.

The probe runs in its own process (so the submitters' threads do not share its GIL) and uses a
keep-alive `http.client` connection (small client overhead). The sandbox's VmRSS is sampled
from /proc every 50 ms. Everything listens on 127.0.0.1; every process is killed at the end.

    .venv/bin/python bench/webhook_fanout.py
    .venv/bin/python bench/webhook_fanout.py --slow-delay 0.1   # a slow lane that can finish

Exit status 0 when all deliveries arrived within the budget, 1 when not, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from harness.client import Client
from harness.fleet import Fleet
from harness.processes import ready_url
from harness.procfs import RssSampler, cpu_seconds, load_average, status_kib
from webhook_fanout_parts.report import Measured, Submitted, report
from webhook_fanout_parts.roles import (
    HOST,
    KEY,
    probe_result,
    run_probe,
    run_receiver,
    start_probe,
    start_receiver,
    wait_for_deliveries,
)

CONTROL_KEY = "sk_test_ent_bench_webhook_fanout_0002"  # same load, no webhooks
JOB = {"video_url": "https://example.com/video.mp4"}


def submit_all(port: int, jobs: int, workers: int, key: str = KEY) -> tuple[int, list[int]]:
    """Submit `jobs` jobs over `workers` keep-alive connections; (accepted, other statuses)."""
    lock = threading.Lock()
    left = [jobs]
    accepted = [0]
    others: list[int] = []

    def work() -> None:
        conn = Client(port, key)
        try:
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                status = conn.call("POST", "/pipeline/run", JOB).status
                with lock:
                    if status == 202:
                        accepted[0] += 1
                    else:
                        others.append(status)
        finally:
            conn.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return accepted[0], others


def submitted(port: int, args: argparse.Namespace, key: str) -> Submitted:
    start = time.monotonic()
    accepted, refused = submit_all(port, args.jobs, args.submitters, key)
    return Submitted(start, time.monotonic(), accepted, refused)


def set_up(port: int, receivers: Sequence[int]) -> str:
    """Check both accounts are Enterprise, point one webhook at each receiver from the fan-out
    account, and submit the job the probe reads; its id."""
    with Client(port, KEY) as api, Client(port, CONTROL_KEY) as control:
        for client in (api, control):
            answer = client.call("GET", "/_sandbox/account")
            assert answer.status == 200 and answer.body["tier"] == "enterprise", answer.body
        for receiver_port in receivers:
            hook = {"url": f"http://{HOST}:{receiver_port}/hook", "events": ["job.completed"]}
            answer = api.call("POST", "/webhooks/register", hook)
            assert answer.status == 201, answer.body
        answer = api.call("POST", "/pipeline/run", JOB)
        assert answer.status == 202, answer.body
        return str(answer.body["job_id"])


def run_bench(args: argparse.Namespace) -> Measured:
    started = time.monotonic()
    deadline = started + args.budget
    load_before = load_average()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"webhook_fanout_sandbox_{os.getpid()}.log"
    with Fleet(stop_timeout=5) as fleet:
        with open(log, "wb") as stderr:
            sandbox, ready = fleet.serve("--webhook-timeout", "2", log=stderr, timeout=20)
        port = int(ready_url(ready).rsplit(":", 1)[1])
        sampler = RssSampler(sandbox.pid)
        receivers = [start_receiver(fleet, delay) for delay in (0.0, 0.0, args.slow_delay)]
        job_id = set_up(port, receivers)
        # the probe job's own completion fans out 3 deliveries: they warm every path up
        counts, _ = wait_for_deliveries(receivers, 1, min(deadline, time.monotonic() + 20))
        if min(c["count"] for c in counts) < 1:
            raise RuntimeError(f"the warm-up deliveries never arrived: {counts}")
        sampler.start()
        rss = {"start": status_kib(sandbox.pid)["VmRSS"]}

        # ---- phase A: baseline, nothing else running ----------------------------------------
        probe = start_probe(fleet, port, job_id, args.interval, args.baseline)
        baseline = [lat for _, lat, _ in probe_result(probe, args.baseline * 0.1 + 30)]
        rss["after A"] = status_kib(sandbox.pid)["VmRSS"]

        # ---- phase C: the same submissions on an account with no webhooks (control) ---------
        probe = start_probe(fleet, port, job_id, args.interval, 0)
        control = submitted(port, args, CONTROL_KEY)
        time.sleep(0.5)
        control_samples = probe_result(probe, 30)
        rss["after C"] = status_kib(sandbox.pid)["VmRSS"]

        # ---- phase B: fan-out ---------------------------------------------------------------
        probe = start_probe(fleet, port, job_id, args.interval, 0)
        cpu_start = cpu_seconds(sandbox.pid)
        fanout = submitted(port, args, KEY)
        counts, fast_done_at = wait_for_deliveries(receivers, 1 + args.jobs, deadline)
        t_end = time.monotonic()
        cpu_used = cpu_seconds(sandbox.pid) - cpu_start
        samples = probe_result(probe, 30)
        rss["end of B"] = status_kib(sandbox.pid)["VmRSS"]
        time.sleep(1.0)
        sampler.halt.set()
        sampler.join()
        memory = status_kib(sandbox.pid)
        rss["1 s later"] = memory["VmRSS"]
        with Client(port, KEY) as api:
            pending = api.call("GET", "/_sandbox/deliveries?status=pending&limit=1000")
            failed = api.call("GET", "/_sandbox/deliveries?status=failed&limit=1000")
    both = pending.status == 200 and failed.status == 200
    return Measured(
        port=port,
        load_before=load_before,
        baseline=baseline,
        control=control,
        control_samples=control_samples,
        fanout=fanout,
        samples=samples,
        counts=counts,
        fast_done_at=fast_done_at,
        t_end=t_end,
        cpu_used=cpu_used,
        sampler=sampler,
        rss=rss,
        hwm=memory["VmHWM"],
        pending=len(pending.body["items"]) if both else None,
        failed=len(failed.body["items"]) if both else None,
    )


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--slow-delay", type=float, default=1.5, help="seconds (default 1.5)")
    parser.add_argument("--baseline", type=int, default=2000, help="phase A requests")
    parser.add_argument("--interval", type=float, default=0.005, help="probe period, s")
    parser.add_argument("--submitters", type=int, default=4, help="submitting connections")
    parser.add_argument("--budget", type=float, default=180.0, help="overall deadline, s")
    parser.add_argument("--role", choices=["bench", "receiver", "probe"], default="bench")
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--job", default="", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.role == "receiver":
        run_receiver(args.slow_delay)
        return 0
    if args.role == "probe":
        run_probe(args.port, args.job, args.interval, args.count)
        return 0
    try:
        measured = run_bench(args)
    except (RuntimeError, AssertionError, OSError):
        traceback.print_exc()
        return 2
    return report(measured, args)


if __name__ == "__main__":
    sys.exit(main())
