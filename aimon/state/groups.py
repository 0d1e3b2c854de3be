"""Error groups: the ``fingerprints`` table, its aliases, occurrences and per-minute counts.

Which fingerprints a stage works on follows the same two rules everywhere, in SQL and in Python:

* **Canonical only.** A learned merge (:func:`aimon.grouping.learned.learn_merges`) keeps the merged fingerprint's row as
  history and folds its counts into the canonical one; listing both would count those occurrences twice and could
  act on one error twice (two alerts, two pull requests).
* **Not ignored right now.** ``aimon ignore`` silences a fingerprint for good (``state_until`` NULL) or until
  ``state_until``; an ignore that has run out counts as active. Times are compared as the ISO text :func:`iso`
  writes, in SQL and in Python alike, so both sides agree to the microsecond.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from aimon.state.db import iso


def canonical_sql(table: str = "f") -> str:
    """SQL condition: the row of ``table`` (a ``fingerprints`` alias) is not an alias of another fingerprint."""
    return f"{table}.fingerprint NOT IN (SELECT alias FROM fingerprint_aliases)"


def ignored_sql(table: str = "f", now: str = "?") -> str:
    """SQL condition: the row of ``table`` is ignored at ``now`` (a placeholder bound to an :func:`iso` time)."""
    return f"({table}.state = 'ignored' AND ({table}.state_until IS NULL OR {table}.state_until > {now}))"


def is_ignored(state: str, state_until: str | None, now: datetime | str) -> bool:
    """Python twin of :func:`ignored_sql` for a row already read."""
    stamp = now if isinstance(now, str) else iso(now)
    return state == "ignored" and (state_until is None or state_until > (stamp or ""))


def find_by_prefix(conn: sqlite3.Connection, prefix: str, limit: int = 6) -> list[sqlite3.Row]:
    """The fingerprints whose id starts with ``prefix`` or, when none does, whose alias does (at most ``limit``)."""
    rows = conn.execute(
        "SELECT * FROM fingerprints WHERE substr(fingerprint, 1, ?) = ? ORDER BY fingerprint LIMIT ?",
        (len(prefix), prefix, limit),
    ).fetchall()
    if not rows:
        rows = conn.execute(
            "SELECT DISTINCT f.* FROM fingerprint_aliases a JOIN fingerprints f ON f.fingerprint = a.fingerprint"
            " WHERE substr(a.alias, 1, ?) = ? ORDER BY f.fingerprint LIMIT ?",
            (len(prefix), prefix, limit),
        ).fetchall()
    return rows


def set_state(conn: sqlite3.Connection, fingerprint: str, state: str, until: str | None, *, at: datetime) -> None:
    """Set a fingerprint's state (``active``/``resolved``/``ignored``); resolving records when."""
    conn.execute(
        "UPDATE fingerprints SET state = ?, state_until = ?, resolved_at = CASE WHEN ? = 'resolved' THEN ? ELSE resolved_at END"
        " WHERE fingerprint = ?",
        (state, until, state, iso(at), fingerprint),
    )
