"""`aiprod-sandbox scenario`: scenario files offline (`schema`, `validate`), and the account's
scenario on a running sandbox (`use NAME`, `clear`).

`use` takes a name from the server's library or a scenario file of your own (validated here
first, with `file:line: field` errors, then sent inline).

`list` serves both sides: when a sandbox answers (`--url`, `AIPROD_SANDBOX_URL`, or the default
port) it lists that server's scenarios with the ones active for the account marked; when
nothing answers there, or with `--offline`, it lists the scenarios shipped with this version,
in the same form. A sandbox that answers with an error (a bad key) is that error, not the
shipped list.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import flags

if TYPE_CHECKING:
    from .output import Output

PROBE_TIMEOUT = 2.0  # seconds `list` waits for a sandbox before listing the shipped scenarios


def add_parser(commands: Any) -> None:
    scenario = commands.add_parser(
        "scenario",
        help="list, validate and describe scenario files; switch one on for an account",
        description="Scenario files script failures: see `scenario schema` for the format. "
        "`use` and `clear` switch one on and off for an account of a running sandbox.",
    )
    actions = scenario.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="the running sandbox's scenarios, active ones marked (else the shipped ones)",
    )
    listing.add_argument(
        "--offline", action="store_true", help="the shipped scenarios; ask no sandbox"
    )
    actions.add_parser("schema", help="print the JSON Schema of scenario files")
    check = actions.add_parser("validate", help="check files; every error with file:line: field")
    check.add_argument("files", nargs="+", metavar="FILE")
    use = actions.add_parser("use", help="switch a scenario on for the account")
    use.add_argument(
        "name", metavar="NAME|FILE", help="a name from `scenario list`, or a .yaml file"
    )
    clear = actions.add_parser("clear", help="switch the account's scenario off")
    for action in (listing, use, clear):
        flags.connection(action)
    scenario.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "schema":
        from ..core.scenarios.loader import schema_text

        print(schema_text(), end="")
        return 0
    if args.action == "validate":
        return _validate(args.files)
    from .output import Output

    out = Output(args.json)
    if args.action == "list":
        return _list(args, out)
    from .client import SandboxClient

    body: dict[str, Any] = {"name": args.name} if args.action == "use" else {}
    if args.action == "use" and _is_file(args.name):
        found = _inline(Path(args.name))
        if found is None:
            return 1
        body = {"scenario": found}
    with SandboxClient(args.url, args.key) as client:
        if args.action == "use":
            done = client.json("PUT", "/_sandbox/scenario", json=body)
        else:
            done = client.json("DELETE", "/_sandbox/scenario")
    if out.as_json:
        out.json(done)
    elif done["scenario"]:
        out.line(f"scenario {done['scenario']} is on for this account")
    else:
        out.line("no scenario of the account's own is on")
    if done["server_scenarios"] and not out.as_json:
        out.line("on for every account (serve): " + ", ".join(done["server_scenarios"]))
    return 0


def _list(args: argparse.Namespace, out: Output) -> int:
    items = None if args.offline else _served(args)
    if items is None:
        from ..core.scenarios import library

        items = [
            {"name": s.name, "description": s.description, "advice": s.advice, "active": None}
            for s in library().values()
        ]
    if out.as_json:
        out.json({"items": items})
    elif out.terminal:
        from .output import styled

        rows = [
            [
                styled(i["name"], "bold green" if i["active"] else "bold"),
                {True: styled("active", "green"), False: "", None: "-"}[i["active"]],
                i["description"],
            ]
            for i in items
        ]
        out.table(["scenario", "", "what it does"], rows)
    else:
        for item in items:
            print(f"{item['name']}\n    {item['description']}")
            if item["advice"]:
                print(f"    tests: {item['advice']}")
            if item["active"]:
                print("    active for this account")
    return 0


def _served(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """The sandbox's list, or None when no sandbox answers there (its errors are raised)."""
    import httpx

    from .client import CommandError, SandboxClient, answer

    with SandboxClient(args.url, args.key, timeout=PROBE_TIMEOUT) as client:
        try:
            response = client.http.get("/_sandbox/scenarios")
        except (httpx.ConnectError, httpx.ConnectTimeout):
            return None
        except httpx.HTTPError as exc:
            raise CommandError(f"the sandbox at {client.url} did not answer: {exc}") from exc
        items: list[dict[str, Any]] = answer(response).json()["items"]
        return items


def _is_file(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or Path(name).is_file()


def _inline(path: Path) -> dict[str, Any] | None:
    """A scenario file's document, once it validates here; else its problems on stderr."""
    import yaml

    from ..core.scenarios import ScenarioError, load_file

    try:
        load_file(path)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def _validate(files: list[str]) -> int:
    from ..core.scenarios import ScenarioError, load_file

    failed = 0
    for file in files:
        try:
            found = load_file(Path(file))
        except ScenarioError as exc:
            failed += 1
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        else:
            print(f"{file}: ok ({found.name})")
    return 1 if failed else 0
