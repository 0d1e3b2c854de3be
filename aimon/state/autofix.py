"""The draft pull requests autofix opened and every attempt it made (tables of ``004_autofix.sql``).

Only the autofix stage writes them. The reads of other families' tables that autofix decides with (the diagnoses
claiming auto-fixable, an error's latest occurrence, the detections after a merge) live here too; an error's GitHub
issue is read (and marked reopened) through :mod:`aimon.state.links`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from aimon.state.db import iso
from aimon.state.groups import canonical_sql, ignored_sql

# ---------------------------------------------------------------------------------------------- what to work on


def claimed_fixable(conn: sqlite3.Connection, now: datetime) -> list[sqlite3.Row]:
    """Fingerprints whose current diagnosis claims auto-fixable, most frequent first; not resolved, ignored or merged
    away. Each row: ``fingerprint, template, sample, error_code, file, line, count, diagnosis_id``."""
    return conn.execute(
        f"""
        SELECT f.fingerprint, f.template, f.sample, f.error_code, f.file, f.line, f.count, d.id AS diagnosis_id
        FROM diagnoses d JOIN fingerprints f ON f.fingerprint = d.fingerprint
        WHERE d.id = (SELECT max(id) FROM diagnoses WHERE fingerprint = d.fingerprint)
          AND json_extract(d.result, '$.auto_fixable') = 1
          AND f.state <> 'resolved' AND NOT {ignored_sql('f')} AND {canonical_sql('f')}
        ORDER BY f.count DESC, f.fingerprint
        """,
        (iso(now),),
    ).fetchall()


def latest_record(conn: sqlite3.Connection, fingerprint: str) -> str | None:
    """The parsed record (JSON) of the latest sample occurrence of ``fingerprint``, or None."""
    row = conn.execute("SELECT record FROM occurrences WHERE fingerprint = ? ORDER BY id DESC LIMIT 1", (fingerprint,)).fetchone()
    return None if row is None else row["record"]


# ---------------------------------------------------------------------------------------------------------- attempts


def last_attempt(conn: sqlite3.Connection, fingerprint: str) -> sqlite3.Row | None:
    """The latest attempt for ``fingerprint`` (``id, outcome, reason``), or None."""
    return conn.execute(
        "SELECT id, outcome, reason FROM autofix_attempts WHERE fingerprint = ? ORDER BY id DESC LIMIT 1", (fingerprint,)
    ).fetchone()


def last_work_on(conn: sqlite3.Connection, fingerprint: str, diagnosis_id: int, outcomes: Sequence[str]) -> sqlite3.Row | None:
    """The latest attempt against this diagnosis that did the work (one of ``outcomes``, or a deferral after the model
    was asked), as ``outcome, created_at``; None when there was none."""
    marks = ",".join("?" * len(outcomes))
    return conn.execute(
        f"SELECT outcome, created_at FROM autofix_attempts WHERE fingerprint = ? AND diagnosis_id = ?"
        f" AND (outcome IN ({marks}) OR (outcome = 'deferred' AND llm_used = 1)) ORDER BY id DESC LIMIT 1",
        (fingerprint, diagnosis_id, *outcomes),
    ).fetchone()


def insert_attempt(
    conn: sqlite3.Connection,
    fingerprint: str,
    outcome: str,
    reason: str,
    *,
    at: datetime,
    diagnosis_id: int | None = None,
    diff: str | None = None,
    llm_used: bool = False,
    rule: str | None = None,
) -> int:
    """Record one attempt and why it ended (``rule``: the guard rule a refusal broke); returns its id."""
    cursor = conn.execute(
        "INSERT INTO autofix_attempts (fingerprint, diagnosis_id, outcome, reason, diff, llm_used, rule, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (fingerprint, diagnosis_id, outcome, reason, diff, int(llm_used), rule, iso(at)),
    )
    return int(cursor.lastrowid or 0)


def insert_regression(conn: sqlite3.Connection, fingerprint: str, reason: str, at: datetime) -> None:
    """Record that the error came back after our merged PR, and that this was posted."""
    conn.execute(
        "INSERT INTO autofix_attempts (fingerprint, outcome, reason, commented, created_at) VALUES (?, 'regression', ?, 1, ?)",
        (fingerprint, reason, iso(at)),
    )


def reason_posted(conn: sqlite3.Connection, fingerprint: str, reason: str) -> bool:
    """Whether this reason was already posted on the issue of ``fingerprint``."""
    row = conn.execute(
        "SELECT 1 FROM autofix_attempts WHERE fingerprint = ? AND reason = ? AND commented = 1 LIMIT 1", (fingerprint, reason)
    ).fetchone()
    return row is not None


def mark_posted(conn: sqlite3.Connection, attempt_id: int) -> None:
    """The reason of this attempt is now posted on the issue."""
    conn.execute("UPDATE autofix_attempts SET commented = 1 WHERE id = ?", (attempt_id,))


# ------------------------------------------------------------------------------------------------------------- pulls


def prs_opened_since(conn: sqlite3.Connection, since: datetime) -> int:
    """Pull requests autofix opened at or after ``since``."""
    return int(conn.execute("SELECT count(*) FROM pulls WHERE created_at >= ?", (iso(since),)).fetchone()[0])


def latest_pull(conn: sqlite3.Connection, fingerprint: str) -> sqlite3.Row | None:
    """Our latest pull request for ``fingerprint`` (``number, state, created_at``), or None."""
    return conn.execute(
        "SELECT number, state, created_at FROM pulls WHERE fingerprint = ? ORDER BY id DESC LIMIT 1", (fingerprint,)
    ).fetchone()


def merged_pull(conn: sqlite3.Connection, fingerprint: str) -> sqlite3.Row | None:
    """Our latest merged pull request for ``fingerprint`` (``number, merged_at``), or None."""
    return conn.execute(
        "SELECT number, merged_at FROM pulls WHERE fingerprint = ? AND state = 'merged' ORDER BY id DESC LIMIT 1", (fingerprint,)
    ).fetchone()


def pull_branches(conn: sqlite3.Connection, fingerprint: str) -> set[str]:
    """The branches of every pull request we recorded for ``fingerprint``."""
    return {row[0] for row in conn.execute("SELECT branch FROM pulls WHERE fingerprint = ?", (fingerprint,))}


def insert_pull(
    conn: sqlite3.Connection, fingerprint: str, number: int, url: str, branch: str, title: str, issue_number: int | None, at: datetime
) -> None:
    """Record a pull request we opened (open, and checked just now)."""
    when = iso(at)
    conn.execute(
        "INSERT INTO pulls (fingerprint, number, url, branch, title, issue_number, state, created_at, checked_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
        (fingerprint, number, url, branch, title, issue_number, when, when),
    )


def pulls_to_check(conn: sqlite3.Connection, checked_before: datetime, limit: int) -> list[sqlite3.Row]:
    """Open pull requests not read back from GitHub since ``checked_before``, the longest unchecked first."""
    return conn.execute(
        "SELECT * FROM pulls WHERE state = 'open' AND coalesce(checked_at, '') < ? ORDER BY coalesce(checked_at, '')"
        " LIMIT ?",
        (iso(checked_before), limit),
    ).fetchall()


def save_pull_state(conn: sqlite3.Connection, pull_id: int, state: str, merged_at: str | None, at: datetime) -> None:
    """What GitHub said of a pull request (``open``/``merged``/``closed``), read at ``at``."""
    conn.execute("UPDATE pulls SET state = ?, merged_at = ?, checked_at = ? WHERE id = ?", (state, merged_at, iso(at), pull_id))


def regressed_pulls(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Merged pull requests whose error was detected again after the merge and not reported yet, with ``seen_at``
    (the first such detection)."""
    return conn.execute(
        """
        SELECT p.*, (SELECT min(d.created_at) FROM detections d
                     WHERE d.fingerprint = p.fingerprint AND d.created_at > p.merged_at) AS seen_at
        FROM pulls p
        WHERE p.state = 'merged' AND p.merged_at IS NOT NULL AND p.regressed_at IS NULL
          AND EXISTS (SELECT 1 FROM detections d WHERE d.fingerprint = p.fingerprint AND d.created_at > p.merged_at)
        ORDER BY p.id
        """
    ).fetchall()


def mark_regressed(conn: sqlite3.Connection, pull_id: int, at: datetime) -> None:
    """The regression of this merged pull request was reported (once)."""
    conn.execute("UPDATE pulls SET regressed_at = ? WHERE id = ?", (iso(at), pull_id))
