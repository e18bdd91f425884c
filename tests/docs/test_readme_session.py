"""The README's "Working by hand: the command line" section, run as written, so it cannot
drift from what the commands do.

Every ```console block of that section is read, and each line starting with `$ ` is a
command; the other lines are output and are not checked. The commands run in the README's
order against real processes, with these differences from a partner's terminals:

- the `serve` line is started through tests/support/serve.py `launch`, with the README's
  flags plus `--port 0 --seed 7` (a free port, this suite's seed);
- the partner's app at `http://127.0.0.1:3000/webhooks` is a small HTTP server in this process
  on a free port (tests/cli/test_listen_forward.py's `PartnerApp`, which checks each delivery
  with the guide's `verify_webhook` and the secret `listen` printed): the command text gets its
  port instead of 3000;
- `listen` gets `--port 0`, as its default 9000 may be taken on a CI machine;
- every command runs with `bash -c` (so `$(...)`, quoting and jq work as in a shell) in
  `clean_env` plus AIPROD_SANDBOX_URL, the launched server's URL (the README relies on the
  default :8080);
- the long-running ones (`listen --forward-to`, `logs tail --follow`) run in the background, the
  others one after another, and each of those must exit 0.

Then it checks what a partner would see: the app got the triggered events, signed; `logs tail
--follow` printed a request made after it started; the redelivered delivery has a second
attempt; and Ctrl-C (SIGINT) ends `listen` with exit code 0 after `reset`. Only 127.0.0.1 is
used, every wait is bounded, and every process is stopped in `finally`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_listen_forward import PartnerApp, serve_app
from tests.support.lines import LineReader
from tests.support.serve import CLI, SandboxProcess, clean_env, http_client, launch, shut_down

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Working by hand: the command line"
APP_IN_README = "http://127.0.0.1:3000"
WAIT = 10.0
SECRET = re.compile(r"whsec_\w+")


# ---- the README --------------------------------------------------------------------------------
def section_commands(readme: str) -> list[str]:
    """The `$ ` lines of the section's ```console blocks, in order (a line ending in `\\` goes
    on with the next one)."""
    start = readme.index(SECTION) + len(SECTION)
    end = readme.find("\n## ", start)
    section = readme[start : end if end != -1 else None]
    commands: list[str] = []
    for block in re.findall(r"^```console\n(.*?)^```", section, flags=re.DOTALL | re.MULTILINE):
        pending = ""
        for line in block.splitlines():
            if pending:
                line, pending = pending + line, ""
            elif not line.startswith("$ "):
                continue
            else:
                line = line[2:]
            if line.endswith("\\"):
                pending = line[:-1]
            else:
                commands.append(line.strip())
    return commands


def words(command: str) -> list[str]:
    return shlex.split(command, comments=True)


def is_serve(command: str) -> bool:
    return words(command)[:2] == ["aiprod-sandbox", "serve"]


def is_listen(command: str) -> bool:
    return words(command)[:2] == ["aiprod-sandbox", "listen"]


def is_follow(command: str) -> bool:
    said = words(command)
    return said[:3] == ["aiprod-sandbox", "logs", "tail"] and bool({"-f", "--follow"} & set(said))


@pytest.fixture(scope="module")
def commands() -> list[str]:
    return section_commands((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_section_walks_through_a_whole_session(commands: list[str]) -> None:
    """So the session test below cannot pass by having nothing to run."""
    assert is_serve(commands[0])
    assert sum(map(is_listen, commands)) == 1 and sum(map(is_follow, commands)) == 1
    said = [" ".join(words(command)[1:3]) for command in commands]
    for expected in ("trigger job.completed", "trigger job.failed", "jobs list"):
        assert expected in said
    for expected in ("deliveries list", "scenario use", "scenario clear", "clock advance"):
        assert expected in said
    assert "deliveries redeliver" in said and "advice" in said and said[-1] == "reset"
    assert APP_IN_README in next(command for command in commands if is_listen(command))


# ---- the processes -----------------------------------------------------------------------------
class Background:
    """A long-running command (`bash -c "exec ..."`), its stdout and stderr read in a thread."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.command = shlex.join(argv)
        self.process = subprocess.Popen(
            ["bash", "-c", "exec " + self.command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            encoding="utf-8",
            start_new_session=True,  # a process group of its own, for the cleanup
        )
        assert self.process.stdout is not None
        self.out = LineReader(self.process.stdout)

    @property
    def lines(self) -> list[str]:
        return self.out.lines

    def wait_line(self, wanted: Callable[[str], bool]) -> str:
        """The first line from now on that is `wanted`, or the test fails (within WAIT)."""
        line = self.out.wait_line(wanted, WAIT)
        if line is None:
            pytest.fail(f"{self.command}: no such line within {WAIT} s; it printed {self.lines}")
        return line

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT, then its exit code (the test fails past WAIT)."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.command} did not end within {WAIT} s of SIGINT")

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=WAIT)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def partner() -> Iterator[tuple[PartnerApp, str]]:
    """The partner's app: its base URL stands for APP_IN_README."""
    app = PartnerApp()
    server, url = serve_app(app)
    try:
        yield app, url.split("/aiprod-webhook")[0]
    finally:
        server.shutdown()
        server.server_close()


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", "-c", command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0, f"$ {command}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
    return done


def delivery(sandbox: SandboxProcess, delivery_id: str) -> dict[str, Any]:
    with http_client() as client:
        answer = client.get(
            f"{sandbox.base_url}/_sandbox/deliveries/{delivery_id}",
            headers={"Authorization": f"Bearer {sandbox.example_key}"},
        )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def received(app: PartnerApp, wanted: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    """What the app got once `wanted` holds of the bodies (the test fails past WAIT)."""
    with app.lock:
        ok = app.lock.wait_for(lambda: wanted([json.loads(got.body) for got in app.got]), WAIT)
        bodies = [got.body for got in app.got]
        assert ok, f"within {WAIT} s the app got only {bodies}"
        return list(app.got)


def everything_arrived(bodies: list[dict[str, Any]]) -> bool:
    """job.completed, job.failed with the code the README chose and with the scenario's, and
    the progress of the jobs the clock moved."""
    failed = {b["data"]["error"]["code"] for b in bodies if b["event"] == "job.failed"}
    return (
        {"PROCESSING_TIMEOUT", "PROCESSING_FAILED"} <= failed
        and any(b["event"] == "job.completed" for b in bodies)
        and sum(b["event"] == "job.progress" for b in bodies) >= 3
    )


# ---- the session -------------------------------------------------------------------------------
def test_the_readme_session_runs_as_written(
    commands: list[str], partner: tuple[PartnerApp, str]
) -> None:
    app, app_url = partner
    serve, *rest = commands
    assert is_serve(serve), f"the session starts with serve, not {serve!r}"
    sandbox = launch(words(serve)[2:])
    background: list[Background] = []
    env = clean_env(
        {
            "AIPROD_SANDBOX_URL": sandbox.base_url,
            "PATH": f"{CLI.parent}{os.pathsep}{os.environ['PATH']}",
        }
    )
    listen: Background | None = None
    follow: Background | None = None
    redelivered = ""
    try:
        for command in rest:
            if is_listen(command):
                argv = words(command.replace(APP_IN_README, app_url)) + ["--port", "0"]
                listen = Background(argv, env)
                background.append(listen)
                secret = SECRET.search(listen.wait_line(lambda line: bool(SECRET.search(line))))
                assert secret is not None
                app.secret = secret.group()  # what the partner gives their app
            elif is_follow(command):
                follow = Background(words(command), env)
                background.append(follow)
                follow.wait_line(lambda line: True)  # running: the next requests come after
            else:
                done = run(command, env)
                if words(command)[1:3] == ["deliveries", "redeliver"]:
                    found = re.search(r"dlv_\w+", done.stdout)
                    assert found is not None, done.stdout
                    redelivered = found.group()
                    # Checked now: the session's `reset` clears the delivery log.
                    attempts = delivery(sandbox, redelivered)["attempts"]
                    assert [
                        (a["attempt"], a["trigger"], a["response_status"]) for a in attempts
                    ] == [
                        (1, "scheduled", 200),
                        (2, "manual", 200),
                    ]

        assert listen is not None and follow is not None and redelivered
        # The app got every event the session made, each with a signature the guide's own
        # code accepts: job.completed, the failure with the chosen code, the scenario's failure.
        got = received(app, everything_arrived)
        events = [json.loads(item.body)["event"] for item in got]
        assert {"job.started", "job.progress", "job.completed", "job.failed"} <= set(events)
        assert all(item.signature_ok for item in got), "verify_webhook refused a delivery"
        twice = [item for item in got if item.headers["x-aiprod-delivery"] == redelivered]
        assert [item.headers["x-aiprod-attempt"] for item in twice] == ["1", "2"]
        assert twice[0].body == twice[1].body  # the stored bytes, sent again
        listen.wait_line(lambda line: redelivered in line and "attempt 2  → 200" in line)

        follow.wait_line(
            lambda line: (
                line.startswith("{")
                and json.loads(line).get("path") == "/pipeline/run"
                and json.loads(line).get("status") == 202
            )
        )
        # After `reset` removed its webhook, Ctrl-C still ends listen cleanly.
        assert listen.interrupt() == 0, listen.lines
        assert not any("Traceback" in line for line in listen.lines)
    finally:
        for process in background:
            process.close()
        shut_down(sandbox)
