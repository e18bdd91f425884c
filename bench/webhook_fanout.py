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
import asyncio
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
KEY = "sk_test_ent_bench_webhook_fanout_0001"  # the fan-out account: 3 webhooks
CONTROL_KEY = "sk_test_ent_bench_webhook_fanout_0002"  # same load, no webhooks
READY = re.compile(rb"ready on http://127\.0\.0\.1:(\d+)")
SANDBOX = Path(sys.executable).with_name("aiprod-sandbox")
HERE = Path(__file__).resolve()


# ---- small helpers ---------------------------------------------------------------------------
class Conn:
    """One keep-alive HTTP/1.1 connection to the sandbox with the bench's key."""

    def __init__(self, port: int, key: str = KEY, timeout: float = 10.0) -> None:
        self._conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body).encode()
        self._conn.request(method, path, body=payload, headers=self._headers)
        response = self._conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)

    def close(self) -> None:
        self._conn.close()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, KiB."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(rest.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def loadavg() -> str:
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        parts = stat.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def read_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One stdout line of a child, or RuntimeError after `timeout` seconds."""
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not box or not box[0]:
        raise RuntimeError(f"{process.args!r}: no line on stdout within {timeout} s")
    return box[0]


# ---- role: receiver (a child process) --------------------------------------------------------
def run_receiver(delay: float) -> None:
    """A counting webhook receiver on 127.0.0.1 and a free port; GET /count reports."""
    import uvicorn

    seen: set[str] = set()
    state: dict[str, Any] = {"count": 0, "retries": 0, "first": None, "last": None}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            headers = dict(scope["headers"])
            now = time.monotonic()
            state["count"] += 1
            state["first"] = state["first"] or now
            state["last"] = now
            seen.add(headers.get(b"x-aiprod-delivery", b"").decode())
            if headers.get(b"x-aiprod-attempt", b"1") != b"1":
                state["retries"] += 1
            if delay:
                await asyncio.sleep(delay)
            payload = b'{"ok":true}'
        else:
            payload = json.dumps({**state, "unique": len(seen)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    config = uvicorn.Config(
        app, host=HOST, port=0, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"port {port}", flush=True)
        await task

    asyncio.run(main())


# ---- role: probe (a child process) -----------------------------------------------------------
def run_probe(port: int, job_id: str, interval: float, count: int) -> None:
    """GET /jobs/{id} every `interval` s: `count` times, or (count 0) until stdin says stop.
    Prints `ready` after a warm-up, then one JSON line: [[t_monotonic, seconds, status], ...]."""
    conn = Conn(port)
    for _ in range(20):
        conn.call("GET", f"/jobs/{job_id}")
    stopping = threading.Event()
    if count == 0:
        threading.Thread(target=lambda: (sys.stdin.readline(), stopping.set()), daemon=True).start()
    print("ready", flush=True)
    samples: list[tuple[float, float, int]] = []
    path = f"/jobs/{job_id}"
    next_at = time.perf_counter()
    while not stopping.is_set() and (count == 0 or len(samples) < count):
        started = time.perf_counter()
        status, _ = conn.call("GET", path)
        ended = time.perf_counter()
        samples.append((time.monotonic(), ended - started, status))
        next_at += interval
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            next_at = time.perf_counter()  # fell behind: no catch-up burst
    conn.close()
    print(json.dumps(samples), flush=True)


# ---- the bench -------------------------------------------------------------------------------
class Processes:
    """Children started by the bench; all stopped at the end, whatever happened."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[bytes]] = []

    def spawn(self, argv: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(list(argv), **options)
        self.children.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.children):
            stop(process)


def self_argv(*args: str) -> list[str]:
    return [sys.executable, str(HERE), *args]


def start_sandbox(procs: Processes, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    with open(log, "wb") as stderr:
        process = procs.spawn(
            [str(SANDBOX), "serve", "--port", "0", "--webhook-timeout", "2"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    line = read_line(process, 20)
    found = READY.search(line)
    if not found:
        raise RuntimeError(f"unexpected first line from the sandbox: {line!r}")
    # keep draining stdout so the child can never block on a full pipe
    threading.Thread(target=lambda: process.stdout.read(), daemon=True).start()  # type: ignore[union-attr]
    return process, int(found.group(1))


def start_receiver(procs: Processes, delay: float) -> int:
    process = procs.spawn(
        self_argv("--role", "receiver", "--slow-delay", str(delay)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    line = read_line(process, 20).decode()
    if not line.startswith("port "):
        raise RuntimeError(f"receiver said {line!r}")
    return int(line.split()[1])


def receiver_count(port: int) -> dict[str, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", "/count")
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.trace: list[tuple[float, int]] = []  # (monotonic, VmRSS KiB)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.trace.append((time.monotonic(), rss_kib(self.pid)[0]))
            self.halt.wait(self.every)

    def at(self, moment: float) -> int:
        """The last sample taken at or before `moment` (KiB)."""
        return max(((t, kib) for t, kib in self.trace if t <= moment), key=lambda s: s[0])[1]

    def peak(self, since: float = 0.0) -> tuple[float, int]:
        """(when, KiB) of the highest sample taken at or after `since`."""
        return max(((t, kib) for t, kib in self.trace if t >= since), key=lambda s: s[1])


def start_probe(procs: Processes, port: int, job_id: str, interval: float, count: int) -> Any:
    process = procs.spawn(
        self_argv(
            "--role",
            "probe",
            "--port",
            str(port),
            "--job",
            job_id,
            "--interval",
            str(interval),
            "--count",
            str(count),
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    if read_line(process, 20).strip() != b"ready":
        raise RuntimeError("the probe did not start")
    return process


def probe_result(process: subprocess.Popen[bytes], timeout: float) -> list[list[float]]:
    if process.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(b"stop\n")
            process.stdin.flush()
    return list(json.loads(read_line(process, timeout)))


def submit_all(port: int, jobs: int, workers: int, key: str = KEY) -> tuple[int, list[int]]:
    """Submit `jobs` jobs over `workers` keep-alive connections; (accepted, other statuses)."""
    lock = threading.Lock()
    left = [jobs]
    accepted = [0]
    others: list[int] = []

    def work() -> None:
        conn = Conn(port, key)
        try:
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                status, _ = conn.call(
                    "POST", "/pipeline/run", {"video_url": "https://example.com/video.mp4"}
                )
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


def ms(value: float) -> str:
    return f"{value * 1000:.2f}"


def window(samples: list[list[float]], start: float, end: float) -> list[float]:
    return [lat for t, lat, _ in samples if start <= t <= end]


def latency_row(label: str, values: Sequence[float]) -> str:
    top = max(values) if values else float("nan")
    return (
        f"| {label} | {len(values)} | {ms(percentile(values, 50))} | "
        f"{ms(percentile(values, 90))} | {ms(percentile(values, 99))} | {ms(top)} |"
    )


def wait_for_deliveries(
    receivers: Sequence[int], expected: int, deadline: float
) -> tuple[list[dict[str, Any]], float | None]:
    """Poll the receivers until each has `expected` deliveries or the deadline passes;
    (their last counts, when the two fast ones were complete)."""
    fast_done_at: float | None = None
    while True:
        counts = [receiver_count(p) for p in receivers]
        got = [c["count"] for c in counts]
        if fast_done_at is None and got[0] >= expected and got[1] >= expected:
            fast_done_at = time.monotonic()
        if min(got) >= expected or time.monotonic() >= deadline:
            return counts, fast_done_at
        time.sleep(0.1)


def run_bench(args: argparse.Namespace) -> int:
    started = time.monotonic()
    deadline = started + args.budget
    load_before = loadavg()
    procs = Processes()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"webhook_fanout_sandbox_{os.getpid()}.log"
    rss: dict[str, int] = {}
    try:
        sandbox, port = start_sandbox(procs, log)
        sampler = RssSampler(sandbox.pid)
        delays = [0.0, 0.0, args.slow_delay]
        receivers = [start_receiver(procs, delay) for delay in delays]
        api = Conn(port)
        status, account = api.call("GET", "/_sandbox/account")
        assert status == 200 and account["tier"] == "enterprise", account
        control = Conn(port, CONTROL_KEY)
        status, account = control.call("GET", "/_sandbox/account")
        assert status == 200 and account["tier"] == "enterprise", account
        control.close()
        for receiver_port in receivers:
            status, body = api.call(
                "POST",
                "/webhooks/register",
                {"url": f"http://{HOST}:{receiver_port}/hook", "events": ["job.completed"]},
            )
            assert status == 201, body
        status, probe_job = api.call(
            "POST", "/pipeline/run", {"video_url": "https://example.com/video.mp4"}
        )
        assert status == 202, probe_job
        job_id = probe_job["job_id"]
        api.close()
        # the probe job's own completion fans out 3 deliveries: they warm every path up
        counts, _ = wait_for_deliveries(receivers, 1, min(deadline, time.monotonic() + 20))
        if min(c["count"] for c in counts) < 1:
            raise RuntimeError(f"the warm-up deliveries never arrived: {counts}")
        sampler.start()
        rss["start"] = rss_kib(sandbox.pid)[0]

        # ---- phase A: baseline, nothing else running ----------------------------------------
        probe = start_probe(procs, port, job_id, args.interval, args.baseline)
        baseline = [lat for _, lat, _ in probe_result(probe, args.baseline * 0.1 + 30)]
        rss["after A"] = rss_kib(sandbox.pid)[0]

        # ---- phase C: the same submissions on an account with no webhooks (control) ---------
        probe = start_probe(procs, port, job_id, args.interval, 0)
        c_start = time.monotonic()
        c_accepted, c_refused = submit_all(port, args.jobs, args.submitters, CONTROL_KEY)
        c_end = time.monotonic()
        time.sleep(0.5)
        control_samples = probe_result(probe, 30)
        rss["after C"] = rss_kib(sandbox.pid)[0]

        # ---- phase B: fan-out ---------------------------------------------------------------
        probe = start_probe(procs, port, job_id, args.interval, 0)
        cpu_start = cpu_seconds(sandbox.pid)
        t_submit = time.monotonic()
        accepted, refused = submit_all(port, args.jobs, args.submitters)
        t_submitted = time.monotonic()
        counts, fast_done_at = wait_for_deliveries(receivers, 1 + args.jobs, deadline)
        t_end = time.monotonic()
        cpu_used = cpu_seconds(sandbox.pid) - cpu_start
        samples = probe_result(probe, 30)
        rss["end of B"] = rss_kib(sandbox.pid)[0]
        time.sleep(1.0)
        sampler.halt.set()
        sampler.join()
        rss["1 s later"], hwm = rss_kib(sandbox.pid)
        api = Conn(port)
        status, pending = api.call("GET", "/_sandbox/deliveries?status=pending&limit=1000")
        status2, failed = api.call("GET", "/_sandbox/deliveries?status=failed&limit=1000")
        api.close()
    finally:
        procs.stop_all()

    # ---- report -----------------------------------------------------------------------------
    got = [c["count"] - 1 for c in counts]  # without the warm-up delivery
    complete = got == [args.jobs] * 3
    last = [c["last"] for c in counts]
    fast_end = fast_done_at or t_end
    bad = sum(1 for *_, code in samples + control_samples if code != 200)
    names = ["fast 1", "fast 2", f"slow ({args.slow_delay:g} s)"]

    print()
    print(f"sandbox: {SANDBOX.name} serve --port 0 --webhook-timeout 2  (port {port})")
    print(f"load average (1, 5, 15 min): before {load_before}, after {loadavg()}")
    for label, ok, no, t0, t1 in (
        ("C (control, no webhooks)", c_accepted, c_refused, c_start, c_end),
        ("B (fan-out account)", accepted, refused, t_submit, t_submitted),
    ):
        print(
            f"phase {label}: {args.jobs} jobs over {args.submitters} connections, {ok} accepted, "
            f"{len(no)} refused {sorted(set(no)) or ''} in {t1 - t0:.2f} s "
            f"({ok / (t1 - t0):.0f} jobs/s)"
        )
    print()
    print("| GET /jobs/{id} latency, ms | requests | p50 | p90 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    print(latency_row("A: baseline, nothing else running", baseline))
    print(latency_row("C: while submitting, no webhooks", window(control_samples, c_start, c_end)))
    print(
        latency_row("B: while submitting, fan-out running", window(samples, t_submit, t_submitted))
    )
    print(
        latency_row(
            "B: after submitting, until the fast pair is done",
            window(samples, t_submitted, fast_end),
        )
    )
    print(latency_row("B: submit start to fast pair done", window(samples, t_submit, fast_end)))
    print(
        latency_row("B: the rest (slow receiver's backlog only)", window(samples, fast_end, t_end))
    )
    print(latency_row("B: whole phase", [lat for _, lat, _ in samples]))
    print(f"(probe: one request every {args.interval * 1000:g} ms; non-200 answers: {bad})")
    print()
    print("| receiver | deliveries | unique ids | retries seen | last one, s after 1st submit |")
    print("|---|---:|---:|---:|---:|")
    for name, count, info, at in zip(names, got, counts, last, strict=True):
        when = f"{at - t_submit:.2f}" if at and count else "-"
        print(
            f"| {name} | {count} / {args.jobs} | {info['unique'] - 1} | {info['retries']} | "
            f"{when} |"
        )
    total = sum(got)
    fan_out = (max(a for a in last if a) - t_submit) if complete else t_end - t_submit
    fast_time = (max(last[0], last[1]) - t_submit) if fast_done_at else float("nan")
    peak_at, peak = sampler.peak(t_submit)
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| deliveries recorded | {total} / {3 * args.jobs} |")
    print(f"| fan-out time, all 3 receivers, s | {fan_out:.2f}{'' if complete else ' (cut)'} |")
    print(f"| deliveries/s, all 3 receivers | {total / fan_out:.0f} |")
    print(f"| fan-out time, the 2 fast receivers, s | {fast_time:.2f} |")
    print(f"| deliveries/s to the fast pair | {(got[0] + got[1]) / fast_time:.0f} |")
    print(f"| sandbox CPU during phase B, s | {cpu_used:.2f} |")
    for name, kib in rss.items():
        if name == "end of B":
            print(
                f"| sandbox VmRSS when the fast pair was done (+{fast_end - t_submit:.1f} s), "
                f"MiB | {sampler.at(fast_end) / 1024:.1f} |"
            )
            print(
                f"| sandbox VmRSS peak in B (50 ms samples), MiB | {peak / 1024:.1f} "
                f"(at +{peak_at - t_submit:.1f} s) |"
            )
        print(f"| sandbox VmRSS {name}, MiB | {kib / 1024:.1f} |")
    print(f"| sandbox VmHWM (kernel high-water mark), MiB | {hwm / 1024:.1f} |")
    if status == 200 and status2 == 200:
        print(
            f"| pending / failed in GET /_sandbox/deliveries (log keeps 1,000) | "
            f"{len(pending['items'])} / {len(failed['items'])} |"
        )
    print()
    if complete:
        print(f"all {3 * args.jobs} deliveries recorded in {fan_out:.1f} s")
        return 0
    rate = 1 / args.slow_delay if args.slow_delay else float("inf")
    print(
        f"NOT COMPLETE within the {args.budget:g} s budget: the slow receiver got {got[2]} of "
        f"{args.jobs}. Its first attempts go out one at a time, in event order, so it drains "
        f"at most {rate:.2f}/s: {args.jobs} take >= {args.jobs * args.slow_delay:.0f} s."
    )
    return 1


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
        return run_bench(args)
    except (RuntimeError, AssertionError, OSError):
        traceback.print_exc()
        return 2


if __name__ == "__main__":
    sys.exit(main())
