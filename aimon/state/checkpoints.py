"""Where each log source stands: the ``checkpoints`` table, one row per file path or Loki query.

A file source keeps the identity of the file last read (inode, device, first-line hash) and the byte offset past the
last complete line; a Loki source keeps a nanosecond timestamp and the hashes of the lines already read at it. Both
are written inside the transaction that records what the read produced, so a kill never separates the two.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from aimon.state.db import iso, parse_iso, utcnow


@dataclass(frozen=True)
class Checkpoint:
    """Where a file source stands (one row of ``checkpoints``)."""

    source: str
    inode: int | None = None
    device: int | None = None
    head_hash: str | None = None
    offset: int = 0
    size: int | None = None
    last_ts: str | None = None
    updated_at: str | None = None  # when it was written (wall clock)
    # When the last scan that read its whole plan began (wall clock): rotated files last written before then were seen.
    rotations_seen_at: str | None = None

    def written_at(self) -> float | None:
        """When the row was written, in epoch seconds (None when never)."""
        moment = parse_iso(self.updated_at)
        return None if moment is None else moment.timestamp()

    def rotations_seen_before(self) -> float | None:
        """Epoch seconds before which every rotated file of this source was seen by a scan that read its whole plan
        (a row from before that was kept: when it was written)."""
        moment = parse_iso(self.rotations_seen_at)
        return self.written_at() if moment is None else moment.timestamp()


@dataclass(frozen=True)
class LokiPosition:
    """Where a Loki source stands: the last timestamp read (ns) and the JSON list of line hashes read at it."""

    ns: int | None
    seen: str | None


def load_checkpoint(conn: sqlite3.Connection, source: str) -> Checkpoint | None:
    """The checkpoint row of a file source, if it was read before."""
    row = conn.execute(
        "SELECT source, inode, device, head_hash, offset, size, last_ts, updated_at, rotations_seen_at FROM checkpoints"
        " WHERE source = ?",
        (source,),
    ).fetchone()
    return None if row is None else Checkpoint(*row)


def save_checkpoint(conn: sqlite3.Connection, checkpoint: Checkpoint) -> None:
    """Write a file source's checkpoint (a ``last_ts`` or ``rotations_seen_at`` of None keeps the stored one)."""
    conn.execute(
        """INSERT INTO checkpoints (source, inode, device, head_hash, offset, size, last_ts, updated_at, rotations_seen_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(source) DO UPDATE SET inode = excluded.inode, device = excluded.device,
             head_hash = excluded.head_hash, offset = excluded.offset, size = excluded.size,
             last_ts = COALESCE(excluded.last_ts, checkpoints.last_ts), updated_at = excluded.updated_at,
             rotations_seen_at = COALESCE(excluded.rotations_seen_at, checkpoints.rotations_seen_at)""",
        (
            checkpoint.source,
            checkpoint.inode,
            checkpoint.device,
            checkpoint.head_hash,
            checkpoint.offset,
            checkpoint.size,
            checkpoint.last_ts,
            iso(utcnow()),
            checkpoint.rotations_seen_at,
        ),
    )


def load_loki_position(conn: sqlite3.Connection, source: str) -> LokiPosition | None:
    """The stored position of the Loki source ``source`` (``loki:<query>``), if it was read before."""
    row = conn.execute("SELECT loki_ns, loki_seen FROM checkpoints WHERE source = ?", (source,)).fetchone()
    return None if row is None else LokiPosition(row["loki_ns"], row["loki_seen"])


def save_loki_position(conn: sqlite3.Connection, source: str, ns: int, seen: str) -> None:
    """Write a Loki source's position: ``ns`` read up to, ``seen`` the JSON list of line hashes read at ``ns``."""
    conn.execute(
        """INSERT INTO checkpoints (source, offset, last_ts, loki_ns, loki_seen, updated_at) VALUES (?, 0, ?, ?, ?, ?)
           ON CONFLICT(source) DO UPDATE SET last_ts = excluded.last_ts, loki_ns = excluded.loki_ns,
             loki_seen = excluded.loki_seen, updated_at = excluded.updated_at""",
        (source, iso(ns / 1e9), ns, seen, iso(utcnow())),
    )


@dataclass(frozen=True)
class SourceHealth:
    """Whether a source could be read on the last scan (a row of ``source_health``)."""

    source: str
    up: bool
    problem: str | None
    since: str
    last_growth_at: str | None
    checked_at: str  # when this row last changed (a flip, another problem, new bytes): an idle tick writes nothing


def record_health(conn: sqlite3.Connection, source: str, problem: str | None, *, grew: bool, at: datetime) -> SourceHealth:
    """Record what this scan saw of ``source`` (``problem`` None: read fine); ``since`` moves only when it flips."""
    before = health_of(conn, source)
    up = problem is None
    stamp = iso(at) or ""
    since = before.since if before is not None and before.up == up else stamp
    grown = stamp if grew else (before.last_growth_at if before is not None else None)
    conn.execute(
        """INSERT INTO source_health (source, up, problem, since, last_growth_at, checked_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(source) DO UPDATE SET up = excluded.up, problem = excluded.problem, since = excluded.since,
           last_growth_at = excluded.last_growth_at, checked_at = excluded.checked_at""",
        (source, int(up), problem, since, grown, stamp),
    )
    return SourceHealth(source, up, problem, since, grown, stamp)


def forget_health(conn: sqlite3.Connection, source: str) -> None:
    """Drop what was recorded of ``source`` (a glob that matches files again: its files are the sources now)."""
    conn.execute("DELETE FROM source_health WHERE source = ?", (source,))


def health_of(conn: sqlite3.Connection, source: str) -> SourceHealth | None:
    """The recorded health of one source, or None before its first scan."""
    row = conn.execute("SELECT * FROM source_health WHERE source = ?", (source,)).fetchone()
    return None if row is None else _health(row)


def all_health(conn: sqlite3.Connection) -> list[SourceHealth]:
    """Every source's recorded health, failing ones first."""
    return [_health(row) for row in conn.execute("SELECT * FROM source_health ORDER BY up, source")]


def _health(row: sqlite3.Row) -> SourceHealth:
    return SourceHealth(row["source"], bool(row["up"]), row["problem"], row["since"], row["last_growth_at"], row["checked_at"])
