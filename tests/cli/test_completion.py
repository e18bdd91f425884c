"""`aiprod-sandbox completion bash|zsh|tcsh`: scripts that know every command, and a bash
script that really completes them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support.serve import clean_env

COMMANDS = ("trigger", "logs", "jobs", "deliveries", "scenario", "clock", "reset", "advice")


def _script(shell: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "aiprod_sandbox", "completion", shell],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_the_script_names_every_command(shell: str) -> None:
    script = _script(shell)
    for command in (*COMMANDS, "serve", "listen", "completion"):
        assert command in script, command


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_and_event_names() -> None:
    script = _script("bash")
    probe = (
        "source /dev/stdin; COMP_WORDS=(aiprod-sandbox cl); COMP_CWORD=1; _shtab_aiprod_sandbox; "
        'echo "${COMPREPLY[@]}"; COMP_WORDS=(aiprod-sandbox trigger job.c); COMP_CWORD=2; '
        '_shtab_aiprod_sandbox; echo "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "-c", probe], input=script, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    commands, events = done.stdout.splitlines()
    assert commands.split() == ["clock"]
    assert sorted(events.split()) == ["job.cancelled", "job.completed"]


def test_an_unknown_shell_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aiprod_sandbox", "completion", "fish"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
