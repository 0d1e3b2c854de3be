"""What every stage is given: settings, the state connection, dry-run, and the tick's deadline."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from aimon.clock import Deadline
from aimon.config import Settings


def _discard(message: str) -> None:
    return None


@dataclass
class Context:
    """The arguments every stage takes.

    ``notice`` receives one-line progress and diagnostic messages meant for stderr (the CLI prints them; the core
    never prints); ``progress`` is set only on a terminal. With ``dry_run`` the connection is an in-memory copy and no stage may touch anything outside.
    """

    settings: Settings
    db: sqlite3.Connection
    dry_run: bool = False
    deadline: Deadline = field(default_factory=Deadline.unlimited)
    notice: Callable[[str], None] = _discard
    progress: Callable[[str, int, int], None] | None = None  # (label, done, total) for long reads on a terminal
