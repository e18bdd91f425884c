"""The pytest plugin (entry point `pytest11`): fixtures only.

    aiprod_sandbox     session: the server (in this process, or --aiprod-sandbox-url)
    aiprod_account     function: a fresh, isolated account with a ready httpx client
    aiprod_receiver    function: a loopback webhook receiver of this test's own

Configure a test with `@pytest.mark.aiprod_sandbox(tier=, scenario=, clock=, scale=,
job_timing=, inprocess=)`. Turn the plugin off with `-p no:aiprod_sandbox`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .config import RECEIVER_HOST_VARIABLE, URL_VARIABLE, PluginConfig

if TYPE_CHECKING:  # the server is imported when a test first asks for it, not by pytest
    from .account import SandboxAccount
    from .receiver import ReceiverHandle, ReceiverServer
    from .server import ExternalSandbox, ThreadedSandbox

TIER_PREFIX = {"free": "free_", "pro": "pro_", "enterprise": "ent_"}
DEFAULT_SCALE = 60  # clock="scaled" alone: a minute of clock a second
MARKER_FIELDS = ("tier", "scenario", "clock", "scale", "job_timing", "inprocess")


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
        action="store_true",
        default=False,
        help="print the integration advisor's findings for the session's accounts at the end",
    )
    group.addoption(
        "--aiprod-receiver-host",
        default=None,
        help=f"host the sandbox reaches the webhook receiver at (default 127.0.0.1; e.g. "
        f"host.docker.internal for a container) [env {RECEIVER_HOST_VARIABLE}]",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "aiprod_sandbox(tier='pro', scenario=None, clock=None, scale=None, job_timing=None, "
        "inprocess=False): configure the test's aiprod_account",
    )


_SERVER = pytest.StashKey[Any]()  # the session's ThreadedSandbox or ExternalSandbox
_KEYS = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """With --aiprod-sandbox-advice: what the advisor found in this session's accounts."""
    if not PluginConfig.of(config).advice or _SERVER not in config.stash:
        return
    server = config.stash[_SERVER]
    terminalreporter.section("AIPROD Sandbox integration advice")
    lines: list[str] = []
    if hasattr(server, "sandbox"):  # in this process: ask it directly
        lines = server.sandbox.advice_summary()
    else:
        import httpx

        from ..core.advisor import evidence_line

        keys: list[str] = config.stash.get(_KEYS, [])
        for key in dict.fromkeys(keys):
            answer = httpx.get(
                f"{server.base_url}/_sandbox/advice",
                trust_env=False,
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            for finding in answer.json().get("items", []) if answer.status_code == 200 else []:
                lines.append(
                    f"{finding['rule']} ×{finding['count']}: {finding['title']} — "
                    f"fix: {finding['fix']}\n"
                    + evidence_line(finding["evidence"], finding["count"])
                )
    for line in lines or ["no findings"]:
        terminalreporter.write_line(line)


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


def _key(nodeid: str, tier: str, worker: str) -> str:
    """A key of the test's own: stable for the test, different for every test and worker."""
    digest = hashlib.sha256(f"{worker}:{nodeid}".encode()).hexdigest()[:24]
    return f"sk_test_{TIER_PREFIX[tier]}{digest}"


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
    if tier not in TIER_PREFIX:
        raise pytest.UsageError(f"aiprod_sandbox(tier={tier!r}): one of {sorted(TIER_PREFIX)}")
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
    key = _key(request.node.nodeid, options.get("tier", "pro"), worker)
    inprocess = bool(options.get("inprocess")) and isinstance(aiprod_sandbox, ThreadedSandbox)
    transport = aiprod_sandbox.transport() if inprocess else aiprod_sandbox.socket_transport()
    base_url = "http://sandbox.inprocess" if inprocess else aiprod_sandbox.base_url
    account = SandboxAccount(base_url, key, transport)
    request.config.stash.setdefault(_KEYS, []).append(key)
    account.reset()  # a rerun against a long-lived sandbox starts clean too
    if options.get("clock") or options.get("scale"):
        mode = options.get("clock") or "scaled"
        scale = options.get("scale") or (DEFAULT_SCALE if mode == "scaled" else None)
        account.clock.set(mode, scale=scale or None)
    if options.get("job_timing"):
        account.set_timing(options["job_timing"])
    if options.get("scenario"):
        account.use_scenario(options["scenario"])
    yield account
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
