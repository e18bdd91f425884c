"""What recording evidence in the journal costs (issue 18): `POST /pipeline/run` on the sandbox
as it is now, against the same sandbox from before the journal kept headers and bodies, and
the bare Starlette app as the usual floor.

Each `--before` revision (15f5967, the commit before the journal kept evidence; repeatable) is
checked out in a detached `git worktree` in a temporary folder and served from there by this
interpreter, `PYTHONPATH=<worktree>/src python -m aiprod_sandbox serve`: the same venv and
packages, only the package's code differs. Now is the working tree, served the same way
(`PYTHONPATH=src`), or `--now REV` from a worktree too. Each server's journal is read once
before the load, to show which kind it is. All servers stay up; wrk loads one at a time
(server pinned to core 0, wrk to core 1, an Enterprise key), `--rounds` rounds of
`--duration` s each after a warm-up, the order rotated every round, so drift in the machine's
other load touches each alike. Before each run the key's account is reset: every run starts
with no jobs and an empty journal. `--full-log` adds each sandbox again with the account's
delivery log full (1,000 deliveries, as an account with a webhook has once it has had 1,000).
Reported: medians, and the ratio now / before by requests/second and by the server's CPU
time per request; the target is a cost of at most 10 %. The worktrees are removed at the end.

    .venv/bin/python bench/journal_cost.py            # 3 rounds x 10 s, 32 connections
    .venv/bin/python bench/journal_cost.py --before 15f5967 --before a064483
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import machine, wrk
from harness.client import Client, call
from harness.fleet import Fleet, Server
from harness.processes import ROOT, bare_app
from run_parts.common import ENT_KEY, SUBMIT

TARGET = 0.90  # now / before: recording bodies may cost at most 10 %
LOG = 1000  # deliveries an account's log keeps (Settings.journal_size)


def python_sandbox(src: Path) -> Callable[[int], list[str]]:
    """`PYTHONPATH=src python -m aiprod_sandbox serve` on a port (`env` execs: same pid)."""
    return lambda port: [
        "env", f"PYTHONPATH={src}", sys.executable, "-m", "aiprod_sandbox", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip


def git(*argv: str) -> str:
    done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def journal_kind(server: Server) -> str:
    """One job submitted, then the journal read: does its entry keep the request's body?"""
    if server.name == "bare":
        return "no journal"
    assert call(server.port, "POST", "/pipeline/run", ENT_KEY, SUBMIT).status == 202
    entry = call(server.port, "GET", "/_sandbox/requests?limit=1", ENT_KEY).body["items"][0]
    body = (entry.get("request") or {}).get("body")
    return "keeps bodies" if body else "keeps no bodies"


def fresh_account(server: Server, receiver: Server, *, full_log: bool) -> None:
    """The key's account reset before each run, so every run starts alike (no jobs, an empty
    journal: a run's own jobs are what it measures among); then, with `full_log`, a delivery
    log that is full and grows no more: a webhook on the bare app (it answers any POST to
    /pipeline/run 202), LOG jobs made and delivered, the webhook deleted (its deliveries stay)."""
    if server.name == "bare":
        return
    with Client(server.port, ENT_KEY, timeout=60) as client:
        assert client.call("POST", "/_sandbox/reset", {}).status == 200
        if not full_log:
            return
        hook = {"url": receiver.url("/pipeline/run"), "events": ["job.completed"]}
        webhook = client.call("POST", "/webhooks/register", hook).body["webhook_id"]
        for _ in range(LOG):
            assert client.call("POST", "/pipeline/run", SUBMIT).status == 202
        for _ in range(600):
            log = client.call("GET", f"/_sandbox/deliveries?limit={LOG}").body["items"]
            if sum(item["status"] == "delivered" for item in log) >= LOG:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{server.name}: {LOG} deliveries not delivered in 60 s")
        assert client.call("DELETE", f"/webhooks/{webhook}").status in (200, 204)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--before", action="append", help="revision to compare (15f5967)")
    parser.add_argument("--now", help="serve this revision as now (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a run (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds, once a server (3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--full-log", action="store_true", help="also with a full delivery log")
    args = parser.parse_args()
    wrk.ensure_installed()
    info = machine.describe({"wrk": wrk.version()})
    print(machine.headline(info, "wrk"), flush=True)
    now = {"now": git("rev-parse", "--short", args.now)} if args.now else {}
    print(f"now: {now['now'] if now else 'the working tree'}", flush=True)
    revisions = {
        f"before {rev}": git("rev-parse", "--short", rev) for rev in args.before or ["15f5967"]
    }
    with tempfile.TemporaryDirectory(prefix="journal-cost-") as tmp, Fleet(Path(tmp)) as fleet:
        trees: list[Path] = []
        try:
            contenders = {"bare": bare_app, "now": python_sandbox(ROOT / "src")}
            for name, commit in {**now, **revisions}.items():
                trees.append(Path(tmp) / name.replace(" ", "-"))
                git("worktree", "add", "--detach", str(trees[-1]), commit)
                contenders[name] = python_sandbox(trees[-1] / "src")
            if args.full_log:
                contenders |= {
                    f"{name}, log full": contenders[name] for name in list(contenders)[1:]
                }
            servers = {name: fleet.start(name, argv) for name, argv in contenders.items()}

            def prepare(name: str) -> None:
                fresh_account(servers[name], servers["bare"], full_log=name.endswith("full"))

            for name, server in servers.items():
                print(f"  {name:26} {journal_kind(server)}", flush=True)
                prepare(name)
                wrk.load(server, "/pipeline/run", "post_run.lua", ENT_KEY, args.warmup, 32)
            runs: dict[str, list[wrk.Load]] = {name: [] for name in servers}
            order = list(servers)
            for round_ in range(args.rounds):
                for name in order[round_ % len(order) :] + order[: round_ % len(order)]:
                    key = None if name == "bare" else ENT_KEY
                    prepare(name)
                    load = wrk.load(
                        servers[name], "/pipeline/run", "post_run.lua", key,
                        args.duration, args.connections,
                    )  # fmt: skip
                    runs[name].append(load)
                    print(f"  round {round_ + 1} {name:26} {load.line()}", flush=True)
        finally:
            fleet.stop_all()
            for tree in trees:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    return report(runs, revisions, args)


def report(
    runs: dict[str, list[wrk.Load]], revisions: dict[str, str], args: argparse.Namespace
) -> int:
    medians = {name: wrk.median(loads) for name, loads in runs.items()}
    print(
        f"\nPOST /pipeline/run, median of {args.rounds} rounds x {args.duration:g} s, "
        f"{args.connections} connections (latency ms; CPU = server CPU time per request)"
    )
    print(f"{'server':26}{'req/s':>8}{'p50':>7}{'p99':>7}{'CPU µs':>8}{'vs bare':>9}")
    for name, load in medians.items():
        print(
            f"{name:26}{load.rps:8,.0f}{load.p50_ms:7.2f}{load.p99_ms:7.2f}"
            f"{load.cpu_us:8.0f}{load.rps / medians['bare'].rps:8.2f}x"
        )
    met = True
    pairs = [("now", name) for name in revisions]
    pairs += [(f"{a}, log full", f"{b}, log full") for a, b in pairs if f"{a}, log full" in medians]
    for now_name, name in pairs:
        now, before = medians[now_name], medians[name]
        by_rps, by_cpu = now.rps / before.rps, before.cpu_us / now.cpu_us
        verdict = "met" if by_rps >= TARGET else "MISSED"
        met = met and (by_rps >= TARGET or now_name != "now")  # the target is the plain pair's
        print(
            f"{now_name} / {name}: {by_rps:.3f}x by req/s ({1 - by_rps:+.1%} cost), "
            f"{by_cpu:.3f}x by CPU per request; target >= {TARGET:.2f}x: {verdict}"
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
