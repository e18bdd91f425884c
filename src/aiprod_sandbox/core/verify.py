"""Verification: does the account's evidence hold what a test says its client did?

A verification names one thing to count — requests matching a `RequestMatcher`, deliveries
matching a `DeliveryMatcher` — and how many there must be (`exactly`, `at_least`, `at_most`,
`never`; at least one when none is given), or a `sequence` of request matchers that must have
happened in that order (not necessarily one after the other). `check` reads the evidence as
it is now and says whether it holds, what matched, and, when it does not hold, the near
misses: the entries that came closest, each with the parts of the matcher it failed.

Waiting (`within`) is the HTTP layer's (`api/verify.py`): it checks again as the evidence
grows. `at_most` and `never` say that nothing more comes, so they hold only once the wait is
over; the others (`exactly` too) end the wait as soon as they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from .clock import iso
from .deliveries import Delivery
from .journal import JournalEntry
from .matching import (
    OUTCOME_OF,
    DeliveryMatcher,
    Miss,
    RequestMatcher,
    acknowledged,
    delivery_misses,
    request_misses,
)
from .schema import StrictModel

NEAR_MISSES = 5  # listed at most, closest first
MATCHED_LISTED = 50
MAX_SEQUENCE = 20
MAX_WITHIN = 86_400.0  # seconds of the account's clock a verification may wait (a day)


def _given(name: str) -> JsonDict:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _not_given(*names: str) -> JsonDict:
    return {"properties": {name: {"type": "null"} for name in names}}


_NEVER: JsonDict = {"required": ["never"], "properties": {"never": {"const": True}}}
# The document says what `_one_thing` checks: one thing to verify; one count (or at_least
# with at_most); a sequence with no count.
_SCHEMA: JsonDict = {
    "oneOf": [
        {"allOf": [_given("requests"), _not_given("deliveries", "sequence")]},
        {"allOf": [_given("deliveries"), _not_given("requests", "sequence")]},
        {
            "allOf": [
                _given("sequence"),
                _not_given("requests", "deliveries", "exactly", "at_least", "at_most"),
                {"properties": {"never": {"const": False}}},
            ]
        },
    ],
    "not": {
        "anyOf": [
            {
                "allOf": [
                    _given("exactly"),
                    {"anyOf": [_given("at_least"), _given("at_most"), _NEVER]},
                ]
            },
            {"allOf": [_NEVER, {"anyOf": [_given("at_least"), _given("at_most")]}]},
        ]
    },
}


class Verification(StrictModel):
    """What `POST /_sandbox/verify` takes."""

    model_config = ConfigDict(json_schema_extra=_SCHEMA)

    requests: RequestMatcher | None = Field(default=None, description="Count these requests")
    deliveries: DeliveryMatcher | None = Field(
        default=None, description="Count these webhook deliveries"
    )
    sequence: list[RequestMatcher] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SEQUENCE,
        description="Requests that must have happened in this order (others may come between)",
    )
    exactly: int | None = Field(default=None, ge=0)
    at_least: int | None = Field(default=None, ge=0)
    at_most: int | None = Field(default=None, ge=0)
    never: bool = Field(default=False, description="None may match (exactly 0)")
    within: float | None = Field(
        default=None,
        gt=0,
        le=MAX_WITHIN,
        description="Wait up to this many seconds of the account's clock for it to hold "
        "(on a manual clock, move the clock forward as clock/advance does)",
    )

    @model_validator(mode="after")
    def _one_thing(self) -> Verification:
        given = [name for name in ("requests", "deliveries", "sequence") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of requests, deliveries or sequence")
        counts = [
            name for name in ("exactly", "at_least", "at_most") if getattr(self, name) is not None
        ]
        if self.never:
            counts.append("never")
        if self.sequence is not None and counts:
            raise ValueError("a sequence holds or not: it takes no count")
        if len(counts) > 1 and set(counts) != {"at_least", "at_most"}:
            raise ValueError(f"give one count, or at_least with at_most (not {counts})")
        return self

    @property
    def kind(self) -> Literal["requests", "deliveries", "sequence"]:
        if self.requests is not None:
            return "requests"
        return "deliveries" if self.deliveries is not None else "sequence"

    @property
    def settles_early(self) -> bool:
        """Whether, once it holds, more evidence cannot break it (so a wait may end)."""
        return self.sequence is not None or (not self.never and self.at_most is None)

    def expected(self) -> str:
        if self.sequence is not None:
            return f"{len(self.sequence)} requests in order"
        if self.never:
            return "never"
        if self.exactly is not None:
            return f"exactly {self.exactly}"
        parts = []
        if self.at_least is not None:
            parts.append(f"at least {self.at_least}")
        if self.at_most is not None:
            parts.append(f"at most {self.at_most}")
        return " and ".join(parts) or "at least 1"

    def holds(self, count: int) -> bool:
        if self.never:
            return count == 0
        if self.exactly is not None:
            return count == self.exactly
        low = self.at_least if self.at_least is not None else (0 if self.at_most is not None else 1)
        return count >= low and (self.at_most is None or count <= self.at_most)


@dataclass(frozen=True)
class NearMiss:
    ref: str  # a request id or a delivery id
    summary: str
    at: str
    misses: tuple[Miss, ...]
    step: int | None = None  # in a sequence: the step (from 1) it was tried for


@dataclass
class Verdict:
    ok: bool
    expected: str
    count: int
    matched: list[str] = field(default_factory=list)
    near_misses: list[NearMiss] = field(default_factory=list)
    looked_at: int = 0  # entries or deliveries read
    evicted: int = 0  # journal entries let go before this: the evidence may not be whole

    def message(self, kind: str) -> str:
        what = {"requests": "matching requests", "deliveries": "matching deliveries"}
        if kind == "sequence":
            head = f"sequence of {self.expected.split()[0]} requests: {self.count} matched in order"
        else:
            head = f"expected {self.expected} {what[kind]}, found {self.count}"
        lines = [head + ("" if self.ok else " — not verified")]
        for near in self.near_misses:
            step = f"step {near.step}: " if near.step is not None else ""
            failed = "; ".join(
                f"{m.part}: expected {m.expected!r}, was {m.actual!r}" for m in near.misses
            )
            lines.append(f"  near miss {step}{near.ref} {near.summary} at {near.at} — {failed}")
        if self.evicted:
            lines.append(f"  ({self.evicted} older journal entries were let go by its bound)")
        return "\n".join(lines)


def _request_summary(entry: JournalEntry) -> str:
    query = f"?{entry.query}" if entry.query else ""
    return f"{entry.method} {entry.path}{query} → {entry.status or 'no answer'}"


def _near_request(entry: JournalEntry, misses: list[Miss], step: int | None = None) -> NearMiss:
    return NearMiss(entry.request_id, _request_summary(entry), entry.timestamp, (*misses,), step)


def _delivery_summary(delivery: Delivery) -> str:
    return (
        f"{delivery.event} → {delivery.webhook_id or 'callback'} "
        f"({OUTCOME_OF[delivery.status]}, {len(delivery.attempts)} attempts, "
        f"{acknowledged(delivery)} acknowledged)"
    )


def _closest(candidates: list[tuple[list[Miss], NearMiss]]) -> list[NearMiss]:
    # Fewest failed parts first; of those, a part with another value beats a part missing
    # altogether; then the oldest first (the sort is stable)
    ranked = sorted(
        candidates, key=lambda pair: (len(pair[0]), sum(m.actual is None for m in pair[0]))
    )
    return [near for _, near in ranked[:NEAR_MISSES]]


def check(
    spec: Verification,
    journal: Sequence[JournalEntry],
    deliveries: Sequence[Delivery],
    evicted: int = 0,
) -> Verdict:
    """The verdict on the evidence as it is now (journal and deliveries oldest first)."""
    if spec.sequence is not None:
        return _sequence(spec.sequence, journal, evicted)
    matched: list[str] = []
    candidates: list[tuple[list[Miss], NearMiss]] = []
    if spec.requests is not None:
        for entry in journal:
            misses = request_misses(spec.requests, entry)
            if not misses:
                matched.append(entry.request_id)
            else:
                candidates.append((misses, _near_request(entry, misses)))
        looked_at = len(journal)
    else:
        assert spec.deliveries is not None
        for delivery in deliveries:
            misses = delivery_misses(spec.deliveries, delivery)
            if not misses:
                matched.append(delivery.delivery_id)
            else:
                summary = _delivery_summary(delivery)
                near = NearMiss(delivery.delivery_id, summary, iso(delivery.created_at), (*misses,))
                candidates.append((misses, near))
        looked_at = len(deliveries)
        evicted = 0
    ok = spec.holds(len(matched))
    too_few = not ok and len(matched) < max(spec.at_least or 1, spec.exactly or 0)
    return Verdict(
        ok=ok,
        expected=spec.expected(),
        count=len(matched),
        matched=matched[:MATCHED_LISTED],
        near_misses=_closest(candidates) if too_few else [],
        looked_at=looked_at,
        evicted=evicted,
    )


def _sequence(
    steps: list[RequestMatcher], journal: Sequence[JournalEntry], evicted: int
) -> Verdict:
    """The earliest entries that match the steps in order; near misses for the first step
    not found, among the entries after the last one found."""
    matched: list[str] = []
    position = 0
    entries = list(journal)
    for step in steps:
        while position < len(entries) and request_misses(step, entries[position]):
            position += 1
        if position == len(entries):
            break
        matched.append(entries[position].request_id)
        position += 1
    ok = len(matched) == len(steps)
    near: list[NearMiss] = []
    if not ok:
        step_number = len(matched) + 1
        start = 0
        if matched:
            start = next(i for i, e in enumerate(entries) if e.request_id == matched[-1]) + 1
        candidates: list[tuple[list[Miss], NearMiss]] = []
        for entry in entries[start:]:
            misses = request_misses(steps[step_number - 1], entry)
            candidates.append((misses, _near_request(entry, misses, step_number)))
        near = _closest(candidates)
    return Verdict(
        ok=ok,
        expected=f"{len(steps)} requests in order",
        count=len(matched),
        matched=matched,
        near_misses=near,
        looked_at=len(entries),
        evicted=evicted,
    )
