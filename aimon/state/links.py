"""Which GitHub issue belongs to which error group: the ``issues`` and ``issue_polls`` tables of ``003_outbox.sql``.

One issue per fingerprint, as aimon last saw it (number, URL, state, labels, when it last commented), and when each was
last read back from GitHub. The open-issue stage writes them; autofix reads them and notes a reopened issue.
Writers run inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aimon.state.db import iso


def issue_for(conn: sqlite3.Connection, fingerprint: str) -> dict[str, Any] | None:
    """The GitHub issue aimon knows for ``fingerprint`` (every column, ``labels`` as a list), or ``None``."""
    row = conn.execute("SELECT * FROM issues WHERE fingerprint = ?", (fingerprint,)).fetchone()
    if row is None:
        return None
    found = {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row iterates values
    found["labels"] = json.loads(row["labels"] or "[]")
    return found


def save_issue(
    conn: sqlite3.Connection, fingerprint: str, number: int, url: str, state: str, labels: Sequence[str],
    *, last_comment: datetime | None, at: datetime,
) -> None:
    """The issue of ``fingerprint`` as just seen or written on GitHub (added, or replacing what was known)."""
    stamp = iso(at)
    conn.execute(
        """INSERT INTO issues (fingerprint, number, url, state, labels, last_comment_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(fingerprint) DO UPDATE SET number = excluded.number,
           url = excluded.url, state = excluded.state, labels = excluded.labels,
           last_comment_at = excluded.last_comment_at, updated_at = excluded.updated_at""",
        (fingerprint, number, url, state, json.dumps(list(labels)), iso(last_comment), stamp, stamp),
    )


def update_issue(conn: sqlite3.Connection, fingerprint: str, state: str, labels: Sequence[str], at: datetime) -> None:
    """The state and labels of a known issue, as read back from GitHub."""
    conn.execute(
        "UPDATE issues SET state = ?, labels = ?, updated_at = ? WHERE fingerprint = ?",
        (state, json.dumps(list(labels)), iso(at), fingerprint),
    )


def forget_issue(conn: sqlite3.Connection, fingerprint: str) -> None:
    """The issue of ``fingerprint`` no longer exists (deleted or moved): forget it and its read-back time."""
    conn.execute("DELETE FROM issues WHERE fingerprint = ?", (fingerprint,))
    conn.execute("DELETE FROM issue_polls WHERE fingerprint = ?", (fingerprint,))


def mark_checked(conn: sqlite3.Connection, fingerprint: str, at: datetime) -> None:
    """The issue of ``fingerprint`` was just seen on GitHub: the read-back can leave it for a while."""
    conn.execute(
        "INSERT INTO issue_polls (fingerprint, checked_at) VALUES (?, ?) ON CONFLICT(fingerprint) DO UPDATE SET checked_at = excluded.checked_at",
        (fingerprint, iso(at)),
    )


def unchecked_open_issues(conn: sqlite3.Connection, checked_before: datetime, limit: int) -> list[sqlite3.Row]:
    """Open issues (``fingerprint``, ``number``, ``url``) not checked since ``checked_before``, never checked first,
    then the least recently checked; at most ``limit``."""
    return conn.execute(
        """SELECT i.fingerprint, i.number, i.url FROM issues i LEFT JOIN issue_polls p USING (fingerprint)
           WHERE i.state = 'open' AND (p.checked_at IS NULL OR p.checked_at <= ?)
           ORDER BY p.checked_at IS NOT NULL, p.checked_at LIMIT ?""",
        (iso(checked_before), limit),
    ).fetchall()
