"""Which fingerprints a stage works on: the same two rules everywhere, in SQL and in Python.

* **Canonical only.** A learned merge (:func:`aimon.grouping.learned.learn_merges`) keeps the merged fingerprint's row as
  history and folds its counts into the canonical one; listing both would count those occurrences twice and could
  act on one error twice (two alerts, two pull requests).
* **Not ignored right now.** ``aimon ignore`` silences a fingerprint for good (``state_until`` NULL) or until
  ``state_until``; an ignore that has run out counts as active. Times are compared as the ISO text :func:`iso`
  writes, in SQL and in Python alike, so both sides agree to the microsecond.
"""

from __future__ import annotations

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
