"""The small key/value table ``meta``: a few named keys, each with typed accessors.

Every key aimon keeps there is spelled out here, so ``meta`` never turns into a general store that any module writes
what it likes into. Writers run inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aimon.state.db import iso

SEEN_HEADS_KEPT = 64  # first-line hashes remembered per file source
_SEEN_HEADS = "files.seen_heads:{source}"
_MALFORMED = "files.malformed:{source}"
MALFORMED_REASONS_KEPT = 5  # the most frequent reasons kept per source
_UNCONFIGURED = "unconfigured.{channel}"
_DISCORD_GONE = "discord.webhook_gone"
_GITHUB_SEARCHES = "github.search_times"
_METRIC_TOTAL = "metrics.{name}"


def _get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _set(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def _delete(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM meta WHERE key = ?", (key,))


# ------------------------------------------------------------------------------------------- files: heads already read


def seen_heads(conn: sqlite3.Connection, source: str) -> list[str]:
    """First-line hashes of the files this file source has read (newest last)."""
    raw = _get(conn, _SEEN_HEADS.format(source=source))
    return [] if raw is None else list(json.loads(raw))


def remember_heads(conn: sqlite3.Connection, source: str, heads: Sequence[str | None]) -> None:
    """Add first-line hashes to what this source has read (the newest :data:`SEEN_HEADS_KEPT` are kept)."""
    current = seen_heads(conn, source)
    fresh = [head for head in heads if head and head not in current]
    if fresh:
        _set(conn, _SEEN_HEADS.format(source=source), json.dumps((current + fresh)[-SEEN_HEADS_KEPT:], separators=(",", ":")))


# ------------------------------------------------------------------------------------- files: lines that were not read


def count_malformed(conn: sqlite3.Connection, source: str, reasons: dict[str, int], at: datetime) -> None:
    """Add the malformed lines a read of ``source`` skipped (by reason) to its running count."""
    if not reasons:
        return
    key = _MALFORMED.format(source=source)
    raw = _get(conn, key)
    known: dict[str, Any] = {"count": 0, "reasons": {}} if raw is None else json.loads(raw)
    merged = dict(known["reasons"])
    for reason, count in reasons.items():
        merged[reason] = merged.get(reason, 0) + count
    kept = dict(sorted(merged.items(), key=lambda item: (-item[1], item[0]))[:MALFORMED_REASONS_KEPT])
    _set(conn, key, json.dumps({"count": known["count"] + sum(reasons.values()), "reasons": kept, "last_at": iso(at)}))


def malformed_by_source(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Per source: malformed lines skipped so far (``count``), the most frequent ``reasons`` and when the last was."""
    rows = conn.execute("SELECT key, value FROM meta WHERE key LIKE 'files.malformed:%'").fetchall()
    return {key.split(":", 1)[1]: dict(json.loads(value)) for key, value in rows}


# ------------------------------------------------------------------------------- delivery channels: said once, gone


def unconfigured_since(conn: sqlite3.Connection, channel: str) -> str | None:
    """When "``channel`` is not configured" was last said (ISO time), or None when it has not been said."""
    return _get(conn, _UNCONFIGURED.format(channel=channel))


def set_unconfigured(conn: sqlite3.Connection, channel: str, at: datetime) -> None:
    _set(conn, _UNCONFIGURED.format(channel=channel), iso(at) or "")


def clear_unconfigured(conn: sqlite3.Connection, channel: str) -> None:
    _delete(conn, _UNCONFIGURED.format(channel=channel))


def discord_gone(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """What Discord said when the webhook was found deleted (``url_sha256``, ``detail``, ``since``), or None."""
    raw = _get(conn, _DISCORD_GONE)
    return None if raw is None else dict(json.loads(raw))


def set_discord_gone(conn: sqlite3.Connection, url_sha256: str, detail: str, since: datetime) -> None:
    _set(conn, _DISCORD_GONE, json.dumps({"url_sha256": url_sha256, "detail": detail, "since": iso(since)}))


def clear_discord_gone(conn: sqlite3.Connection) -> None:
    _delete(conn, _DISCORD_GONE)


def github_searches(conn: sqlite3.Connection) -> list[str]:
    """ISO times of the recent GitHub searches (for the search rate limit)."""
    return list(json.loads(_get(conn, _GITHUB_SEARCHES) or "[]"))


def set_github_searches(conn: sqlite3.Connection, stamps: Sequence[str]) -> None:
    _set(conn, _GITHUB_SEARCHES, json.dumps(list(stamps)))


# ---------------------------------------------------------------------------------------------- metrics: running totals


def metric_total(conn: sqlite3.Connection, name: str) -> float:
    """A running total kept for the metrics file (lines read, bytes read, …), 0 when never added to."""
    return float(_get(conn, _METRIC_TOTAL.format(name=name)) or 0)


def add_to_metric_total(conn: sqlite3.Connection, name: str, value: float) -> None:
    _set(conn, _METRIC_TOTAL.format(name=name), repr(metric_total(conn, name) + value))
