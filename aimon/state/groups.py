"""Error groups: the ``fingerprints`` table, its aliases, the templates grouping has seen, occurrences and per-minute
counts (only this module writes them: the scan records what it read, learned grouping records merges, ``aimon
ignore``/``resolve`` set a state).

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


# --------------------------------------------------------------------------------------------- fingerprints: reading


def canonical(conn: sqlite3.Connection, fingerprint: str) -> str:
    """The fingerprint ``fingerprint`` answers for: itself, or what learned merges made it an alias of."""
    seen = {fingerprint}
    current = fingerprint
    while True:
        row = conn.execute("SELECT fingerprint FROM fingerprint_aliases WHERE alias = ?", (current,)).fetchone()
        if row is None or row[0] in seen:
            return current
        current = row[0]
        seen.add(current)


def get_fingerprint(conn: sqlite3.Connection, fingerprint: str) -> sqlite3.Row | None:
    """The whole ``fingerprints`` row of ``fingerprint``, if it is known."""
    return conn.execute("SELECT * FROM fingerprints WHERE fingerprint = ?", (fingerprint,)).fetchone()


def age_and_state(conn: sqlite3.Connection, fingerprint: str) -> sqlite3.Row | None:
    """``first_seen``, ``state``, ``state_until`` and ``resolved_at`` of ``fingerprint`` (what a spike or regression
    decision needs), if known."""
    return conn.execute(
        "SELECT first_seen, state, state_until, resolved_at FROM fingerprints WHERE fingerprint = ?", (fingerprint,)
    ).fetchone()


def template_of(conn: sqlite3.Connection, fingerprint: str) -> str | None:
    """The (learned) template of ``fingerprint``, if it is known."""
    row = conn.execute("SELECT template FROM fingerprints WHERE fingerprint = ?", (fingerprint,)).fetchone()
    return None if row is None else str(row["template"])


# --------------------------------------------------------------------------------------------- fingerprints: writing


def insert_fingerprint(
    conn: sqlite3.Connection,
    fingerprint: str,
    *,
    algo: int,
    level: str,
    error_code: str | None,
    target: str | None,
    template: str,
    sample: str,
    file: str | None,
    line: int | None,
    is_panic: bool,
    first_seen: str,
    last_seen: str,
    count: int,
    at: str,
) -> None:
    """Record a fingerprint seen for the first time (state ``active``)."""
    conn.execute(
        "INSERT INTO fingerprints (fingerprint, algo, level, error_code, target, template, sample, file, line,"
        " is_panic, first_seen, last_seen, count, state, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)",
        (fingerprint, algo, level, error_code, target, template, sample, file, line, int(is_panic), first_seen,
         last_seen, count, at),
    )


def record_seen(conn: sqlite3.Connection, fingerprint: str, count: int, first_seen: str, last_seen: str) -> None:
    """Add ``count`` occurrences between ``first_seen`` and ``last_seen`` (log time) to a known fingerprint."""
    conn.execute(
        "UPDATE fingerprints SET count = count + ?, first_seen = min(first_seen, ?), last_seen = max(last_seen, ?)"
        " WHERE fingerprint = ?",
        (count, first_seen, last_seen, fingerprint),
    )


def reopen(conn: sqlite3.Connection, fingerprint: str) -> None:
    """A resolved fingerprint that occurs again is active again."""
    conn.execute("UPDATE fingerprints SET state = 'active' WHERE fingerprint = ?", (fingerprint,))


# ------------------------------------------------------------------------------------------------------ occurrences


@dataclass(frozen=True)
class NewOccurrence:
    """One occurrence to keep: where it was read, and the parsed record as JSON."""

    ts: str | None
    source: str
    offset: int | None
    request_id: str | None
    record: str


def keep_occurrences(
    conn: sqlite3.Connection, fingerprint: str, occurrences: Sequence[NewOccurrence], first: int, latest: int
) -> None:
    """Add occurrences of ``fingerprint``, then keep only its ``first`` oldest and ``latest`` newest."""
    conn.executemany(
        "INSERT INTO occurrences (fingerprint, ts, source, offset, request_id, record) VALUES (?, ?, ?, ?, ?, ?)",
        [(fingerprint, o.ts, o.source, o.offset, o.request_id, o.record) for o in occurrences],
    )
    # The first few and the latest few, whatever batch they came in.
    conn.execute(
        "DELETE FROM occurrences WHERE fingerprint = ?1"
        " AND id NOT IN (SELECT id FROM occurrences WHERE fingerprint = ?1 ORDER BY id LIMIT ?2)"
        " AND id NOT IN (SELECT id FROM occurrences WHERE fingerprint = ?1 ORDER BY id DESC LIMIT ?3)",
        (fingerprint, first, latest),
    )


# ---------------------------------------------------------------------------------------------- counts per minute


def add_counts(conn: sqlite3.Connection, counts: Iterable[tuple[str, int, int]]) -> None:
    """Add ``(fingerprint, minute, n)`` occurrences per minute of log time."""
    conn.executemany(
        "INSERT INTO counts (fingerprint, minute, n) VALUES (?, ?, ?)"
        " ON CONFLICT (fingerprint, minute) DO UPDATE SET n = n + excluded.n",
        list(counts),
    )


def counts_between(conn: sqlite3.Connection, fingerprint: str, start: int, end: int) -> list[sqlite3.Row]:
    """``(minute, n)`` rows of ``fingerprint`` for the minutes in ``[start, end)``, in minute order."""
    return conn.execute(
        "SELECT minute, n FROM counts WHERE fingerprint = ? AND minute >= ? AND minute < ? ORDER BY minute",
        (fingerprint, start, end),
    ).fetchall()


def prune_counts(conn: sqlite3.Connection, keep_minutes: int) -> None:
    """Drop the counts more than ``keep_minutes`` before the newest minute counted (log time)."""
    newest = conn.execute("SELECT max(minute) FROM counts").fetchone()[0]
    if newest is not None:
        conn.execute("DELETE FROM counts WHERE minute < ?", (newest - keep_minutes,))


# ------------------------------------------------------------------------------------------------- learned merges


def alias_targets(conn: sqlite3.Connection) -> dict[str, str]:
    """Every recorded alias and the fingerprint it points at (one hop; chains are the caller's to follow)."""
    return {row[0]: row[1] for row in conn.execute("SELECT alias, fingerprint FROM fingerprint_aliases")}


def merged_into(conn: sqlite3.Connection, algo: int) -> list[sqlite3.Row]:
    """The fingerprints of version ``algo`` that absorbed others (their templates and contexts), oldest first."""
    return conn.execute(
        "SELECT fingerprint, template, error_code, target, is_panic, file, line FROM fingerprints "
        "WHERE algo = ? AND fingerprint IN (SELECT fingerprint FROM fingerprint_aliases) ORDER BY created_at, fingerprint",
        (algo,),
    ).fetchall()


def canonical_rows(conn: sqlite3.Connection, algo: int) -> list[sqlite3.Row]:
    """The canonical fingerprints of version ``algo``: what learned grouping may merge."""
    return conn.execute(
        "SELECT fingerprint, template, error_code, target, is_panic, file, line, count, first_seen, last_seen, "
        "created_at FROM fingerprints WHERE algo = ? AND fingerprint NOT IN (SELECT alias FROM fingerprint_aliases)",
        (algo,),
    ).fetchall()


def remember_templates(conn: sqlite3.Connection, algo: int, seen: Iterable[tuple[str, str, str]], at: str) -> None:
    """Record ``(context, template, fingerprint)`` triples grouping has seen (a template already known keeps its row)."""
    conn.executemany(
        "INSERT OR IGNORE INTO grouping_templates (algo, context, template, fingerprint, created_at) VALUES (?, ?, ?, ?, ?)",
        [(algo, context, template, fingerprint, at) for context, template, fingerprint in seen],
    )


def templates_seen(conn: sqlite3.Connection, algo: int) -> list[sqlite3.Row]:
    """Every ``(context, template, fingerprint, created_at)`` of version ``algo`` grouping has seen, newest first."""
    return conn.execute(
        "SELECT context, template, fingerprint, created_at FROM grouping_templates WHERE algo = ? "
        "ORDER BY created_at DESC, context, template",
        (algo,),
    ).fetchall()


def make_alias(conn: sqlite3.Connection, alias: str, fingerprint: str, at: str | None) -> None:
    """Make ``alias`` answer for ``fingerprint`` and fold its per-minute counts into it (its row stays as history)."""
    conn.execute(
        "INSERT INTO fingerprint_aliases (alias, fingerprint, created_at) VALUES (?, ?, ?)", (alias, fingerprint, at)
    )
    # Whatever pointed at the alias now points at the canonical fingerprint directly.
    conn.execute("UPDATE fingerprint_aliases SET fingerprint = ? WHERE fingerprint = ?", (fingerprint, alias))
    conn.execute(
        "INSERT INTO counts (fingerprint, minute, n) SELECT ?, minute, n FROM counts WHERE fingerprint = ? "
        "ON CONFLICT (fingerprint, minute) DO UPDATE SET n = counts.n + excluded.n",
        (fingerprint, alias),
    )
    conn.execute("DELETE FROM counts WHERE fingerprint = ?", (alias,))


def absorb(conn: sqlite3.Connection, fingerprint: str, template: str, count: int, first_seen: str, last_seen: str) -> None:
    """Give a canonical fingerprint its learned template and the totals of the fingerprints merged into it."""
    conn.execute(
        "UPDATE fingerprints SET template = ?, count = count + ?, first_seen = min(first_seen, ?), "
        "last_seen = max(last_seen, ?) WHERE fingerprint = ?",
        (template, count, first_seen, last_seen, fingerprint),
    )


def resolve_if_active(conn: sqlite3.Connection, fingerprint: str, at: datetime) -> None:
    """An active fingerprint whose issue a person closed is resolved (an ignored one stays ignored)."""
    conn.execute(
        "UPDATE fingerprints SET state = 'resolved', resolved_at = ? WHERE fingerprint = ? AND state = 'active'",
        (iso(at), fingerprint),
    )


# ------------------------------------------------------------------------------------- symptoms and request roots

SYMPTOM_LABELS = {"failed-response": "failed responses", "later-error": "later errors in the same request"}


@dataclass(frozen=True)
class SymptomCount:
    """Symptoms of one kind folded into a root error (``kind``: failed-response | later-error)."""

    kind: str
    count: int
    first_seen: str | None
    last_seen: str | None
    sample: str | None

    @property
    def label(self) -> str:
        """How the alert and the issue show it: "+312 failed responses"."""
        return f"+{self.count} {SYMPTOM_LABELS.get(self.kind, self.kind)}"


def add_symptoms(conn: sqlite3.Connection, found: Iterable[tuple[str, SymptomCount]]) -> None:
    """Add symptom counts to their root fingerprints (``(fingerprint, SymptomCount)``; the first sample stays)."""
    conn.executemany(
        "INSERT INTO symptoms (fingerprint, kind, count, first_seen, last_seen, sample) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (fingerprint, kind) DO UPDATE SET count = count + excluded.count,"
        " first_seen = min(COALESCE(first_seen, excluded.first_seen), COALESCE(excluded.first_seen, first_seen)),"
        " last_seen = max(COALESCE(last_seen, excluded.last_seen), COALESCE(excluded.last_seen, last_seen)),"
        " sample = COALESCE(sample, excluded.sample)",
        [(fp, s.kind, s.count, s.first_seen, s.last_seen, s.sample) for fp, s in found],
    )


def symptoms_of(conn: sqlite3.Connection, fingerprint: str) -> list[SymptomCount]:
    """The symptoms folded into ``fingerprint`` and into the fingerprints merged into it, per kind."""
    rows = conn.execute(
        "SELECT kind, SUM(count), MIN(first_seen), MAX(last_seen), MIN(sample) FROM symptoms WHERE fingerprint = ?1"
        " OR fingerprint IN (SELECT alias FROM fingerprint_aliases WHERE fingerprint = ?1) GROUP BY kind ORDER BY kind",
        (fingerprint,),
    ).fetchall()
    return [SymptomCount(row[0], int(row[1]), row[2], row[3], row[4]) for row in rows]


def remember_roots(conn: sqlite3.Connection, roots: Iterable[tuple[str, str, float | None]]) -> None:
    """Record ``(request_id, fingerprint, ts)``: the root error of each request (the first one recorded stays)."""
    conn.executemany("INSERT OR IGNORE INTO request_roots (request_id, fingerprint, ts) VALUES (?, ?, ?)", list(roots))


def recent_roots(conn: sqlite3.Connection, horizon: float, limit: int) -> dict[str, str]:
    """Request id → root fingerprint of the requests whose root is at most ``horizon`` seconds (log time) older than
    the newest one recorded, newest first, at most ``limit``."""
    rows = conn.execute(
        "SELECT request_id, fingerprint FROM request_roots WHERE ts >= (SELECT MAX(ts) FROM request_roots) - ?"
        " ORDER BY ts DESC LIMIT ?",
        (horizon, limit),
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def prune_roots(conn: sqlite3.Connection, horizon: float) -> None:
    """Forget request roots more than ``horizon`` seconds (log time) older than the newest one (or without a time)."""
    conn.execute("DELETE FROM request_roots WHERE ts IS NULL OR ts < (SELECT MAX(ts) FROM request_roots) - ?", (horizon,))
