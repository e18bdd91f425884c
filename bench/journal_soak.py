"""The journal's bound under load (issue 18): many accounts fill their request journals, one is
hammered with 4-8 KiB bodies, and the server's memory must level off once they are full.

Starts `aiprod-sandbox serve --port 0` (instant job timing) and runs, in this process,
`--accounts` (48) Enterprise accounts with one client each and one more account, `heavy`,
with `--heavy-clients` (4): httpx, one keep-alive connection a client, flat out (a closed
loop: nothing on the server queues but the journal) for `--duration` s (60). Each account
first makes one job that completes and one held PENDING (`stay_pending`); from then on no
request leaves anything on the server but its journal entry, so the journal is all that can
grow (jobs are data the soak in bench/soak.py measures):

- ordinary: read the job, list the jobs, replace the pending job's metadata (a few bytes),
  a submission without its video (400), the presets (a 1.9 KiB answer);
- heavy (its job made with 4.4 KiB of voice_text and 3.9 KiB of metadata): replace the
  pending job's metadata with 20 values of 350 characters (7.1 KiB; the answer echoes them),
  a submission with 6,000 characters of voice_text (400: past 5,000), read the big job.

Every `--sample-every` s (2): the server's RSS, and each journal's `kept` and `evicted`
(`GET /_sandbox/requests?limit=1`; control calls are not journaled). At the end each journal
is listed whole and its bytes counted as the journal counts them: headers (the key's length,
not the masked one's) and bodies as kept (each at most `body_bytes`), plus ENTRY_OVERHEAD an
entry. Checks (exit status 1 if any fails): every answer as expected; every journal full
(evicting) and within both bounds; the heavy one held by its bytes, not its entry count;
memory flat once full (the last sample within +5 % of the first at which every journal was
evicting); the server logged no unhandled error and exits 0 on SIGTERM.

    .venv/bin/python bench/journal_soak.py                  # 60 s, 48 + 1 accounts
    .venv/bin/python bench/journal_soak.py --duration 10 --accounts 8
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

from harness import machine
from harness.fleet import Fleet
from harness.processes import clean_env, ready_url
from harness.procfs import rss_mib
from journal_soak_parts.report import Journal, Run, Sample, counted, report
from journal_soak_parts.traffic import Account, Stats, load, set_up


async def evicting(control: httpx.AsyncClient, accounts: list[Account]) -> int:
    """How many of the accounts' journals have let entries go."""
    full = 0
    for account in accounts:
        answer = await control.get("/_sandbox/requests?limit=1", headers=account.headers)
        full += answer.json()["evicted"] > 0
    return full


async def soak(args: argparse.Namespace, url: str, pid: int) -> Run:
    control = httpx.AsyncClient(base_url=url, timeout=30.0, trust_env=False)
    accounts = [Account(f"a{n:02d}") for n in range(args.accounts)]
    accounts.append(Account("heavy", heavy=True))
    await asyncio.gather(*(set_up(control, account) for account in accounts))
    run = Run(Stats(), args.duration)
    started = time.monotonic()
    until = started + args.duration
    loads = [
        asyncio.create_task(
            load(url, account, run.stats, until, args.heavy_clients if account.heavy else 1)
        )
        for account in accounts
    ]
    while True:  # RSS first: the journals' read takes a moment under the load
        now, rss = time.monotonic(), rss_mib(pid)
        full = await evicting(control, accounts)
        run.samples.append(Sample(round(now - started, 1), rss, run.stats.requests, full))
        if now >= until:
            break
        await asyncio.sleep(max(0.0, min(args.sample_every, until - time.monotonic())))
    await asyncio.gather(*loads)
    for account in accounts:
        answer = await control.get("/_sandbox/requests?limit=1000", headers=account.headers)
        listing = answer.json()
        run.journals.append(
            Journal(
                account,
                listing["kept"],
                listing["evicted"],
                counted(account, listing),
                listing["bound"],
            )
        )
    await control.aclose()
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--accounts", type=int, default=48, help="ordinary accounts (48)")
    parser.add_argument("--heavy-clients", type=int, default=4, help="on the heavy one (4)")
    parser.add_argument("--sample-every", type=float, default=2.0, help="seconds (2)")
    args = parser.parse_args()
    info = machine.describe()
    print(machine.headline(info), flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="journal-soak-") as tmp,
        Fleet(stop_timeout=15) as fleet,
    ):
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            server, ready = fleet.serve("--job-timing", "instant", log=log, env=clean_env())
            print(ready, flush=True)
            try:
                run = asyncio.run(soak(args, ready_url(ready), server.pid))
            finally:
                fleet.stop(server)
        run.exit_code = server.returncode
        text = log_path.read_text(errors="replace")
        run.log_errors = sum("Unhandled error" in line for line in text.splitlines())
    return 0 if report(run) else 1


if __name__ == "__main__":
    sys.exit(main())
