"""Read-only figures across the tables, for what ``aimon status``, the metrics file and a tick's summary show.

Nothing here writes. A table that belongs to a stage whose migration is not applied (an older state file read by a
newer ``aimon status``) reads as empty instead of failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from aimon.state.db import iso
from aimon.state.groups import canonical_sql, ignored_sql


@dataclass(frozen=True)
class DeliveryCount:
    """How many deliveries of one channel are in one status."""

    channel: str
    status: str
    count: int


@dataclass(frozen=True)
class KeptOccurrences:
    """A fingerprint's total count and the occurrences kept of it: ``(source, record JSON)``, oldest first."""

    count: int
    kept: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class LlmUsage:
    """LLM calls and tokens over a period; ``cost_usd`` is 0 where only calls and tokens were asked for."""

    calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float = 0.0


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


# ------------------------------------------------------------------------------------------------ sources and groups


def checkpoints(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every source's checkpoint (file path or ``loki:<query>``), by source."""
    return conn.execute("SELECT * FROM checkpoints ORDER BY source").fetchall()


def fingerprint_states(conn: sqlite3.Connection) -> dict[str, int]:
    """Canonical fingerprints (merged aliases left out) by state."""
    rows = conn.execute(f"SELECT state, count(*) AS n FROM fingerprints f WHERE {canonical_sql('f')} GROUP BY state")
    return {row["state"]: row["n"] for row in rows}


def recent_fingerprints(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """The canonical fingerprints seen last, newest first."""
    return conn.execute(
        f"SELECT * FROM fingerprints f WHERE {canonical_sql('f')} ORDER BY last_seen DESC, fingerprint LIMIT ?", (limit,)
    ).fetchall()


def frequent_fingerprints(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """The canonical fingerprints seen most often, most first."""
    return conn.execute(
        f"SELECT * FROM fingerprints f WHERE {canonical_sql('f')} ORDER BY count DESC, fingerprint LIMIT ?", (limit,)
    ).fetchall()


def newest_detection_id(conn: sqlite3.Connection) -> int:
    """The id of the latest detection (0 when there is none): what a tick recorded comes after it."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM detections").fetchone()[0])


def detections_after(conn: sqlite3.Connection, first_id: int, now: datetime) -> dict[str, int]:
    """Detections with an id above ``first_id``, by kind; fingerprints ignored at ``now`` do not count."""
    rows = conn.execute(
        "SELECT d.kind, count(*) FROM detections d JOIN fingerprints f ON f.fingerprint = d.fingerprint"
        f" WHERE d.id > ? AND NOT {ignored_sql('f')} GROUP BY d.kind ORDER BY d.kind",
        (first_id, iso(now)),
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def detected_after(conn: sqlite3.Connection, first_id: int, now: datetime) -> list[sqlite3.Row]:
    """The detections with an id above ``first_id`` with their error's facts (``kind, fingerprint, count, level,
    error_code, template``), oldest first; fingerprints ignored at ``now`` left out."""
    return conn.execute(
        "SELECT d.kind, d.fingerprint, d.count, f.level, f.error_code, f.template FROM detections d"
        " JOIN fingerprints f ON f.fingerprint = d.fingerprint"
        f" WHERE d.id > ? AND NOT {ignored_sql('f')} ORDER BY d.id",
        (first_id, iso(now)),
    ).fetchall()


def kept_occurrences(conn: sqlite3.Connection, fingerprints: Iterable[str]) -> dict[str, KeptOccurrences]:
    """For each fingerprint, its total count and the occurrences kept of it (source and parsed record as JSON)."""
    found: dict[str, KeptOccurrences] = {}
    for fingerprint in fingerprints:
        row = conn.execute("SELECT count FROM fingerprints WHERE fingerprint = ?", (fingerprint,)).fetchone()
        if row is None:
            continue
        kept = conn.execute("SELECT source, record FROM occurrences WHERE fingerprint = ? ORDER BY id", (fingerprint,))
        found[fingerprint] = KeptOccurrences(int(row["count"]), [(item["source"], item["record"]) for item in kept])
    return found


def detection_totals(conn: sqlite3.Connection) -> dict[str, int]:
    """Every detection ever recorded, by kind."""
    return dict(conn.execute("SELECT kind, count(*) FROM detections GROUP BY kind").fetchall())


# ------------------------------------------------------------------------------------------------------- deliveries


def delivery_counts(conn: sqlite3.Connection) -> list[DeliveryCount]:
    """Deliveries by channel and status, by channel."""
    if not _has_table(conn, "deliveries"):
        return []
    rows = conn.execute("SELECT channel, status, count(*) AS n FROM deliveries GROUP BY channel, status ORDER BY channel")
    return [DeliveryCount(row["channel"], row["status"], row["n"]) for row in rows]


def delivery_problems(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """The latest failed deliveries and pending ones that failed before, newest first, with their last error."""
    if not _has_table(conn, "deliveries"):
        return []
    return conn.execute(
        "SELECT id, channel, status, fingerprint, attempts, next_attempt_at, last_error, updated_at FROM deliveries"
        " WHERE status = 'failed' OR (status = 'pending' AND last_error IS NOT NULL)"
        " ORDER BY updated_at DESC, id DESC LIMIT ?",
        (limit,),
    ).fetchall()


# -------------------------------------------------------------------------------------------------------------- LLM


def has_llm_calls(conn: sqlite3.Connection) -> bool:
    """Whether the state file has the ``llm_calls`` table (the diagnose migration is applied)."""
    return _has_table(conn, "llm_calls")


def llm_usage_since(conn: sqlite3.Connection, since: datetime) -> LlmUsage:
    """LLM calls and tokens since ``since``."""
    if not has_llm_calls(conn):
        return LlmUsage(0, 0, 0)
    row = conn.execute(
        "SELECT count(*) AS calls, coalesce(sum(tokens_in), 0) AS tin, coalesce(sum(tokens_out), 0) AS tout"
        " FROM llm_calls WHERE created_at >= ?",
        (iso(since),),
    ).fetchone()
    return LlmUsage(row["calls"], row["tin"], row["tout"])


def llm_usage_total(conn: sqlite3.Connection) -> LlmUsage:
    """LLM tokens and cost over the life of the state file (``calls`` is not counted: 0)."""
    if not has_llm_calls(conn):
        return LlmUsage(0, 0, 0)
    row = conn.execute(
        "SELECT coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), coalesce(sum(cost_usd), 0) FROM llm_calls"
    ).fetchone()
    return LlmUsage(0, row[0], row[1], float(row[2]))


# ---------------------------------------------------------------------------------------------------------- autofix


def pull_count(conn: sqlite3.Connection) -> int:
    """How many pull requests autofix has opened."""
    if not _has_table(conn, "pulls"):
        return 0
    return int(conn.execute("SELECT count(*) FROM pulls").fetchone()[0])


def autofix_refusals(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """The latest autofix attempts that were refused, ineligible or failed, newest first."""
    if not _has_table(conn, "autofix_attempts"):
        return []
    # The guard's rule id came with 008_autofix_rule.sql; a state file read as it is may not have it yet.
    columns = {row[1] for row in conn.execute("PRAGMA table_info(autofix_attempts)")}
    rule = "rule" if "rule" in columns else "NULL AS rule"
    return conn.execute(
        f"SELECT fingerprint, outcome, {rule}, reason, created_at FROM autofix_attempts"
        " WHERE outcome IN ('refused', 'ineligible', 'failed') ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
