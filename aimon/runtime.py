"""What every stage is given: settings, the state connection, dry-run, the tick's deadline and the wall clock.

:class:`Runtime` is what the entry point wires in from outside (today: the wall clock); tests pass their own instead
of patching module globals. :class:`Context` is what one command hands to the core.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aimon.clock import Clock, Deadline, utcnow
from aimon.config import Settings


def _discard(message: str) -> None:
    return None


@dataclass(frozen=True)
class Runtime:
    """The outside world as the core sees it: ``clock`` is the wall clock that schedules deliveries and retries."""

    clock: Clock = utcnow


@dataclass
class Context:
    """The arguments every stage takes.

    ``notice`` receives one-line progress and diagnostic messages meant for stderr (the CLI prints them; the core
    never prints); ``progress`` is set only on a terminal. With ``dry_run`` the connection is an in-memory copy and no
    stage may touch anything outside.
    """

    settings: Settings
    db: sqlite3.Connection
    dry_run: bool = False
    deadline: Deadline = field(default_factory=Deadline.unlimited)
    notice: Callable[[str], None] = _discard
    progress: Callable[[str, int, int], None] | None = None  # (label, done, total) for long reads on a terminal
    runtime: Runtime = field(default_factory=Runtime)
    holds_run_lock: bool = False  # this process holds the run lock: no other aimon works on the state file now
    stage: str | None = None  # the stage running now, under `aimon run` (its notices are labelled with it)

    def now(self) -> datetime:
        """The wall-clock time (UTC) that deliveries, leases and back-offs are scheduled against."""
        return self.runtime.clock()
