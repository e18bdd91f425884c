"""`aiprod-sandbox clock show|set|advance|freeze|scale`: the account's clock on a running
sandbox (`GET`/`POST /_sandbox/clock`, `POST /_sandbox/clock/advance`).

`freeze` is manual mode (time moves only with `advance`), `scale N` runs N clock seconds per
real second, `set` moves to a time or changes the mode (`set --mode real` undoes both).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from . import flags

if TYPE_CHECKING:
    from .client import SandboxClient
    from .output import Output


def add_parser(commands: Any) -> None:
    clock = commands.add_parser(
        "clock",
        help="show or move the account's clock on a running sandbox",
        description="The account's clock: jobs, retries and link expiry all run on it.",
    )
    actions = clock.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="the clock's mode, time and scale")
    set_ = actions.add_parser(
        "set", help="move to a time (only forward) and/or change the mode or scale"
    )
    set_.add_argument("now", nargs="?", help="ISO 8601, e.g. 2026-03-01T09:00:00Z")
    set_.add_argument("--mode", choices=("real", "manual", "scaled"), help="default: as it is")
    set_.add_argument("--scale", type=float, help="clock seconds per real second (scaled)")
    advance = actions.add_parser(
        "advance", help="move forward and run everything that falls due (e.g. 10m, 2h, 1d)"
    )
    advance.add_argument("by", type=flags.duration, metavar="DURATION")
    freeze = actions.add_parser("freeze", help="manual mode: time moves only with `clock advance`")
    scale = actions.add_parser("scale", help="run N clock seconds per real second")
    scale.add_argument("factor", type=float, metavar="N")
    for action in (show, set_, advance, freeze, scale):
        flags.connection(action)
    clock.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .client import SandboxClient
    from .output import Output

    out = Output(args.json)
    with SandboxClient(args.url, args.key) as client:
        if args.action == "advance":
            return _advance(client, out, args.by)
        if args.action == "show":
            clock = client.json("GET", "/_sandbox/clock")
        else:
            clock = client.json("POST", "/_sandbox/clock", json=_change(client, args))
    if out.as_json:
        out.json(clock)
    else:
        _show(out, clock)
    return 0


def _change(client: SandboxClient, args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "freeze":
        return {"mode": "manual"}
    if args.action == "scale":
        return {"mode": "scaled", "scale": args.factor}
    current = client.json("GET", "/_sandbox/clock")
    body: dict[str, Any] = {"mode": args.mode or current["mode"]}
    if args.now is not None:
        body["now"] = args.now
    if args.scale is not None:
        body["scale"] = args.scale
    elif body["mode"] == "scaled":
        body["scale"] = current["scale"]  # the scale it runs at, unless told otherwise
    return body


def _show(out: Output, clock: dict[str, Any]) -> None:
    from .output import styled

    scale = f"{clock['scale']:g}x" if clock["mode"] == "scaled" else ""
    out.fields(
        [("now", clock["now"]), ("mode", styled(clock["mode"], "bold"))]
        + ([("scale", scale)] if scale else [])
    )


def _advance(client: SandboxClient, out: Output, seconds: float) -> int:
    from .output import relative

    done = client.json("POST", "/_sandbox/clock/advance", json={"seconds": seconds})
    if out.as_json:
        out.json(done)
        return 0
    now = done["clock"]["now"]
    out.line(f"advanced {seconds:g}s to {now}; ran {done['ran_count']} due item(s)")
    if done["ran"]:
        rows = [[relative(r["at"], now), r["kind"], r["ref"], r["action"]] for r in done["ran"]]
        out.table(["when", "kind", "ref", "action"], rows)
    return 0
