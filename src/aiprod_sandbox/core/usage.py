"""What an account has used, and the audit trail of its keys — both on the account's clock."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from .clock import iso

AuditEvent = Literal["key.created", "key.revoked", "key.used", "key.denied"]


@dataclass
class Usage:
    """Requests this minute and today (clock minutes and days, UTC)."""

    minute: int = -1
    this_minute: int = 0
    day: int = -1
    today: int = 0

    def count(self, at: float) -> None:
        minute = int(at // 60)
        if minute != self.minute:  # within one minute the day is the same too
            self.minute, self.this_minute = minute, 0
            day = int(at // 86400)
            if day != self.day:
                self.day, self.today = day, 0
        self.this_minute += 1
        self.today += 1

    def figures(self, at: float) -> dict[str, int]:
        return {
            "this_minute": self.this_minute if int(at // 60) == self.minute else 0,
            "today": self.today if int(at // 86400) == self.day else 0,
        }


@dataclass(frozen=True)
class AuditRecord:
    """One key event, as `GET /audit/keys` lists it."""

    event_id: str
    event: AuditEvent
    key_id: str
    masked_key: str
    request_id: str | None
    at: float  # on the account's clock

    @property
    def timestamp(self) -> str:
        return iso(self.at)


@dataclass
class AuditLog:
    """Key events, oldest first, bounded; `key.used` once per key per clock day."""

    limit: int
    items: deque[AuditRecord] = field(init=False)
    _used_days: dict[str, int] = field(default_factory=dict)
    _seq: int = 0

    def __post_init__(self) -> None:
        self.items = deque(maxlen=self.limit)

    def record(
        self, event: AuditEvent, key_id: str, masked: str, request_id: str | None, at: float
    ) -> None:
        self._seq += 1
        self.items.append(
            AuditRecord(f"evt_{self._seq:08d}", event, key_id, masked, request_id, at)
        )

    def used(self, key_id: str, masked: str, request_id: str | None, at: float) -> None:
        day = int(at // 86400)
        if self._used_days.get(key_id) != day:
            self._used_days[key_id] = day
            self.record("key.used", key_id, masked, request_id, at)

    @property
    def seq(self) -> int:
        """Key events ever recorded: the next one is numbered after it."""
        return self._seq

    def restore(self, records: list[AuditRecord], seq: int) -> None:
        """The trail becomes `records` (oldest first), numbering on after `seq`."""
        self.clear()
        self.items.extend(records)
        self._seq = seq
        for record in self.items:
            if record.event == "key.used":
                self._used_days[record.key_id] = int(record.at // 86400)

    def clear(self) -> None:
        self.items.clear()
        self._used_days.clear()
