"""`aiprod-sandbox logs tail --follow` loses no line: over real sockets, far more requests and
delivery attempts than one listing page made between two polls all appear, in order; and when
the journal's bound lets requests go before a poll could read them, one line says how many."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aiprod_sandbox.core.jobs import JOB_EVENTS
from tests.cli.conftest import command_env
from tests.support.lines import read_lines
from tests.support.receivers import Receivers
from tests.support.serve import SandboxProcess

WAIT = 30.0
INTERVAL = 6.0  # seconds between polls: every burst below fits between two of them
REQUESTS = 260  # more than the 200 the first `logs tail` read per poll
JOBS_EVERY = 9  # one request in nine submits a job (and its webhook deliveries)
EVENTS = 120  # and events sent besides: more deliveries than the first `logs tail` read


class Follow:
    """`logs tail --follow` as a child, its stdout and stderr read line by line in threads."""

    def __init__(self, sandbox: SandboxProcess, key: str) -> None:
        argv = [sys.executable, "-m", "aiprod_sandbox", "logs", "tail", "-f", "-n", "0"]
        self.process = subprocess.Popen(
            [*argv, "--interval", str(INTERVAL)],
            env=command_env(sandbox, key),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        for stream, into in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=read_lines, args=(stream, into), daemon=True).start()

    def records(self, done: Any) -> list[dict[str, Any]]:
        """JSON lines until `done(records)` holds (bounded by WAIT)."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + WAIT
        while not done(got):
            try:
                got.append(json.loads(self.out.get(timeout=max(0.0, deadline - time.monotonic()))))
            except queue.Empty:
                pytest.fail(f"logs tail printed {len(got)} lines, then nothing for {WAIT} s")
        return got

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def follow(sandbox: SandboxProcess, key: str) -> Iterator[Follow]:
    started = Follow(sandbox, key)
    try:
        assert started.err.get(timeout=WAIT).startswith("following ")  # its first poll is done
        yield started
    finally:
        started.stop()


def _burst(api: httpx.Client) -> list[tuple[str, str]]:
    """REQUESTS requests as fast as they go, every one answered; (path, query) of each."""
    made = []
    for index in range(REQUESTS):
        if index % JOBS_EVERY == 0:
            answer = api.post("/pipeline/run", json={"video_url": f"https://e.com/{index}.mp4"})
            made.append(("/pipeline/run", ""))
        else:
            answer = api.get("/jobs", params={"n": index})
            made.append(("/jobs", f"n={index}"))
        assert answer.status_code < 500, answer.text
    return made


def _total(api: httpx.Client) -> tuple[int, int]:
    listed = api.get("/_sandbox/requests", params={"limit": 1}).json()
    return listed["kept"] + listed["evicted"], listed["evicted"]


def test_every_request_and_attempt_between_two_polls_appears_in_order(
    follow: Follow, api: httpx.Client, receivers: Receivers
) -> None:
    hook = receivers.plain()
    started = time.monotonic()
    hooked = {"url": hook.url, "events": list(JOB_EVENTS)}
    api.post("/webhooks/register", json=hooked).raise_for_status()
    made = _burst(api)
    for _ in range(EVENTS):  # control calls: deliveries, and no journal entry
        api.post("/_sandbox/events", json={"event": "job.completed"}).raise_for_status()
    # All of it between the follower's first poll and its second (else the test proves less).
    assert time.monotonic() - started < INTERVAL - 1
    deliveries = api.get("/_sandbox/deliveries", params={"limit": 1000}).json()["items"]
    assert len(deliveries) > 100  # more than the first `logs tail` read per poll, too
    assert hook.receiver.wait_until(lambda got: len(got) >= len(deliveries), WAIT)
    assert _total(api) == (len(made) + 1, 0)  # the journal kept them all: nothing to lose

    printed = follow.records(
        lambda got: (
            sum(r["type"] == "request" for r in got) >= REQUESTS
            and sum(r["type"] == "delivery_attempt" for r in got) >= len(deliveries)
        )
    )
    requests = [(r["path"], r["query"]) for r in printed if r["type"] == "request"]
    assert requests == [("/webhooks/register", ""), *made]  # every one, once, in the order made
    attempts = [r["delivery_id"] for r in printed if r["type"] == "delivery_attempt"]
    assert sorted(attempts) == sorted(d["delivery_id"] for d in deliveries)
    stamps = [r.get("timestamp") or r["sent_at"] for r in printed]
    assert stamps == sorted(stamps)
    assert follow.err.empty()  # nothing said lost


def test_requests_the_bound_let_go_before_a_poll_are_counted_on_one_line(
    follow: Follow, api: httpx.Client
) -> None:
    big = "x" * 4096  # each kept in full: the journal's 512 KiB hold about a hundred of these
    for index in range(REQUESTS):
        api.post("/pipeline/run", params={"n": index}, content=f'{{"pad": "{big}"}}')
    total, evicted = _total(api)
    assert total == REQUESTS and evicted > 0

    printed = follow.records(lambda got: len(got) >= REQUESTS - evicted)
    said = follow.err.get(timeout=WAIT)
    assert said.startswith(f"aiprod-sandbox logs: {evicted} requests not shown: ")
    assert "journal's bound" in said
    made = [r["query"] for r in printed]
    assert made == [
        f"n={index}" for index in range(evicted, REQUESTS)
    ]  # the newest, in order; the rest counted


def test_a_redelivery_of_an_old_delivery_appears(
    follow: Follow, api: httpx.Client, receivers: Receivers
) -> None:
    """Far down the log (past any page of the newest), a delivery sent again by hand is
    still a new attempt to print: it comes by the sandbox's count of attempts."""
    hook = receivers.plain()
    hooked = {"url": hook.url, "events": ["job.completed"]}
    api.post("/webhooks/register", json=hooked).raise_for_status()
    for _ in range(EVENTS):
        api.post("/_sandbox/events", json={"event": "job.completed"}).raise_for_status()
    assert hook.receiver.wait_until(lambda got: len(got) >= EVENTS, WAIT)
    printed = follow.records(lambda got: len(got) >= EVENTS + 1)  # and the registration
    first = [r for r in printed if r["type"] == "delivery_attempt"]
    assert [r["trigger"] for r in first] == ["scheduled"] * EVENTS
    oldest = first[0]["delivery_id"]
    again = api.post(f"/_sandbox/deliveries/{oldest}/redeliver")
    assert again.status_code == 200, again.text
    (redelivered,) = follow.records(lambda got: len(got) >= 1)
    assert (redelivered["delivery_id"], redelivered["trigger"]) == (oldest, "manual")
    assert redelivered["attempt"] == 2


# ---- the bookkeeping alone, with a fake sandbox ------------------------------------------------
class FakeSandbox:
    """Answers the two listings as the sandbox would, from lists the test fills."""

    def __init__(self) -> None:
        self.requests: list[str] = []  # request ids, oldest first
        self.evicted = 0
        self.deliveries: dict[str, int] = {}  # id -> the count when its last attempt came back
        self.recorded = 0  # attempts recorded, ever

    def add_requests(self, count: int, keep: int = 1000) -> None:
        start = len(self.requests) + self.evicted
        self.requests += [f"req_{start + n}" for n in range(count)]
        while len(self.requests) > keep:
            self.requests.pop(0)
            self.evicted += 1

    def json(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        limit = params["limit"]
        if path == "/_sandbox/requests":
            items = [
                {"request_id": rid, "timestamp": "2026-01-01T00:00:00Z", "status": 200}
                for rid in reversed(self.requests)
            ][:limit]
            bound = {"entries": 1000, "bytes": 524288}
            kept = len(self.requests)
            return {"items": items, "kept": kept, "evicted": self.evicted, "bound": bound}
        after = params["attempted_after"]
        items = [
            {"delivery_id": did, "status": "delivered", "created_at": "2026-01-01T00:00:00Z"}
            for did, recorded in reversed(self.deliveries.items())
            if recorded > after
        ]
        return {"items": items[:limit], "attempts_recorded": self.recorded}

    def attempt(self, *delivery_ids: str) -> None:
        """An attempt of each comes back (a new delivery, a retry or a redelivery)."""
        for delivery_id in delivery_ids:
            self.recorded += 1
            self.deliveries.pop(delivery_id, None)
            self.deliveries[delivery_id] = self.recorded  # the log's order: last touched last


def test_a_poll_reads_as_many_as_came_counts_the_evicted_and_survives_a_reset() -> None:
    from aiprod_sandbox.commands.logs import Journal

    sandbox = FakeSandbox()
    sandbox.add_requests(5)
    journal = Journal(sandbox, {})  # type: ignore[arg-type]
    assert len(journal.poll()) == 5 and journal.lost == 0
    sandbox.add_requests(700)
    assert [e["request_id"] for e in journal.poll()] == [f"req_{n}" for n in range(5, 705)]
    sandbox.add_requests(400, keep=300)  # the bound lets 405 go: 100 of them never read
    read = journal.poll()
    assert (len(read), journal.lost) == (300, 100)
    assert read[0]["request_id"] == "req_805"
    sandbox.requests, sandbox.evicted = [], 0  # POST /_sandbox/reset
    sandbox.add_requests(3)
    assert [e["request_id"] for e in journal.poll()] == ["req_0", "req_1", "req_2"]
    assert journal.lost == 0


def test_a_poll_gets_what_was_attempted_since_the_last_and_says_an_overflow() -> None:
    from aiprod_sandbox.commands.logs import PAGE, DeliveryLog

    sandbox = FakeSandbox()
    sandbox.attempt(*[f"dlv_{n}" for n in range(3)])
    log = DeliveryLog(sandbox)  # type: ignore[arg-type]
    assert len(log.poll()) == 3 and not log.overflowed
    assert log.poll() == []  # nothing attempted since
    sandbox.attempt(*[f"dlv_{n}" for n in range(3, 3 + PAGE // 2)], "dlv_0")  # a redelivery
    polled = [d["delivery_id"] for d in log.poll()]
    assert len(polled) == PAGE // 2 + 1 and "dlv_0" in polled and not log.overflowed
    sandbox.attempt(*[f"new_{n}" for n in range(PAGE + 1)])
    log.poll()
    assert log.overflowed
    sandbox.deliveries, sandbox.recorded = {}, 0  # an import set the count back
    sandbox.attempt("after_import")
    assert [d["delivery_id"] for d in log.poll()] == ["after_import"]
