"""Wall-clock budgets: a cron tick has a deadline, and every stage leaves slow work for the next tick."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


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
