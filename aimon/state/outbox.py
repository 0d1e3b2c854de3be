"""The outbox of the delivering stages (tables of ``003_outbox.sql``): ``deliveries`` and ``discord_messages``.

``deliveries`` holds one row per (detection, channel) that says whether it was delivered and when to try again;
``discord_messages`` the alerts posted to Discord that are kept up to date by editing them. Only the delivering stages
write these tables (through :mod:`aimon.stages.delivery` and the notify stage); the policy (leases, back-off, what to
skip) lives there, the statements here. The reads a delivery needs of the detection it is about (its fingerprint, the
latest request seen with it) are here too. Writers run inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aimon.state.db import iso


@dataclass(frozen=True)
class Delivery:
    """One ``deliveries`` row."""

    id: int
    detection_id: int
    fingerprint: str
    channel: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    remote_id: str | None
    remote_url: str | None
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Delivery:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


# -- enqueue -----------------------------------------------------------------------------------------------------------


def enqueue_discord(conn: sqlite3.Connection, at: datetime) -> int:
    """Add a pending ``discord`` row for every detection that has none; returns how many."""
    stamp = iso(at)
    cursor = conn.execute(
        """INSERT OR IGNORE INTO deliveries (detection_id, fingerprint, channel, status, created_at, updated_at)
           SELECT d.id, d.fingerprint, 'discord', 'pending', ?, ? FROM detections d
           WHERE NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.detection_id = d.id AND x.channel = 'discord')
           ORDER BY d.id""",
        (stamp, stamp),
    )
    return cursor.rowcount


def unqueued_for_github(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The detections (``id``, ``fingerprint``) without a GitHub row yet, oldest first."""
    return conn.execute(
        """SELECT d.id, d.fingerprint FROM detections d
           WHERE NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.detection_id = d.id
                             AND x.channel IN ('github-issue', 'github-comment'))
           ORDER BY d.id"""
    ).fetchall()


def issue_known_or_asked(conn: sqlite3.Connection, fingerprint: str) -> bool:
    """Whether ``fingerprint`` has an issue already, or a pending row that asks for one."""
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM issues WHERE fingerprint = ?)
               OR EXISTS (SELECT 1 FROM deliveries WHERE fingerprint = ? AND channel = 'github-issue'
                          AND status = 'pending')""",
        (fingerprint, fingerprint),
    ).fetchone()
    return bool(row[0])


def add_pending(conn: sqlite3.Connection, detection_id: int, fingerprint: str, channel: str, at: datetime) -> None:
    """A pending row of ``channel`` for one detection (none when it has one already)."""
    stamp = iso(at)
    conn.execute(
        """INSERT OR IGNORE INTO deliveries (detection_id, fingerprint, channel, status, created_at, updated_at)
           VALUES (?, ?, ?, 'pending', ?, ?)""",
        (detection_id, fingerprint, channel, stamp, stamp),
    )


def newest_unqueued(conn: sqlite3.Connection, channels: Sequence[str], limit: int) -> list[sqlite3.Row]:
    """The latest ``limit`` detections (``id``, ``fingerprint``) without a row of ``channels``, newest first."""
    marks = ",".join("?" for _ in channels)
    return conn.execute(
        f"""SELECT id, fingerprint FROM detections d WHERE NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.detection_id = d.id
            AND x.channel IN ({marks})) ORDER BY id DESC LIMIT ?""",
        (*channels, limit),
    ).fetchall()


# -- select and claim --------------------------------------------------------------------------------------------------


def due(conn: sqlite3.Connection, channels: Sequence[str], at: datetime) -> list[Delivery]:
    """Pending rows of ``channels`` whose next attempt is due at ``at``, oldest first."""
    marks = ",".join("?" for _ in channels)
    rows = conn.execute(
        f"""SELECT * FROM deliveries WHERE channel IN ({marks}) AND status = 'pending'
            AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id""",
        (*channels, iso(at)),
    ).fetchall()
    return [Delivery.from_row(row) for row in rows]


def pending_for_github(conn: sqlite3.Connection, fingerprint: str) -> list[sqlite3.Row]:
    """Every pending GitHub row (``id``, ``detection_id``) of ``fingerprint``, due or not, oldest first."""
    return conn.execute(
        """SELECT id, detection_id FROM deliveries WHERE fingerprint = ? AND status = 'pending'
           AND channel IN ('github-issue', 'github-comment') ORDER BY id""",
        (fingerprint,),
    ).fetchall()


def lease(conn: sqlite3.Connection, delivery_id: int, until: datetime, at: datetime) -> bool:
    """Push the next attempt of a still-due row out to ``until``; False when it is not due (taken, or done)."""
    stamp = iso(at)
    cursor = conn.execute(
        """UPDATE deliveries SET next_attempt_at = ?, lease_until = ?, updated_at = ?
           WHERE id = ? AND status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)""",
        (iso(until), iso(until), stamp, delivery_id, stamp),
    )
    return bool(cursor.rowcount)


def void_leases(conn: sqlite3.Connection, at: datetime) -> int:
    """Make the rows still held by a lease due at ``at`` (their claimer never recorded an outcome); how many.

    A row is still leased while its next attempt is the lease's end: any outcome moves the next attempt or the status.
    """
    stamp = iso(at)
    cursor = conn.execute(
        """UPDATE deliveries SET next_attempt_at = ?, lease_until = NULL, updated_at = ?
           WHERE status = 'pending' AND lease_until IS NOT NULL AND next_attempt_at = lease_until AND lease_until > ?""",
        (stamp, stamp, stamp),
    )
    return cursor.rowcount


def tried_before(conn: sqlite3.Connection, ids: Sequence[int]) -> bool:
    """Whether any of these rows was claimed or failed before."""
    marks = ",".join("?" for _ in ids)
    row = conn.execute(
        f"SELECT 1 FROM deliveries WHERE id IN ({marks}) AND (attempts > 0 OR updated_at > created_at) LIMIT 1", list(ids)
    ).fetchone()
    return row is not None


# -- outcomes ----------------------------------------------------------------------------------------------------------


def mark_sent(conn: sqlite3.Connection, ids: Iterable[int], remote_id: str | None, remote_url: str | None, at: datetime) -> None:
    """Delivered: remember where it went."""
    for delivery_id in ids:
        conn.execute(
            """UPDATE deliveries SET status = 'sent', attempts = attempts + 1, next_attempt_at = NULL, last_error = NULL,
               remote_id = ?, remote_url = ?, updated_at = ? WHERE id = ?""",
            (remote_id, remote_url, iso(at), delivery_id),
        )


def mark_skipped(conn: sqlite3.Connection, ids: Iterable[int], reason: str, at: datetime) -> None:
    """Not to be sent, for ``reason`` (kept in ``last_error``)."""
    for delivery_id in ids:
        conn.execute(
            "UPDATE deliveries SET status = 'skipped', next_attempt_at = NULL, last_error = ?, updated_at = ? WHERE id = ?",
            (reason, iso(at), delivery_id),
        )


def attempts_of(conn: sqlite3.Connection, delivery_id: int) -> int:
    """How many attempts the row has counted."""
    return int(conn.execute("SELECT attempts FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()[0])


def record_failure(conn: sqlite3.Connection, delivery_id: int, status: str, attempts: int, retry_at: datetime | None,
                   error: str, at: datetime) -> None:
    """A failed attempt: the new status and attempt count, when to retry (None: never), and the error."""
    conn.execute(
        """UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ?
           WHERE id = ?""",
        (status, attempts, iso(retry_at), error, iso(at), delivery_id),
    )


def defer(conn: sqlite3.Connection, ids: Iterable[int], until: datetime, reason: str, at: datetime) -> None:
    """Pending rows due again at ``until``, with ``reason`` kept in ``last_error``."""
    for delivery_id in ids:
        conn.execute(
            "UPDATE deliveries SET next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
            (iso(until), reason, iso(at), delivery_id),
        )


def release(conn: sqlite3.Connection, ids: Iterable[int], at: datetime) -> None:
    """Pending rows due again at ``at``."""
    for delivery_id in ids:
        conn.execute(
            "UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
            (iso(at), iso(at), delivery_id),
        )


def get(conn: sqlite3.Connection, delivery_id: int) -> Delivery:
    """One row by id."""
    return Delivery.from_row(conn.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)).fetchone())


def counts_by_channel(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """``channel``, ``status``, ``n``: how many rows are pending and failed per channel."""
    return conn.execute(
        "SELECT channel, status, COUNT(*) AS n FROM deliveries WHERE status IN ('pending', 'failed') GROUP BY channel, status"
    ).fetchall()


def latest_ids(conn: sqlite3.Connection, status: str, limit: int) -> list[int]:
    """The ids of the latest ``limit`` rows in ``status``, newest first."""
    return [row["id"] for row in conn.execute("SELECT id FROM deliveries WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit))]


def last_discord_alert(conn: sqlite3.Connection, fingerprint: str) -> sqlite3.Row | None:
    """The latest Discord alert sent about ``fingerprint`` (``updated_at``, ``remote_id``), or None."""
    row: sqlite3.Row | None = conn.execute(
        """SELECT updated_at, remote_id FROM deliveries WHERE fingerprint = ? AND channel = 'discord' AND status = 'sent'
           ORDER BY updated_at DESC LIMIT 1""",
        (fingerprint,),
    ).fetchone()
    return row


# -- what a delivery is about (reads of scan's tables) -----------------------------------------------------------------


def incident_row(conn: sqlite3.Connection, detection_id: int) -> sqlite3.Row:
    """A detection (``detection_id``, ``kind``, window, ``window_count``, ``baseline``, ``detected_at``) and its fingerprint."""
    row: sqlite3.Row = conn.execute(
        """SELECT d.id AS detection_id, d.kind, d.window_start, d.window_end, d.count AS window_count, d.baseline,
                  d.created_at AS detected_at, f.* FROM detections d JOIN fingerprints f ON f.fingerprint = d.fingerprint
           WHERE d.id = ?""",
        (detection_id,),
    ).fetchone()
    return row


def latest_request_id(conn: sqlite3.Connection, fingerprint: str) -> str | None:
    """The request id of the latest occurrence of ``fingerprint`` that has one."""
    row = conn.execute(
        "SELECT request_id FROM occurrences WHERE fingerprint = ? AND request_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        (fingerprint,),
    ).fetchone()
    return None if row is None else str(row["request_id"])


def request_occurrences(conn: sqlite3.Connection, request_id: str, limit: int) -> list[sqlite3.Row]:
    """The recorded occurrences (``ts``, ``record``) of one request, oldest first, at most ``limit``."""
    return conn.execute("SELECT ts, record FROM occurrences WHERE request_id = ? ORDER BY ts, id LIMIT ?", (request_id, limit)).fetchall()


def detection_kinds(conn: sqlite3.Connection, detection_ids: Sequence[int]) -> list[str]:
    """The ``kind`` of each of these detections."""
    marks = ",".join("?" for _ in detection_ids)
    return [row["kind"] for row in conn.execute(f"SELECT kind FROM detections WHERE id IN ({marks})", list(detection_ids))]


def fingerprint_of(conn: sqlite3.Connection, detection_id: int) -> str:
    """The fingerprint of a detection."""
    return str(conn.execute("SELECT fingerprint FROM detections WHERE id = ?", (detection_id,)).fetchone()[0])


# -- Discord messages kept up to date ----------------------------------------------------------------------------------


def remember_message(
    conn: sqlite3.Connection, message_id: str, kind: str, detection_id: int | None, fingerprint: str | None,
    diagnosis_id: int | None, issue_url: str | None, edit_state: str, at: datetime,
) -> None:
    """A message posted: what it showed (diagnosis, issue link), and whether it is still to be edited (``open``)."""
    stamp = iso(at)
    conn.execute(
        """INSERT OR REPLACE INTO discord_messages (message_id, kind, detection_id, fingerprint, diagnosis_id, issue_url,
           edit_state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (message_id, kind, detection_id, fingerprint, diagnosis_id, issue_url, edit_state, stamp, stamp),
    )


def close_messages_before(conn: sqlite3.Connection, before: datetime, at: datetime) -> None:
    """No more edits of the messages posted before ``before``."""
    conn.execute(
        "UPDATE discord_messages SET edit_state = 'closed', updated_at = ? WHERE edit_state = 'open' AND created_at < ?",
        (iso(at), iso(before)),
    )


def open_messages(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The messages still to be kept up to date, oldest first."""
    return conn.execute("SELECT * FROM discord_messages WHERE edit_state = 'open' ORDER BY created_at").fetchall()


def message_edited(conn: sqlite3.Connection, message_id: str, diagnosis_id: int | None, issue_url: str | None, at: datetime) -> None:
    """A message now shows this diagnosis and issue link."""
    conn.execute(
        "UPDATE discord_messages SET diagnosis_id = ?, issue_url = ?, edits = edits + 1, updated_at = ? WHERE message_id = ?",
        (diagnosis_id, issue_url, iso(at), message_id),
    )


def close_message(conn: sqlite3.Connection, message_id: str, at: datetime) -> None:
    """No more edits of this message."""
    conn.execute("UPDATE discord_messages SET edit_state = 'closed', updated_at = ? WHERE message_id = ?", (iso(at), message_id))
