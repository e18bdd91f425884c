"""The scheduler of due work: time order, ties in insertion order, work added while running."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from aiprod_sandbox.core.clock import Scheduler


def refs(entries: list) -> list[str]:
    return [entry.ref for entry in entries]


def test_pop_due_yields_in_time_then_insertion_order() -> None:
    scheduler = Scheduler()
    for at, ref in [(5, "a"), (1, "b"), (5, "c"), (1, "d"), (3, "e")]:
        scheduler.schedule(at, "job", ref)
    assert refs(list(scheduler.pop_due(10))) == ["b", "d", "e", "a", "c"]
    assert len(scheduler) == 0
    assert scheduler.next_at() is None


def test_pop_due_leaves_later_entries_and_includes_the_boundary() -> None:
    scheduler = Scheduler()
    for at, ref in [(1, "a"), (3, "b"), (3.0001, "c"), (9, "d")]:
        scheduler.schedule(at, "job", ref)
    assert refs(list(scheduler.pop_due(3))) == ["a", "b"]
    assert len(scheduler) == 2
    assert scheduler.next_at() == 3.0001
    assert refs(scheduler.entries()) == ["c", "d"]


def test_entries_scheduled_while_iterating_run_when_due() -> None:
    scheduler = Scheduler()
    scheduler.schedule(1, "job", "first")
    scheduler.schedule(4, "job", "last")
    seen: list[str] = []
    for due in scheduler.pop_due(5):
        seen.append(due.ref)
        if due.ref == "first":
            scheduler.schedule(2, "job", "follow-up")  # due within this run
            scheduler.schedule(6, "job", "tomorrow")  # not due yet
            scheduler.schedule(1, "job", "same-instant")  # due now, after `first`
    assert seen == ["first", "same-instant", "follow-up", "last"]
    assert refs(scheduler.entries()) == ["tomorrow"]


def test_entries_carry_kind_and_time() -> None:
    scheduler = Scheduler()
    entry = scheduler.schedule(2.5, "delivery", "dlv_1")
    assert (entry.at, entry.kind, entry.ref) == (2.5, "delivery", "dlv_1")
    assert list(scheduler.pop_due(2.5)) == [entry]


def test_nothing_due_yields_nothing() -> None:
    scheduler = Scheduler()
    scheduler.schedule(10, "job", "a")
    assert list(scheduler.pop_due(9.999)) == []
    assert len(scheduler) == 1


def test_clear_forgets_everything() -> None:
    scheduler = Scheduler()
    scheduler.schedule(1, "job", "a")
    scheduler.clear()
    assert list(scheduler.pop_due(100)) == []


_times = st.floats(min_value=0, max_value=1_000, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(_times, max_size=60), st.lists(_times, max_size=10))
def test_popping_in_steps_yields_everything_once_in_order(
    times: list[float], untils: list[float]
) -> None:
    scheduler = Scheduler()
    for index, at in enumerate(times):
        scheduler.schedule(at, "job", str(index))
    popped = []
    for until in untils:
        batch = list(scheduler.pop_due(until))
        assert all(entry.at <= until for entry in batch)
        assert all(entry.at > until for entry in scheduler.entries())
        popped.extend(batch)
    popped.extend(scheduler.pop_due(float("inf")))
    assert [(entry.at, int(entry.ref)) for entry in popped] == sorted(
        (at, index) for index, at in enumerate(times)
    )
    assert Counter(refs(popped)) == Counter(str(index) for index in range(len(times)))
    assert len(scheduler) == 0
