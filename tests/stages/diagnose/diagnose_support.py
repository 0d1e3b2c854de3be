"""Helpers for the diagnose tests (no tests here): realistic log files, state seeded from them, canned LLM answers.

``seed`` runs the real scan stage over a real log file (fingerprints, occurrences with byte offsets, detections), so
the diagnose stage re-reads the file around the error as it does in production.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from aimon.config import Settings, load_settings
from aimon.runtime import Context
from aimon.state.db import open_db

T0 = "2026-03-02T10:15:{:02d}.{:06d}Z"


def event(second: int, level: str, message: str, *, target: str = "shop::api", rid: str | None = None, code: str | None = None,
          file: str | None = None, line: int | None = None, micro: int = 0, span: dict[str, Any] | None = None, thread: str | None = None,
          **fields: Any) -> str:
    """One tracing-subscriber JSON line (keys in the order the serializer writes them)."""
    body: dict[str, Any] = {"message": message, **fields}
    if code:
        body["error_code"] = code
    obj: dict[str, Any] = {"timestamp": T0.format(second, micro), "level": level, "fields": body, "target": target}
    if file:
        obj["filename"] = file
        obj["line_number"] = line
    if rid:
        current = {"request_id": rid, "method": "POST", "uri": "/api/orders", **(span or {}), "name": "request"}
        obj["span"] = current
        obj["spans"] = [current]
    if thread:
        obj["threadName"] = thread
    return json.dumps(obj)


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def seed(db_path: Path, log: Path, **env: str) -> dict[str, str]:
    """Run the real ``aimon scan`` stage over ``log`` into the state file; returns {first raw message: fingerprint}."""
    settings = load_settings(environ={"AIMON_DB": str(db_path), **env})
    conn = open_db(settings.db_path)
    try:
        return seed_conn(conn, log, settings)
    finally:
        conn.close()


def seed_conn(conn: sqlite3.Connection, log: Path, settings: Settings | None = None) -> dict[str, str]:
    """``seed`` on an open connection (the settings default to a plain environment)."""
    from aimon.stages.scan.stage import run_scan

    before = {row[0] for row in conn.execute("SELECT fingerprint FROM fingerprints")}
    run_scan(Context(settings=settings or load_settings(environ={}), db=conn), paths=[str(log)], since=None)
    found: dict[str, str] = {}
    for fingerprint, record in conn.execute("SELECT fingerprint, record FROM occurrences ORDER BY id"):
        if fingerprint not in before:
            found.setdefault(json.loads(record)["message"], fingerprint)
    return {message: fp for message, fp in found.items()}


def detect(conn: sqlite3.Connection, fingerprint: str, kind: str, count: int = 3, baseline: float | None = None) -> int:
    cursor = conn.execute(
        "INSERT INTO detections (fingerprint, kind, window_start, window_end, count, baseline, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (fingerprint, kind, "2026-03-02T10:10:00.000000Z", "2026-03-02T10:15:00.000000Z", count, baseline, "2026-03-02T10:20:00.000000Z"),
    )
    return int(cursor.lastrowid or 0)


def answer(**overrides: Any) -> dict[str, Any]:
    """A valid diagnosis as a model would return it."""
    base = {
        "title": "Order insert hits the unique index on idempotency_key",
        "summary": "Creating an order fails with a unique violation when a client retries.",
        "root_cause": "The handler inserts without ON CONFLICT; retried requests reuse the idempotency key.",
        "evidence": ["[E1] duplicate key value violates unique constraint", "[src/orders.rs:14] .await?"],
        "suggested_fix": "Use INSERT ... ON CONFLICT (idempotency_key) DO NOTHING and return the existing order.",
        "severity": "medium",
        "category": "database",
        "auto_fixable": False,
        "auto_fixable_reason": "Needs a decision about what to return for a retried request.",
        "confidence": 0.82,
        "insufficient_evidence": False,
    }
    base.update(overrides)
    return base
