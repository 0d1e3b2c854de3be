"""Builders shared by the sink tests (outbox, Discord, GitHub): state rows, a clock that tests move by hand.

State is written the way the scan and diagnose stages write it (same tables, same columns), so the sinks are tested
against the exact rows they read in production.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aimon.state.db import iso, open_db, transaction

T0 = datetime(2030, 1, 2, 3, 0, 0, tzinfo=UTC)
FP = "0123456789abcdef"
WEBHOOK = "https://discord.com/api/webhooks/112233445566778899/Sup3rS3cretWebhookToken"
POST_URL = WEBHOOK + "?wait=true"


class Clock:
    """The outbox's wall clock, moved by the test: ``clock.advance(minutes=5)``."""

    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def db_path() -> Path:
    return Path(os.environ["AIMON_DB"])


def connect() -> sqlite3.Connection:
    return open_db(db_path())


def seed(
    *,
    fingerprint: str = FP,
    kind: str = "new",
    message: str = "connection pool exhausted after 30s",
    template: str | None = None,
    error_code: str | None = "E_DB_POOL",
    target: str | None = "shop::db",
    level: str = "ERROR",
    count: int = 3,
    request_id: str | None = "req-7f3a",
    file: str | None = "src/db.rs",
    line: int | None = 42,
    created_at: datetime | None = None,
    state: str = "active",
    state_until: datetime | None = None,
) -> int:
    """Record one detection (and its fingerprint and an occurrence, when new); returns the detection id."""
    created = created_at or T0 - timedelta(hours=1)
    conn = connect()
    try:
        with transaction(conn):
            exists = conn.execute("SELECT count FROM fingerprints WHERE fingerprint = ?", (fingerprint,)).fetchone()
            if exists is None:
                conn.execute(
                    """INSERT INTO fingerprints (fingerprint, algo, level, error_code, target, template, sample, file, line,
                       first_seen, last_seen, count, state, state_until, created_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        fingerprint, level, error_code, target, template or message, message, file, line,
                        iso(created - timedelta(minutes=10)), iso(created), count, state, iso(state_until), iso(created),
                    ),
                )
            else:
                conn.execute(
                    "UPDATE fingerprints SET count = ?, last_seen = ?, state = ?, state_until = ? WHERE fingerprint = ?",
                    (count, iso(created), state, iso(state_until), fingerprint),
                )
            record = {"level": level, "message": message, "target": target, "request_id": request_id, "error_code": error_code}
            conn.execute(
                "INSERT INTO occurrences (fingerprint, ts, source, offset, request_id, record) VALUES (?, ?, 'app.log', 0, ?, ?)",
                (fingerprint, iso(created), request_id, json.dumps(record)),
            )
            cursor = conn.execute(
                """INSERT INTO detections (fingerprint, kind, window_start, window_end, count, baseline, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (fingerprint, kind, iso(created - timedelta(minutes=5)), iso(created), count, 0.5 if kind == "spike" else None, iso(created)),
            )
            return int(cursor.lastrowid or 0)
    finally:
        conn.close()


def diagnose(fingerprint: str = FP, created_at: datetime | None = None, **result: Any) -> int:
    """Record a diagnosis the way the diagnose stage does; returns its id."""
    full = {
        "title": "Database pool exhausted under load",
        "summary": "Requests wait for a pooled connection and time out.",
        "root_cause": "The pool has 5 connections; checkout holds one during a slow HTTP call.",
        "evidence": ["connection pool exhausted after 30s"],
        "suggested_fix": "Release the connection before calling the payment API.",
        "severity": "high",
        "category": "resource",
        "auto_fixable": False,
        "auto_fixable_reason": "needs a design change",
        "confidence": 0.8,
        "insufficient_evidence": False,
        **result,
    }
    conn = connect()
    try:
        with transaction(conn):
            cursor = conn.execute(
                """INSERT INTO diagnoses (fingerprint, source, model, result, created_at) VALUES (?, 'llm', 'gpt-4o-mini', ?, ?)""",
                (fingerprint, json.dumps(full), iso(created_at or T0 - timedelta(minutes=30))),
            )
            return int(cursor.lastrowid or 0)
    finally:
        conn.close()


def rows(sql: str, *params: Any) -> list[dict[str, Any]]:
    conn = connect()
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def deliveries(channel: str | None = None) -> list[dict[str, Any]]:
    if channel:
        return rows("SELECT * FROM deliveries WHERE channel = ? ORDER BY id", channel)
    return rows("SELECT * FROM deliveries ORDER BY id")


def bodies(calls: Any) -> Iterator[str]:
    """The raw text of every request body (for asserting what never leaves)."""
    for call in calls:
        body = call.request.body
        if body is None:
            yield ""
        else:
            yield body.decode() if isinstance(body, bytes) else str(body)
