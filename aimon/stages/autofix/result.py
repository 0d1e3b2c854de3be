"""What one autofix pass reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aimon.stages.autofix.attempt import AttemptReport


@dataclass
class AutofixResult:
    """What one autofix pass did: the mode, each attempt or refusal, PRs followed up and regressions reported."""

    mode: str
    attempts: list[AttemptReport] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    pulls_checked: int = 0
    regressions: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    errors: list[str] = field(default_factory=list)
    exit_code: int = 0

    def counts(self) -> dict[str, int]:
        """How many errors ended in each outcome (opened, proposed, ineligible, deferred, refused, failed)."""
        found: dict[str, int] = {}
        for attempt in self.attempts:
            found[attempt.outcome] = found.get(attempt.outcome, 0) + 1
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "message": self.message,
            "counts": self.counts(),
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "skipped": self.skipped,
            "pulls_checked": self.pulls_checked,
            "regressions": self.regressions,
            "errors": self.errors,
        }
