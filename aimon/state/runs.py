"""The ``runs`` table: one row per ``aimon run`` tick, opened when it starts and closed with its summary.

Only the tick writes it; ``aimon status`` shows the last row and the metrics file the last successful one.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """One recorded tick; ``finished_at`` and ``exit_code`` stay None while it runs (or when it died)."""

    started_at: str
    finished_at: str | None
    exit_code: int | None
    summary: dict[str, Any] | None


def begin(conn: sqlite3.Connection, started_at: str) -> int:
    """Record that a tick started; returns the id of its row."""
    cursor = conn.execute("INSERT INTO runs (command, started_at) VALUES ('run', ?)", (started_at,))
    return int(cursor.lastrowid or 0)


def finish(conn: sqlite3.Connection, run_id: int, *, finished_at: str | None, exit_code: int, summary: dict[str, Any]) -> None:
    """Close the row of a tick with how it ended and its summary (stored as JSON)."""
    conn.execute(
        "UPDATE runs SET finished_at = ?, exit_code = ?, summary = ? WHERE id = ?",
        (finished_at, exit_code, json.dumps(summary, default=str), run_id),
    )


def prune(conn: sqlite3.Connection, newest_id: int, keep: int) -> None:
    """Delete the tick rows older than the newest ``keep`` (counted back from the row ``newest_id``)."""
    conn.execute("DELETE FROM runs WHERE command = 'run' AND id <= ?", (newest_id - keep,))


def last_run(conn: sqlite3.Connection) -> RunRecord | None:
    """The latest tick, finished or not, or None before the first one."""
    row = conn.execute("SELECT * FROM runs WHERE command = 'run' ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    summary = json.loads(row["summary"]) if row["summary"] else None
    return RunRecord(row["started_at"], row["finished_at"], row["exit_code"], summary)


def last_success_at(conn: sqlite3.Connection) -> str | None:
    """When the latest tick that ended with exit code 0 finished (ISO time), or None."""
    row = conn.execute("SELECT max(finished_at) FROM runs WHERE command = 'run' AND exit_code = 0").fetchone()
    return row[0] if row and row[0] else None
