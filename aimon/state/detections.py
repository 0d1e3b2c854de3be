"""What a scan found worth telling: the ``detections`` table (``new``, ``spike``, ``regression``).

Only the scan writes it; the later stages read a detection's id through their own tables (deliveries, diagnoses).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable


def insert_detection(
    conn: sqlite3.Connection,
    fingerprint: str,
    kind: str,
    window_start: str,
    window_end: str,
    count: int,
    baseline: float | None,
    at: str,
) -> int:
    """Record one detection of ``fingerprint`` over a window (log time); returns its id."""
    cursor = conn.execute(
        "INSERT INTO detections (fingerprint, kind, window_start, window_end, count, baseline, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (fingerprint, kind, window_start, window_end, count, baseline, at),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def spike_recorded(conn: sqlite3.Connection, fingerprint: str, window_start: str) -> bool:
    """Whether a spike of ``fingerprint`` was already recorded for the window starting at ``window_start``."""
    row = conn.execute(
        "SELECT 1 FROM detections WHERE fingerprint = ? AND kind = 'spike' AND window_start = ?", (fingerprint, window_start)
    ).fetchone()
    return row is not None


def delete_detections(conn: sqlite3.Connection, ids: Iterable[int]) -> None:
    """Take back detections not delivered anywhere yet (a newcomer that learned grouping merged is not news)."""
    conn.executemany("DELETE FROM detections WHERE id = ?", [(ident,) for ident in ids])
