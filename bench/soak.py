"""Load and soak: many concurrent clients of mixed traffic against a real server process.

Starts `aiprod-sandbox serve --port 0` (the console script next to this interpreter; instant
job timing) and a webhook receiver (the package's `Receiver` ASGI app under uvicorn, in a
process of its own, on loopback; each signature is checked here with its webhook's secret).
Clients work in groups of `--clients-per-account`; each group shares an Enterprise account
with one webhook pointed at the receiver, and moves to a fresh account every round (10 s).
The account it leaves is retired in the background: once its webhooks have all arrived it is
audited, then reset (`POST /_sandbox/reset`), so the server's live data stays bounded and its
memory must stay flat. Each client loops over a weighted mix: submit (some failing on
purpose), read, list, presets (with and without `If-None-Match`), batch, a pending job updated
then cancelled (and cancelled again: 409), an update of an ended job (409), bad input (400
INVALID_PARAMETER, INVALID_JSON, UNKNOWN_FIELD), usage, health; between two operations it
pauses `--think-ms` (100 ms), as a partner's test does between calls. It stops by itself.

A soak is a sustained load, not an overload: with the pause, 64 clients keep the server's one
core about two-thirds busy, its webhooks included. With `--think-ms 0` the clients alone
saturate that core, deliveries fall ever further behind the jobs that make them, and memory
grows with the backlog — nothing is lost (every check but memory passes), but that run
measures how far it falls behind, not whether it leaks.

Checks (exit status 1 if any fails):
- no unexpected answers: every answer has the status (and error code) its operation expects,
  and no request fails in transport;
- every job accounted for: per account, `GET /jobs` (all pages) lists exactly the ids the
  clients got back, each in the final state its input implies;
- every delivery accounted for: the receiver got exactly one terminal event (`job.completed`,
  `job.failed`, `job.cancelled`) per job, matching its final state, validly signed; each
  account's delivery log (`/_sandbox/deliveries`) shows them `delivered`;
- journals bounded: `/_sandbox/requests` and `/_sandbox/deliveries` hold at most 1000 items;
- memory flat: the server's RSS, sampled every 5 s, ends within +15 % of the sample at the end
  of the warm-up (20 s);
- the server logged no unhandled error and exits 0 on SIGTERM.

    .venv/bin/python bench/soak.py                      # 60 s, 64 clients
    .venv/bin/python bench/soak.py --think-ms 0         # overload: the backlog it leaves
    .venv/bin/python bench/soak.py --duration 8 --clients 16 --json summary.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from harness.fleet import Fleet
from harness.processes import clean_env, ready_url
from harness.procfs import cpu_seconds, rss_mib
from soak_parts.accounts import Rounds
from soak_parts.clients import Client, Stats
from soak_parts.receiver import Deliveries, ReceiverProcess
from soak_parts.summary import Run, print_summary, summarize


async def sample(
    probe: Callable[[], tuple[float, int]],
    every: float,
    until: float,
    out: list[tuple[float, float, int]],
    started: float,
) -> None:
    """Every `every` seconds: (seconds since the start, server RSS MiB, webhook backlog)."""
    while True:
        now = time.monotonic()
        out.append((round(now - started, 1), *probe()))
        if now >= until:
            return
        await asyncio.sleep(min(every, max(0.0, until - now)))


async def rotate_rounds(rounds: Rounds, every: float, until: float) -> int:
    number = 0
    while time.monotonic() + every < until:
        await asyncio.sleep(every)
        number += 1
        await rounds.rotate(number)
    return number + 1


async def soak(
    args: argparse.Namespace, base_url: str, pid: int, deliveries: Deliveries, receiver_url: str
) -> Run:
    timeout = httpx.Timeout(30.0)
    control = httpx.AsyncClient(base_url=base_url, timeout=timeout, trust_env=False)
    groups = max(1, args.clients // args.clients_per_account)
    rounds = Rounds(control, receiver_url, deliveries, groups, args.drain_timeout)
    await rounds.start()

    stats = Stats()
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    https = [
        httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=one, trust_env=False)
        for _ in range(args.clients)
    ]
    clients = [
        Client(n, n % groups, rounds, https[n], stats, args.seed, args.think_ms / 1000)
        for n in range(args.clients)
    ]

    def probe() -> tuple[float, int]:
        submitted = sum(len(account.expected) for account in rounds.all)
        with deliveries.lock:
            return round(rss_mib(pid), 1), submitted - deliveries.total

    samples: list[tuple[float, float, int]] = []
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    until = started + args.duration
    sampler = asyncio.create_task(sample(probe, args.sample_every, until, samples, started))
    rotator = asyncio.create_task(rotate_rounds(rounds, args.round_seconds, until))
    await asyncio.gather(*(client.run(until) for client in clients))
    load_seconds = time.monotonic() - started
    server_cpu = (cpu_seconds(pid) - cpu_before) / load_seconds
    rounds_run = await rotator
    await sampler
    await rounds.finish()
    audited_after = time.monotonic() - started - load_seconds
    rss_after = round(rss_mib(pid), 1)
    for http in https:
        await http.aclose()
    await control.aclose()
    return Run(
        args=args,
        groups=groups,
        rounds=rounds,
        rounds_run=rounds_run,
        stats=stats,
        deliveries=deliveries,
        samples=samples,
        load_seconds=load_seconds,
        server_cpu=server_cpu,
        audited_after=audited_after,
        rss_after=rss_after,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--clients-per-account", type=int, default=4, help="(4)")
    parser.add_argument("--round-seconds", type=float, default=None, help="min(10, duration/6)")
    parser.add_argument("--warmup", type=float, default=None, help="20, or duration/2 if short")
    parser.add_argument("--sample-every", type=float, default=None, help="RSS sampling (5 s)")
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="seconds (60)")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=100.0,
        help="each client's pause between operations (100); 0 = flat out, an overload test",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = 20.0 if args.duration >= 40 else args.duration / 2
    if args.round_seconds is None:
        args.round_seconds = min(10.0, args.duration / 6)
    if args.sample_every is None:
        args.sample_every = 5.0 if args.duration >= 30 else max(0.5, args.duration / 8)

    log = tempfile.NamedTemporaryFile(prefix="aiprod-soak-", suffix=".log", delete=False)
    with log, Fleet(stop_timeout=15) as fleet:
        try:  # `aiprod-sandbox serve --port 0`, the console script next to this interpreter
            server, ready = fleet.serve("--job-timing", "instant", log=log, env=clean_env())
        except RuntimeError as exc:
            raise SystemExit(f"the server did not start: {exc}{read(log.name)}") from None
        deliveries = Deliveries()
        receiver = ReceiverProcess(deliveries)
        print(ready, flush=True)
        print(
            f"receiver on {receiver.url}; {args.clients} clients for {args.duration:g} s, "
            f"{args.clients_per_account} per account, a fresh account each "
            f"{args.round_seconds:g} s",
            flush=True,
        )
        try:
            run = soak(args, ready_url(ready), server.pid, deliveries, receiver.url)
            summary = summarize(asyncio.run(run))
        finally:
            receiver.stop()
            fleet.stop(server)
    code = server.returncode
    crashes = [line for line in read(log.name).splitlines() if "Unhandled error" in line]
    summary["checks"]["server log clean, clean exit"] = {
        "ok": not crashes and code == 0,
        "detail": f"{len(crashes)} unhandled errors logged; exit code {code} on SIGTERM",
    }
    summary["ok"] = all(check["ok"] for check in summary["checks"].values())
    print_summary(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    with contextlib.suppress(OSError):
        os.unlink(log.name)
    return 0 if summary["ok"] else 1


def read(path: str) -> str:
    return Path(path).read_text(errors="replace")


if __name__ == "__main__":
    sys.exit(main())
