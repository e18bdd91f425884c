"""`aiprod-sandbox logs tail` against a real `serve`: the journal and delivery attempts, and
`--follow` seeing a request made after it started."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading

import httpx

from tests.cli.conftest import Cli, command_env
from tests.support.lines import read_lines
from tests.support.receivers import Receivers
from tests.support.serve import SandboxProcess, launch, shut_down

WAIT = 15.0


def _lines(cli: Cli, *args: str) -> list[dict[str, object]]:
    done = cli("logs", "tail", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_piped_it_prints_json_lines_oldest_first(cli: Cli, api: httpx.Client) -> None:
    api.get("/jobs", params={"page": 1})
    api.get("/jobs/job_missing0000000")
    printed = _lines(cli)
    assert [(p["method"], p["path"], p["status"]) for p in printed] == [
        ("GET", "/jobs", 200),
        ("GET", "/jobs/job_missing0000000", 404),
    ]
    assert {p["type"] for p in printed} == {"request"}


def test_status_and_path_filters(cli: Cli, api: httpx.Client) -> None:
    api.get("/jobs")
    api.get("/jobs/job_missing0000000")
    api.get("/presets")
    assert [p["status"] for p in _lines(cli, "--status", "4xx")] == [404]
    assert [p["path"] for p in _lines(cli, "--path", "/presets")] == ["/presets"]
    assert len(_lines(cli, "--status", "200,404")) == 3
    assert len(_lines(cli, "-n", "1")) == 1


def test_delivery_attempts_are_lines_too(cli: Cli, api: httpx.Client, receivers: Receivers) -> None:
    hook = receivers.plain(500)
    api.post("/webhooks/register", json={"url": hook.url, "events": ["job.completed"]})
    api.post("/pipeline/run", json={"video_url": "https://example.com/a.mp4"})
    assert hook.receiver.wait_until(lambda got: len(got) >= 1, WAIT)
    attempts = [p for p in _lines(cli, "--no-deliveries")]
    assert {p["type"] for p in attempts} == {"request"}
    attempts = [p for p in _lines(cli, "--status", "5xx") if p["type"] == "delivery_attempt"]
    assert attempts and attempts[0]["event"] == "job.completed"
    assert attempts[0]["response_status"] == 500


def test_on_a_terminal_each_is_one_readable_line(cli: Cli, api: httpx.Client) -> None:
    api.get("/jobs/job_missing0000000")
    done = cli("logs", "tail", env={"FORCE_COLOR": "1"})  # as a terminal would have it
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert "\x1b[33m404" in line  # a 4xx in yellow
    plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
    assert re.fullmatch(r"\d\d:\d\d:\d\d  GET +404  /jobs/job_missing0000000  .*ms  req_\w+", plain)


def test_follow_sees_a_request_made_after_it_started(
    sandbox: SandboxProcess, key: str, api: httpx.Client
) -> None:
    follow = subprocess.Popen(
        [sys.executable, "-m", "aiprod_sandbox", "logs", "tail", "--follow", "--interval", "0.1"],
        env=command_env(sandbox, key),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    assert follow.stdout is not None and follow.stderr is not None
    pumps = [
        threading.Thread(target=read_lines, args=(stream, into), daemon=True)
        for stream, into in ((follow.stdout, out), (follow.stderr, err))
    ]
    for pump in pumps:
        pump.start()
    try:
        assert err.get(timeout=WAIT).startswith("following ")  # it has read what was there
        api.get("/jobs", params={"marker": "after-start"})
        line = json.loads(out.get(timeout=WAIT))
        assert (line["path"], line["query"]) == ("/jobs", "marker=after-start")
        api.post("/pipeline/run", json={"video_url": "https://example.com/b.mp4"})
        assert json.loads(out.get(timeout=WAIT))["path"] == "/pipeline/run"
        follow.send_signal(signal.SIGINT)  # Ctrl-C: a quiet end a script can tell apart
        assert follow.wait(timeout=WAIT) == 130
        pumps[1].join(timeout=WAIT)
        assert err.empty()  # no traceback
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait(timeout=WAIT)
        follow.stdout.close()
        follow.stderr.close()


def test_follow_into_a_closed_pipe_ends_quietly(
    sandbox: SandboxProcess, key: str, api: httpx.Client
) -> None:
    """`aiprod-sandbox logs tail --follow | head -1`, the reader gone before the first line."""
    api.get("/jobs")
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "aiprod_sandbox", "logs", "tail", "--follow"],
            env=command_env(sandbox, key),
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=WAIT,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 1


def test_follow_ends_with_one_line_when_the_sandbox_goes_away(key: str) -> None:
    server = launch()
    follow = subprocess.Popen(
        [sys.executable, "-m", "aiprod_sandbox", "logs", "tail", "-f", "--interval", "0.1"],
        env=command_env(server, key),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follow.stderr is not None
    err: queue.Queue[str] = queue.Queue()
    pump = threading.Thread(target=read_lines, args=(follow.stderr, err), daemon=True)
    pump.start()
    try:
        assert err.get(timeout=WAIT).startswith("following ")
        shut_down(server)
        assert follow.wait(timeout=WAIT) == 1
        pump.join(timeout=WAIT)
        assert err.get(timeout=WAIT).startswith("aiprod-sandbox logs: no sandbox answered at ")
        assert err.empty()  # that one line, no traceback
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait(timeout=WAIT)
        if server.process.poll() is None:
            shut_down(server)
        follow.stderr.close()
