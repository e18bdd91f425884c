"""The per-account clock: real, manual and scaled modes on an injected wall, never backwards."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiprod_sandbox.core.clock import LATEST, Clock, ClockMode, iso, parse_iso
from aiprod_sandbox.errors import Conflict, ValidationFailed
from tests.core.fakes import START, FakeWall

MODES: tuple[ClockMode, ...] = ("real", "manual", "scaled")


# ---- modes ------------------------------------------------------------------------------------
def test_real_clock_follows_the_wall(wall: FakeWall) -> None:
    clock = Clock(wall)
    assert clock.mode == "real"
    assert clock.now() == START
    wall.step(12.5)
    assert clock.now() == START + 12.5
    wall.step(3600)
    assert clock.now() == START + 3612.5


def test_real_clock_with_a_start_time_runs_at_wall_speed_from_there(wall: FakeWall) -> None:
    clock = Clock(wall, start=1_000.0)
    assert clock.now() == 1_000.0
    wall.step(7)
    assert clock.now() == 1_007.0


def test_manual_clock_is_frozen_until_advanced(wall: FakeWall) -> None:
    clock = Clock(wall, mode="manual", start=5_000.0)
    wall.step(3600)
    assert clock.now() == 5_000.0
    assert clock.advance(90) == 5_090.0
    assert clock.now() == 5_090.0
    wall.step(3600)
    assert clock.now() == 5_090.0


def test_scaled_clock_runs_sixty_times_the_wall(wall: FakeWall) -> None:
    clock = Clock(wall, mode="scaled", scale=60, start=0.0)
    assert clock.describe()["mode"] == "scaled"
    assert clock.scale == 60
    wall.step(2)
    assert clock.now() == 120.0
    wall.step(0.5)
    assert clock.now() == 150.0


def test_a_scale_on_a_real_clock_makes_it_scaled(wall: FakeWall) -> None:
    clock = Clock(wall, start=0.0)
    clock.set(scale=60)
    assert clock.mode == "scaled"
    wall.step(1)
    assert clock.now() == 60.0


def test_back_to_real_resets_the_scale(wall: FakeWall) -> None:
    clock = Clock(wall, mode="scaled", scale=60, start=0.0)
    clock.set(mode="real")
    assert clock.scale == 1.0
    wall.step(10)
    assert clock.now() == 10.0


def test_advance_works_in_every_mode_and_the_clock_keeps_its_pace(wall: FakeWall) -> None:
    real = Clock(wall, start=0.0)
    scaled = Clock(wall, mode="scaled", scale=60, start=0.0)
    assert real.advance(100) == 100.0
    assert scaled.advance(100) == 100.0
    wall.step(1)
    assert real.now() == 101.0
    assert scaled.now() == 160.0


@pytest.mark.parametrize("before", MODES)
@pytest.mark.parametrize("after", MODES)
def test_changing_mode_re_anchors_without_a_jump(
    wall: FakeWall, before: ClockMode, after: ClockMode
) -> None:
    clock = Clock(wall, mode=before, scale=60 if before == "scaled" else 1.0, start=0.0)
    wall.step(10)
    shown = clock.now()
    clock.set(mode=after, scale=60 if after == "scaled" else None)
    assert clock.now() == shown
    assert clock.mode == after
    wall.step(1)
    expected_rate = {"real": 1.0, "manual": 0.0, "scaled": 60.0}[after]
    assert clock.now() == shown + expected_rate


def test_set_now_jumps_forward(wall: FakeWall) -> None:
    clock = Clock(wall, mode="manual", start=0.0)
    clock.set(now=500.0)
    assert clock.now() == 500.0
    clock.set(now=500.0)  # the same instant is not "earlier"
    assert clock.now() == 500.0


def test_set_now_to_an_earlier_time_is_refused_and_changes_nothing(wall: FakeWall) -> None:
    clock = Clock(wall, start=1_000.0)
    wall.step(5)
    with pytest.raises(Conflict) as caught:  # 409: time only moves forward
        clock.set(now=1_004.0, mode="manual")
    assert caught.value.code == "INVALID_TRANSITION"
    assert caught.value.details is not None and "now" in caught.value.details
    assert clock.mode == "real"
    wall.step(1)
    assert clock.now() == 1_006.0


@pytest.mark.parametrize("scale", [0.0, -1.0, math.nan])
def test_a_scale_that_is_not_positive_is_refused(wall: FakeWall, scale: float) -> None:
    clock = Clock(wall, start=0.0)
    with pytest.raises(ValidationFailed) as caught:
        clock.set(scale=scale)
    assert caught.value.details is not None and "scale" in caught.value.details
    assert clock.scale == 1.0


@pytest.mark.parametrize("seconds", [-1.0, -0.001, math.nan])
def test_advancing_by_a_negative_or_nan_amount_is_refused(wall: FakeWall, seconds: float) -> None:
    clock = Clock(wall, mode="manual", start=100.0)
    with pytest.raises(ValidationFailed) as caught:
        clock.advance(seconds)
    assert caught.value.details is not None and "seconds" in caught.value.details
    assert clock.now() == 100.0


def test_advancing_by_zero_is_allowed(wall: FakeWall) -> None:
    clock = Clock(wall, mode="manual", start=100.0)
    assert clock.advance(0) == 100.0


@pytest.mark.parametrize("change", ["advance", "now", "scale"])
def test_infinite_amounts_are_refused(wall: FakeWall, change: str) -> None:
    clock = Clock(wall, start=0.0)
    with pytest.raises(ValidationFailed):
        if change == "advance":
            clock.advance(math.inf)
        elif change == "now":
            clock.set(now=math.inf)
        else:
            clock.set(scale=math.inf)


# ---- never backwards --------------------------------------------------------------------------
def test_now_never_goes_back_when_the_wall_steps_back(wall: FakeWall) -> None:
    clock = Clock(wall, start=0.0)
    wall.step(100)
    assert clock.now() == 100.0
    wall.step(-60)  # an NTP correction
    assert clock.now() == 100.0
    wall.step(30)
    assert clock.now() == 100.0
    wall.step(40)
    assert clock.now() == 110.0


def test_a_mode_change_after_the_wall_stepped_back_does_not_jump(wall: FakeWall) -> None:
    clock = Clock(wall, start=0.0)
    wall.step(100)
    clock.now()
    wall.step(-60)
    clock.set(mode="scaled", scale=2)
    assert clock.now() == 100.0
    wall.step(1)
    assert clock.now() == 102.0


_actions = st.one_of(
    st.tuples(st.just("wall"), st.floats(-100, 100, allow_nan=False)),
    st.tuples(st.just("advance"), st.floats(0, 1_000, allow_nan=False)),
    st.tuples(st.just("mode"), st.sampled_from(MODES)),
    st.tuples(st.just("scale"), st.floats(0.01, 1_000, allow_nan=False)),
    st.tuples(st.just("set_now"), st.floats(0, 1_000, allow_nan=False)),
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(MODES), st.lists(_actions, max_size=40))
def test_now_is_monotonic_whatever_happens(start_mode: ClockMode, actions: list) -> None:
    wall = FakeWall()
    clock = Clock(wall, mode=start_mode, scale=3.0 if start_mode == "scaled" else 1.0, start=0.0)
    last = clock.now()
    for action, value in actions:
        if action == "wall":
            wall.step(value)
        elif action == "advance":
            before = clock.now()
            assert clock.advance(value) == pytest.approx(before + value)
        elif action == "mode":
            clock.set(mode=value)
        elif action == "scale":
            clock.set(scale=value)
        else:
            clock.set(now=clock.now() + value)
        shown = clock.now()
        assert shown >= last
        last = shown


# ---- ISO 8601 ---------------------------------------------------------------------------------
def test_iso_writes_the_guide_format() -> None:
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert iso(START + 0.9) == "2026-05-28T20:26:40Z"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", iso(START))


def test_iso_agrees_with_datetime() -> None:
    stamp = datetime(2026, 2, 4, 10, 30, tzinfo=UTC)
    assert iso(stamp.timestamp()) == "2026-02-04T10:30:00Z"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=int(LATEST)))  # clocks live from 1970 to 9000
def test_parse_iso_round_trips(seconds: int) -> None:
    text = iso(seconds)
    assert parse_iso(text) == seconds
    assert iso(parse_iso(text)) == text


def test_parse_iso_honours_offsets() -> None:
    assert parse_iso("2026-02-04T12:30:00+02:00") == parse_iso("2026-02-04T10:30:00Z")


@pytest.mark.parametrize("text", ["2026-02-04T10:30:00", "yesterday", ""])
def test_parse_iso_refuses_naive_or_garbage_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)


def test_describe_shows_mode_time_and_scale(wall: FakeWall) -> None:
    clock = Clock(wall, mode="manual", start=0.0)
    assert clock.describe() == {"mode": "manual", "now": "1970-01-01T00:00:00Z", "scale": 1.0}
