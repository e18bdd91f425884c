"""The `aiprod-sandbox` command: `serve`, `listen`, `health`, `scenario`, `state`, and the client
commands that talk to a running sandbox (`commands/`: each adds its own parser and runs itself).

Flags come from the one table in `settings.py`, so every flag also works as an
`AIPROD_SANDBOX_<NAME>` variable and the two never drift apart.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .commands import clock, completion, control, deliveries, jobs, logs, scenario, trigger
from .commands.forwarding import ATTEMPT_TIMEOUT, FORWARD_TIMEOUT, MAX_FORWARD_TIMEOUT
from .errors import ConfigError
from .settings import OPTIONS, Client, Settings

EPILOG = """\
Every flag can also be set as an environment variable: --job-timing simulated is
AIPROD_SANDBOX_JOB_TIMING=simulated. Flags win over variables.

examples:
  aiprod-sandbox serve                         # http://127.0.0.1:8080, any sk_test_ key works
  aiprod-sandbox serve --port 9000 --seed 7    # same seed, same ids and results every run
  aiprod-sandbox serve --clock manual          # time moves only with POST /_sandbox/clock/advance
"""


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    convert.__name__ = getattr(parse, "__name__", "value").lstrip("_").replace("parse_", "")
    return convert


# Each adds its parser, with `run` as its default: cli.py dispatches and renders their errors.
CLIENT_COMMANDS = (trigger, logs, jobs, deliveries, scenario, clock, control, completion)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiprod-sandbox",
        description="AIPROD Sandbox: a local, stateful emulator of the AIPROD video-pipeline API.",
    )
    parser.add_argument("--version", action="version", version=f"aiprod-sandbox {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the sandbox API server",
        description="Run the sandbox API server until SIGTERM or Ctrl-C.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listen = commands.add_parser(
        "listen",
        help="run a local webhook receiver that prints and verifies deliveries",
        description="Receive webhooks on 127.0.0.1:PORT, print each delivery and whether its "
        "signature verifies, and answer with a chosen sequence of statuses. With --forward-to "
        "URL: register a webhook on the sandbox pointing here, print its whsec_ secret, and "
        "forward every delivery to your app (see docs/cli.md).",
    )
    listen.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    listen.add_argument("--port", type=int, default=9000, help="port (default: 9000)")
    listen.add_argument("--secret", help="the whsec_ secret to verify signatures with")
    listen.add_argument(
        "--respond",
        type=_argparse_type(_statuses),
        default=(),
        metavar="500,500,200",
        help="statuses for the first deliveries, in order; 200 after them",
    )
    listen.add_argument(
        "--forward-to",
        metavar="URL",
        help="register a webhook on the sandbox pointing here and forward every delivery to "
        "URL (your app), byte for byte; the sandbox gets your app's status",
    )
    listen.add_argument(
        "--events",
        metavar="EVENT,...",
        default=None,
        help="with --forward-to: the events to subscribe to (default: all)",
    )
    listen.add_argument(
        "--print-secret",
        action="store_true",
        help="with --forward-to: print the registration's whsec_ secret and exit",
    )
    listen.add_argument(
        "--forward-timeout",
        type=_argparse_type(_forward_timeout),
        default=FORWARD_TIMEOUT,
        metavar="SECONDS",
        help="with --forward-to: how long the app may take to answer before the sandbox is "
        f"answered 504 (default: {FORWARD_TIMEOUT:g}; keep it below the sandbox's "
        f"--webhook-timeout, {ATTEMPT_TIMEOUT:g} by default)",
    )
    listen.add_argument(
        "--public-url",
        metavar="URL",
        help="with --forward-to: the URL to register, for a sandbox that cannot reach this "
        "machine's 127.0.0.1 (in a container: http://host.docker.internal:PORT/listen, with "
        "--host 0.0.0.0); this still listens on --host:--port",
    )
    listen.add_argument(
        "--skip-verify",
        action="store_true",
        help="with --forward-to: do not check the certificate of an https app (self-signed)",
    )
    listen.add_argument("--url", default=None, help="the sandbox [env AIPROD_SANDBOX_URL]")
    listen.add_argument("--key", default=None, help="the account's key [env AIPROD_SANDBOX_KEY]")
    health = commands.add_parser(
        "health",
        help="exit 0 when the sandbox here answers GET /health (the container's HEALTHCHECK)",
        description="Check GET /health of the sandbox on this machine; exit 0 if healthy.",
    )
    health.add_argument(
        "--url",
        default=None,
        help="base URL (default: http://127.0.0.1:$AIPROD_SANDBOX_PORT or 8080)",
    )
    health.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    health.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep asking until healthy, for up to this long (a CI job waiting for its service)",
    )
    _state_parser(commands)
    for command in CLIENT_COMMANDS:
        command.add_parser(commands)
    defaults = Settings()
    for option in OPTIONS:
        default = getattr(defaults, option.name, None)
        help_text = f"{option.help} [env {option.env}]"
        if not option.is_flag and default is not None:
            help_text += f" (default: {default})"
        if option.repeat:
            serve.add_argument(
                option.flag,
                dest=option.name,
                action="append",
                default=None,
                metavar=option.metavar,
                help=help_text,
            )
        elif option.is_flag:
            serve.add_argument(
                option.flag,
                dest=option.name,
                action="store_const",
                const=True,
                default=None,
                help=help_text,
            )
        else:
            serve.add_argument(
                option.flag,
                dest=option.name,
                type=_argparse_type(option.parse),
                default=None,
                metavar=option.metavar,
                help=help_text,
            )
    return parser


def _state_parser(commands: Any) -> None:
    state = commands.add_parser(
        "state",
        help="export or import an account's whole world (a running sandbox or a --data-dir)",
        description="Export or import one account's state document: through a running "
        "sandbox (--url, default http://127.0.0.1:8080) or straight from a data directory no "
        "server is using (--data-dir). The account is the one --key opens (default: the "
        "example key), or on a data directory --account.",
    )
    actions = state.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="print the account's state document")
    export.add_argument("-o", "--output", type=Path, help="write it to this file instead")
    load = actions.add_parser("import", help="make the account's world a document's")
    load.add_argument("file", type=Path, help="the state document (- reads standard input)")
    for action in (export, load):
        where = action.add_mutually_exclusive_group()
        where.add_argument(
            "--url",
            default=None,
            help="a running sandbox [env AIPROD_SANDBOX_URL]",
        )
        where.add_argument("--data-dir", type=Path, help="a data directory no server is using")
        action.add_argument(
            "--key",
            default=None,
            help="the account's key [env AIPROD_SANDBOX_KEY]",
        )
        action.add_argument("--account", help="with --data-dir: the account's id")
        action.add_argument(
            "--seed",
            type=int,
            help="with --data-dir: the server's seed (names a new key's account)",
        )


def _state(args: argparse.Namespace) -> int:
    from .commands import state

    client = Client.load(args.url, args.key)
    target = state.Target(client.url, args.data_dir, client.key, args.account, args.seed)
    try:
        if args.action == "export":
            return state.export(target, args.output)
        return state.import_(target, args.file)
    except ConfigError as exc:
        print(f"aiprod-sandbox state {args.action}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"aiprod-sandbox state {args.action}: {exc}", file=sys.stderr)
        return 1


def _client(args: argparse.Namespace) -> int:
    """A client command's run; its errors (the sandbox's envelope, or no sandbox at all) are
    one line on stderr and exit 1, never a traceback; with --json, the envelope itself."""
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        envelope = getattr(exc, "envelope", None)
        if getattr(args, "json", False) and envelope is not None:
            import json

            print(json.dumps(envelope), file=sys.stderr)
        else:
            print(f"aiprod-sandbox {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _listen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The forwarder with --forward-to (or --print-secret), else the verifying receiver."""
    if args.forward_to or args.print_secret:
        from .commands import forward

        return forward.run(args)
    if args.public_url or args.skip_verify:
        parser.error("--public-url and --skip-verify go with --forward-to")
    from .server import listen

    return listen(args.host, args.port, args.secret, args.respond)


def _health(url: str | None, timeout: float, wait: float = 0.0) -> int:
    """Healthy when GET /health answers ok: at --url, else on the configured port, else on
    the port `serve` wrote to its --port-file (a `--port` flag given to the container).
    With `wait`, asks again every 0.2 s until healthy or `wait` seconds have passed."""
    import time

    from .core.clock import monotonic

    deadline = monotonic() + wait
    while True:
        problems = _health_problems(url, timeout)
        if not problems or monotonic() >= deadline:
            break
        time.sleep(0.2)
    if problems:
        print("unhealthy: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


def _health_problems(url: str | None, timeout: float) -> list[str]:
    """What is wrong with each place the sandbox may answer; nothing once one is healthy."""
    try:
        settings = Settings.load()
    except ConfigError as exc:
        return [str(exc)]
    candidates = [url] if url else [f"http://127.0.0.1:{settings.port}"]
    if not url and settings.port_file is not None:
        try:
            served = int(settings.port_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            served = None
        if served is not None and served != settings.port:
            candidates.append(f"http://127.0.0.1:{served}")
    problems = []
    for base in candidates:
        problem = _probe(base, timeout)
        if problem is None:
            print(f"healthy: {base}")
            return []
        problems.append(f"{base}: {problem}")
    return problems


def _probe(base: str, timeout: float) -> str | None:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base.rstrip('/')}/health", timeout=timeout) as answer:
            if answer.status == 200 and json.load(answer).get("status") == "ok":
                return None
            return f"answered {answer.status}"
    except (OSError, ValueError) as exc:
        return str(exc)


def _forward_timeout(text: str) -> float:
    seconds = float(text)
    if not 0 < seconds <= MAX_FORWARD_TIMEOUT:  # also refuses NaN
        raise ValueError(f"must be more than 0 and at most {MAX_FORWARD_TIMEOUT:g}, got {text!r}")
    return seconds


def _statuses(text: str) -> tuple[int, ...]:
    statuses = tuple(int(part) for part in text.split(",") if part.strip())
    if any(not 100 <= status <= 599 for status in statuses):
        raise ValueError(f"statuses must be 100-599, got {text!r}")
    return statuses


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
    except BrokenPipeError:
        # `aiprod-sandbox scenario list | head -2`: the reader has gone; end quietly, and keep
        # Python from failing again on the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


def _config_problems(exc: ConfigError) -> list[str]:
    """A file's problems one per line, as `file:line: field: message`; anything else named."""
    from .core.yamlfile import FileError  # not at import: --help and --version stay instant

    if isinstance(exc, FileError):
        return exc.problems
    return [f"aiprod-sandbox: {exc}"]


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "serve":
        flags = {option.name: getattr(args, option.name) for option in OPTIONS}
        try:
            settings = Settings.load(flags)
            from .server import serve  # imported here: --help and --version stay instant

            return serve(settings)
        except ConfigError as exc:
            print("\n".join(_config_problems(exc)), file=sys.stderr)
            return 2
    if args.command == "health":
        return _health(args.url, args.timeout, args.wait)
    if args.command == "state":
        return _state(args)
    if getattr(args, "run", None) is not None:
        return _client(args)
    if args.command == "listen":
        return _listen(parser, args)
    parser.error(f"unknown command {args.command}")
    return 2
