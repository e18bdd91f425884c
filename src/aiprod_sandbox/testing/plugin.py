"""The pytest plugin (entry point `pytest11`): fixtures only.

    aiprod_sandbox     session: the server (in this process, or --aiprod-sandbox-url)
    aiprod_account     function: a fresh, isolated account with a ready httpx client
    aiprod_receiver    function: a loopback webhook receiver of this test's own

Each test's key is derived from its id, its xdist worker and the session's run id. Against an
external sandbox the run id is random unless pinned (`--aiprod-sandbox-run-id`), so two
sessions sharing one server never meet and a rerun never inherits what a previous run did;
in this process it is empty unless pinned, so ids are the same from run to run.
Configure a test with `@pytest.mark.aiprod_sandbox(tier=, scenario=, clock=, scale=,
job_timing=, inprocess=)`. Turn the plugin off with `-p no:aiprod_sandbox`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ..core.tiers import KEY_PREFIXES, Tier
from .config import RECEIVER_HOST_VARIABLE, RUN_ID_VARIABLE, URL_VARIABLE, PluginConfig

if TYPE_CHECKING:  # the server is imported when a test first asks for it, not by pytest
    from .account import SandboxAccount
    from .receiver import ReceiverHandle, ReceiverServer
    from .server import ExternalSandbox, ThreadedSandbox

DEFAULT_SCALE = 60  # clock="scaled" alone: a minute of clock a second
MARKER_FIELDS = ("tier", "scenario", "clock", "scale", "job_timing", "inprocess")
WORKER_INPUT = "aiprod_sandbox_run_id"  # how xdist's controller hands its run id to workers


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aiprod_sandbox", "AIPROD Sandbox")
    group.addoption(
        "--aiprod-sandbox-url",
        default=None,
        help=f"use the sandbox running at this URL (e.g. a container) instead of starting one "
        f"in this process [env {URL_VARIABLE}]",
    )
    group.addoption(
        "--aiprod-sandbox-seed",
        type=int,
        default=0,
        help="seed of the in-process sandbox (ids, scores, costs)",
    )
    group.addoption(
        "--aiprod-sandbox-advice",
        nargs="?",
        const="print",
        default=None,
        choices=("print", "fail"),
        help="print the integration advisor's findings for the session's accounts at the end, "
        "each with the test that made it; =fail also fails the session when there are any",
    )
    group.addoption(
        "--aiprod-sandbox-journal",
        action="store_true",
        default=False,
        help="attach a failing test's request journal and webhook deliveries to its report",
    )
    group.addoption(
        "--aiprod-receiver-host",
        default=None,
        help=f"host the sandbox reaches the webhook receiver at (default 127.0.0.1; e.g. "
        f"host.docker.internal for a container) [env {RECEIVER_HOST_VARIABLE}]",
    )
    group.addoption(
        "--aiprod-sandbox-run-id",
        default=None,
        help="the session's key namespace: pin it to get the same keys (and accounts) as a "
        "run that printed it; default random against --aiprod-sandbox-url, empty in this "
        f"process [env {RUN_ID_VARIABLE}]",
    )


_SERVER = pytest.StashKey[Any]()  # the session's ThreadedSandbox or ExternalSandbox
_KEYS = pytest.StashKey[dict[str, str]]()  # every test key of the session → its test
_ADVICE = pytest.StashKey[list[str]]()  # the advisor's findings, one line (and evidence) each
_CLIENT = pytest.StashKey[Any]()  # a test's SandboxAccount, for its journal on failure
_RUN_ID = pytest.StashKey[str]()
_ACCOUNT = pytest.StashKey[tuple[str, str]]()  # a test's key and the sandbox's URL
_PASSED = pytest.StashKey[bool]()  # the test's own call passed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "aiprod_sandbox(tier='pro', scenario=None, clock=None, scale=None, job_timing=None, "
        "inprocess=False): configure the test's aiprod_account",
    )
    options = PluginConfig.of(config)
    given = getattr(config, "workerinput", {}).get(WORKER_INPUT)  # an xdist worker
    if given is None:
        given = options.run_id
    if given is None:
        given = secrets.token_hex(4) if options.url else ""
    config.stash[_RUN_ID] = given


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist (when installed): every worker takes the controller's run id."""
    node.workerinput[WORKER_INPUT] = node.config.stash[_RUN_ID]


def pytest_report_header(config: pytest.Config) -> str | None:
    options = PluginConfig.of(config)
    run_id = config.stash.get(_RUN_ID, "")
    if not options.url and not run_id:
        return None
    where = options.url or "in this process"
    return f"aiprod-sandbox: {where}, run id {run_id or '(none)'} (--aiprod-sandbox-run-id)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test's report names its account: the key to open it with in the console;
    with --aiprod-sandbox-journal, also what its client did (requests and deliveries)."""
    report = yield
    if call.when == "call":
        item.stash[_PASSED] = report.passed
    found = item.stash.get(_ACCOUNT, None)
    if found is not None and report.failed:
        key, base_url = found
        pinned = item.config.stash.get(_RUN_ID, "") or "''"
        report.sections.append(
            (
                "AIPROD Sandbox account",
                f"key {key}\nconsole {base_url}/_sandbox/ui (sign in with the key)\n"
                f"rerun with the same keys: --aiprod-sandbox-run-id {pinned}",
            )
        )
        account = item.stash.get(_CLIENT, None)
        if account is not None and PluginConfig.of(item.config).journal:
            from .report import evidence_text

            report.sections.append(("AIPROD Sandbox journal", evidence_text(account)))
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With --aiprod-sandbox-advice: ask the advisor about every account of the session
    (printed at the end); with =fail, any finding fails the session."""
    config = session.config
    mode = PluginConfig.of(config).advice
    if not mode or _SERVER not in config.stash:
        return
    from .report import advice_lines

    tests: dict[str, str] = config.stash.get(_KEYS, {})
    lines = advice_lines(config.stash[_SERVER], tests)
    config.stash[_ADVICE] = lines
    if lines and mode == "fail" and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """With --aiprod-sandbox-advice: what the advisor found in this session's accounts."""
    if _ADVICE not in config.stash:
        return
    terminalreporter.section("AIPROD Sandbox integration advice")
    lines = config.stash[_ADVICE]
    for line in lines or ["no findings"]:
        terminalreporter.write_line(line)
    if lines and PluginConfig.of(config).advice == "fail":
        terminalreporter.write_line(
            f"{len(lines)} findings: the session fails (--aiprod-sandbox-advice=fail)"
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Re-raise, in the test that caused it, an exception the in-process server hit (and
    never leave one behind for the next test, even when this one failed on its own)."""
    server = getattr(item, "funcargs", {}).get("aiprod_sandbox")
    try:
        result = yield
    finally:
        errors = server.new_errors() if server is not None else []
    if errors:
        raise errors[0]
    return result


@pytest.fixture(scope="session")
def aiprod_sandbox(request: pytest.FixtureRequest) -> Iterator[ThreadedSandbox | ExternalSandbox]:
    """The session's sandbox: started once in this process, or the one at the given URL."""
    from ..settings import Settings
    from .server import ExternalSandbox, ThreadedSandbox

    options = PluginConfig.of(request.config)
    server: ThreadedSandbox | ExternalSandbox
    if options.url:
        server = ExternalSandbox(options.url)
    else:
        server = ThreadedSandbox(Settings(seed=options.seed))
    server.start()
    request.config.stash[_SERVER] = server
    yield server
    server.stop()


def _key(nodeid: str, tier: Tier, worker: str, run_id: str) -> str:
    """A key of the test's own: stable for the test in a run id, different for every test,
    worker and run id."""
    name = f"{run_id}:{worker}:{nodeid}" if run_id else f"{worker}:{nodeid}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return f"{KEY_PREFIXES[tier]}{digest}"


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("aiprod_sandbox"))):
        unknown = set(marker.kwargs) - set(MARKER_FIELDS)
        if unknown or marker.args:
            raise pytest.UsageError(
                f"@pytest.mark.aiprod_sandbox takes only keywords {', '.join(MARKER_FIELDS)}; "
                f"got {sorted(unknown) or marker.args}"
            )
        options.update(marker.kwargs)
    tier = options.get("tier", "pro")
    if tier not in KEY_PREFIXES:
        raise pytest.UsageError(f"aiprod_sandbox(tier={tier!r}): one of {sorted(KEY_PREFIXES)}")
    return options


@pytest.fixture
def aiprod_account(
    request: pytest.FixtureRequest, aiprod_sandbox: ThreadedSandbox | ExternalSandbox
) -> Iterator[SandboxAccount]:
    """A fresh account on the session's sandbox, configured by the test's marker."""
    from .account import SandboxAccount
    from .server import ThreadedSandbox

    options = _options(request)
    worker = PluginConfig.of(request.config).worker
    run_id = request.config.stash.get(_RUN_ID, "")
    key = _key(request.node.nodeid, options.get("tier", "pro"), worker, run_id)
    inprocess = bool(options.get("inprocess")) and isinstance(aiprod_sandbox, ThreadedSandbox)
    transport = aiprod_sandbox.transport() if inprocess else aiprod_sandbox.socket_transport()
    base_url = "http://sandbox.inprocess" if inprocess else aiprod_sandbox.base_url
    account = SandboxAccount(base_url, key, transport)
    request.config.stash.setdefault(_KEYS, {})[key] = request.node.nodeid
    request.node.stash[_CLIENT] = account
    request.node.stash[_ACCOUNT] = (key, aiprod_sandbox.base_url)
    # Clean whatever a run with these keys left behind: its jobs, and its keys too (revoked,
    # rotated or narrowed by the test itself).
    account.reset(keys=True)
    if options.get("clock") or options.get("scale"):
        mode = options.get("clock") or "scaled"
        scale = options.get("scale") or (DEFAULT_SCALE if mode == "scaled" else None)
        account.clock.set(mode, scale=scale or None)
    if options.get("job_timing"):
        account.set_timing(options["job_timing"])
    if options.get("scenario"):
        account.use_scenario(options["scenario"])
    yield account
    try:
        passed = request.node.stash.get(_PASSED, False)
        shared = not isinstance(aiprod_sandbox, ThreadedSandbox)
        if shared and passed and not PluginConfig.of(request.config).advice:
            # A shared server keeps no leftovers of a passing test: its account is empty
            # again, and may be let go when idle. A failing test's stays, for the console
            # (and every account stays with --aiprod-sandbox-advice, for the advisor).
            account.reset(keys=True)
    finally:
        account.close()


@pytest.fixture(scope="session")
def _aiprod_receiver_server(request: pytest.FixtureRequest) -> Iterator[ReceiverServer]:
    from .receiver import ReceiverServer

    host = PluginConfig.of(request.config).receiver_host
    server = ReceiverServer(advertised_host=host).start()
    yield server
    server.stop()


@pytest.fixture
def aiprod_receiver(_aiprod_receiver_server: ReceiverServer) -> Iterator[ReceiverHandle]:
    """A webhook receiver of this test's own: `url`, `secret`, `respond_with`, `wait_for`."""
    handle = _aiprod_receiver_server.handle()
    yield handle
    handle.close()
