"""The soak's webhook receiver: the package's `Receiver` ASGI app under uvicorn, in a process
of its own on loopback (so the load's clients do not slow it down), forwarding each delivery to
this process, where its signature is checked with its webhook's secret."""

from __future__ import annotations

import json
import multiprocessing
import queue
import socket
import threading
from collections import defaultdict
from multiprocessing.connection import Connection
from typing import Any

import uvicorn

from aiprod_sandbox.webhook_http.receiver import Received, Receiver
from aiprod_sandbox.webhook_http.signing import verify


class Deliveries:
    """What the receiver got, per job, with each signature checked against its webhook's secret."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # webhook_id -> whsec_
        self.by_job: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        self.bad_signatures = 0
        self.unreadable = 0
        self.total = 0
        self.lock = threading.Lock()

    def record(
        self, event: str, delivery_id: str, attempt: int, signature: str, body: bytes
    ) -> None:
        try:
            payload = json.loads(body)
            job_id = payload["data"]["job_id"]
            secret = self.secrets.get(payload.get("webhook_id") or "")
        except (ValueError, KeyError, TypeError):
            with self.lock:
                self.unreadable += 1
            return
        valid = secret is not None and verify(secret, body, signature)
        with self.lock:
            self.total += 1
            self.by_job[job_id].append((event, delivery_id, attempt))
            if not valid:
                self.bad_signatures += 1


class _ReportingUvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: Connection) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.send(self.servers[0].sockets[0].getsockname()[1] if self.started else 0)


def _receiver_process(ready: Connection, out: multiprocessing.Queue[Any]) -> None:
    """The package's `Receiver` under uvicorn, in a process of its own (so the load's clients
    do not slow it down), forwarding each delivery to the parent."""

    def forward(item: Received) -> None:
        signature = item.headers.get("x-aiprod-signature", "")
        out.put((item.event, item.delivery_id, item.attempt, signature, item.body))
        item_list = receiver.received
        if len(item_list) > 1000:  # the parent keeps the record
            del item_list[:500]

    receiver = Receiver(on_delivery=forward)
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    _ReportingUvicorn(config, ready).run()


class ReceiverProcess:
    def __init__(self, deliveries: Deliveries) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue: multiprocessing.Queue[Any] = context.Queue()
        mine, theirs = context.Pipe()
        self.process = context.Process(
            target=_receiver_process, args=(theirs, self.queue), name="soak-receiver", daemon=True
        )
        self.process.start()
        if not mine.poll(30) or not (port := mine.recv()):
            self.process.kill()
            raise SystemExit("the webhook receiver did not start")
        self.url = f"http://127.0.0.1:{port}"
        self.deliveries = deliveries
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.deliveries.record(*item)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)
        self._stop.set()
        self._thread.join(5)
        self.queue.close()
