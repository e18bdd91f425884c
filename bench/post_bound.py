"""How close `POST /pipeline/run` can come to the floor (issue 20's 0.5x): the sandbox beside
the same sandbox with the making of jobs taken out, both against the bare app, over a socket.

The second sandbox is `aiprod-sandbox serve` with `Account.submit_job` replaced by one that
hands back a single job it made once: the request is still authenticated, counted, limited,
read, validated, journalled and answered with a 202, but no job, step, timeline or event is
made. What it costs is what the request path costs with the domain at zero, so its ratio to
the floor is the highest any work on jobs, steps and events could reach.

Each round loads the three servers one after the other with wrk (`-t1 -c32`, server on core 0,
wrk on core 1), in an order rotated every round; figures are medians, CPU per request read from
/proc as in bench/run.py.

    .venv/bin/python bench/post_bound.py [--rounds 3 --duration 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from harness import machine, wrk
from harness.fleet import Fleet
from harness.processes import bare_app, python_script, sandbox_cli
from run_parts.common import ENT_KEY

PATH, SCRIPT, CONNECTIONS = "/pipeline/run", "post_run.lua", 32
TARGET = 0.5


def serve_without_jobs(port: str) -> int:
    """`aiprod-sandbox serve --port PORT`, each account's first job handed back for every
    submission after it."""
    from aiprod_sandbox.cli import main
    from aiprod_sandbox.core.accounts import Account

    made: dict[str, object] = {}
    real = Account.submit_job

    def first_job(self: Account, *args: object, **kwargs: object) -> object:
        if self.account_id not in made:
            made[self.account_id] = real(self, *args, **kwargs)  # type: ignore[arg-type]
        return made[self.account_id]

    Account.submit_job = first_job  # type: ignore[assignment,method-assign]
    return main(["serve", "--host", "127.0.0.1", "--port", port, "--log-level", "warning"])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--serve-without-jobs", metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_without_jobs:
        return serve_without_jobs(args.serve_without_jobs)
    wrk.ensure_installed()
    print(machine.headline(machine.describe({"wrk": wrk.version()}), "wrk"), flush=True)
    commands = {
        "bare": bare_app,
        "sandbox": lambda port: [sandbox_cli(), "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "warning"],
        "no jobs made": lambda port: python_script(__file__, "--serve-without-jobs", str(port)),
    }  # fmt: skip
    loads: dict[str, list[wrk.Load]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="post-bound-") as logs, Fleet(Path(logs)) as fleet:
        servers = {name: fleet.start(name, argv) for name, argv in commands.items()}
        for server in servers.values():
            wrk.load(server, PATH, SCRIPT, ENT_KEY, args.warmup, CONNECTIONS)
        names = list(servers)
        for round_ in range(args.rounds):
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                load = wrk.load(servers[name], PATH, SCRIPT, ENT_KEY, args.duration, CONNECTIONS)
                loads[name].append(load)
                print(f"  round {round_ + 1} {name:13} {load.line()}", flush=True)
    floor = wrk.median(loads["bare"])
    print(f"\nPOST /pipeline/run, median of {args.rounds} rounds of {args.duration:g} s")
    print(f"{'server':14}{'req/s':>8}{'CPU µs':>8}{'p99 ms':>8}", end="")
    print(f"{'req/s ratio':>12}{'CPU ratio':>10}")
    for name, runs in loads.items():
        load = wrk.median(runs)
        print(
            f"{name:14}{load.rps:8,.0f}{load.cpu_us:8.1f}{load.p99_ms:8.1f}"
            f"{load.rps / floor.rps:11.2f}x{floor.cpu_us / load.cpu_us:9.2f}x"
        )
    bound = wrk.median(loads["no jobs made"]).cpu_us
    full = wrk.median(loads["sandbox"]).cpu_us
    print(
        f"\n{TARGET:g}x needs at most {floor.cpu_us / TARGET:.0f} µs a request; with no job made "
        f"the sandbox takes {bound:.0f} µs ({floor.cpu_us / bound:.2f}x), and making the job "
        f"adds {full - bound:.0f} µs ({(full - bound) / full:.0%} of the whole)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
