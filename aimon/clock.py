"""Time: the wall clock (timezone-aware UTC) and the budgets of a cron tick, which every stage keeps by leaving slow
work for the next tick."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass
class Deadline:
    """A point in monotonic time after which a stage starts no new remote work."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.seconds - (time.monotonic() - self.started))

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    @classmethod
    def unlimited(cls) -> Deadline:
        return cls(float("inf"))
