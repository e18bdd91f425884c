"""The plugin is on once the package is installed (its `pytest11` entry point), and
`-p no:aiprod_sandbox` turns it off."""

from __future__ import annotations

from importlib.metadata import entry_points

from .conftest import Inner

USES_EVERY_FIXTURE = """
    from aiprod_sandbox.testing import ReceiverHandle, SandboxAccount, ThreadedSandbox

    def test_fixtures_are_there(aiprod_sandbox, aiprod_account, aiprod_receiver):
        assert isinstance(aiprod_sandbox, ThreadedSandbox)
        assert isinstance(aiprod_account, SandboxAccount)
        assert isinstance(aiprod_receiver, ReceiverHandle)
        assert aiprod_account.client.get("/health").status_code == 200
"""


def test_the_entry_point_names_the_plugin_module() -> None:
    (point,) = [e for e in entry_points(group="pytest11") if e.name == "aiprod_sandbox"]
    assert point.value == "aiprod_sandbox.testing.plugin"
    assert point.load().__name__ == "aiprod_sandbox.testing.plugin"


def test_installing_the_package_is_enough(inner: Inner) -> None:
    result = inner.suite(test_installed=USES_EVERY_FIXTURE)
    result.assert_outcomes(passed=1)


def test_options_and_marker_are_documented_in_pytest_help(inner: Inner) -> None:
    result = inner.run("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "AIPROD Sandbox:",
            "*--aiprod-sandbox-url=*",
            "*use the sandbox running at this URL*",
            "*--aiprod-sandbox-seed=*",
            "*--aiprod-receiver-host=*",
        ]
    )
    # the marker's registration is checked by every inner run: they all use --strict-markers


def test_p_no_turns_the_plugin_off(inner: Inner) -> None:
    result = inner.suite(
        "-p",
        "no:aiprod_sandbox",
        test_installed=USES_EVERY_FIXTURE,
        test_account="def test_account(aiprod_account):\n    pass\n",
    )
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*fixture 'aiprod_account' not found*",
            "*fixture 'aiprod_sandbox' not found*",
        ],
        consecutive=False,
    )
    listed = _available_fixtures(result.stdout.str())
    assert "aiprod" not in listed


def _available_fixtures(output: str) -> str:
    """The `available fixtures: ...` part of pytest's 'fixture not found' report."""
    start = output.find("available fixtures:")
    assert start >= 0, output
    return output[start : output.find("use 'pytest --fixtures", start)]
