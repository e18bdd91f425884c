"""The bounded delivery log (`core/deliveries.py`) without HTTP: what it forgets past its bound,
in which order, and that adding stays cheap however many deliveries are pending."""

from __future__ import annotations

import time
from collections.abc import Iterator

from aiprod_sandbox.core.deliveries import PENDING_FACTOR, Delivery, DeliveryLog


def deliveries(prefix: str = "dlv") -> Iterator[Delivery]:
    number = 0
    while True:
        number += 1
        yield Delivery(f"{prefix}_{number}", "wh_1", "http://x/", "job.completed", None, b"{}", 0.0)


def ids(log: DeliveryLog) -> list[str]:
    return [d.delivery_id for d in log.all()]


def test_finished_deliveries_past_the_bound_go_first_finished_first() -> None:
    log = DeliveryLog(3)
    made = deliveries()
    a, b, c = next(made), next(made), next(made)
    for delivery in (a, b, c):
        log.add(delivery)
    log.finish(c, "delivered")
    log.finish(a, "failed")
    log.add(next(made))  # four kept, bound three: the one that finished longest ago goes
    assert ids(log) == ["dlv_1", "dlv_2", "dlv_4"]
    log.add(next(made))
    assert ids(log) == ["dlv_2", "dlv_4", "dlv_5"]
    assert (len(log), log.pending, log.abandoned) == (3, 3, 0)


def test_pending_deliveries_are_kept_up_to_the_factor_then_the_oldest_is_given_up() -> None:
    log = DeliveryLog(2)
    made = deliveries()
    kept = [next(made) for _ in range(2 * PENDING_FACTOR)]
    for delivery in kept:
        log.add(delivery)
    assert (len(log), log.pending, log.abandoned) == (2 * PENDING_FACTOR, 2 * PENDING_FACTOR, 0)
    log.add(next(made))
    assert log.abandoned == 1
    assert ids(log)[0] == "dlv_2"
    oldest = kept[0]
    assert (oldest.status, oldest.next_attempt_at) == ("failed", None)
    assert oldest.note == "given up: too many deliveries were pending at once"
    log.finish(kept[5], "delivered")  # one finishes: the next add forgets it, gives none up
    log.add(next(made))
    assert (log.abandoned, len(log)) == (1, 2 * PENDING_FACTOR)
    assert "dlv_6" not in ids(log)


def test_settling_a_delivery_the_log_forgot_only_settles_it() -> None:
    log = DeliveryLog(1)
    made = deliveries()
    first = next(made)
    log.add(first)
    log.finish(first, "delivered")
    log.add(next(made))
    assert ids(log) == ["dlv_2"]
    log.finish(first, "failed", note="late")  # e.g. a redelivery of it still on its way
    assert (first.status, first.note) == ("failed", "late")
    assert (len(log), log.pending) == (1, 1)


def test_clear_forgets_everything() -> None:
    log = DeliveryLog(2)
    made = deliveries()
    first = next(made)
    log.add(first)
    log.finish(first, "delivered")
    log.clear()
    assert (len(log), log.pending, log.added) == (0, 0, 0)
    log.add(next(made))
    assert (len(log), log.pending) == (1, 1)


def seconds_per_add(limit: int, adds: int = 2000) -> float:
    """Per add, the best of five runs: a log at its bound holding `limit` pending deliveries
    (all older than the rest, the worst case for a scan), each new one finishing at once."""
    best = float("inf")
    for run in range(5):
        log = DeliveryLog(limit)
        made = deliveries(f"r{run}")
        for _ in range(limit):
            log.add(next(made))
        fresh = [next(made) for _ in range(adds)]
        started = time.perf_counter()
        for delivery in fresh:
            log.add(delivery)
            log.finish(delivery, "delivered")
        best = min(best, (time.perf_counter() - started) / adds)
        assert (len(log), log.pending) == (limit + 1, limit)  # the last finished one is kept
    return best


def test_an_add_costs_the_same_with_ten_times_as_many_pending() -> None:
    """10,000 pending against 1,000: a scan of the log per add (what adding used to do, ~0.5 ms
    at 10,000) makes this ratio about 10; constant-time adds make it about 1."""
    small, large = seconds_per_add(1_000), seconds_per_add(10_000)
    assert large / small < 3, (small, large)
