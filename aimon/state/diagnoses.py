"""The diagnoses of error groups, every LLM call, and the fixes recorded for them (tables of ``002_diagnose.sql``).

The diagnose stage writes diagnoses and LLM calls; a fix is recorded by whoever learns of it (an issue closed as
fixed, a pull request merged). Every other stage only reads the current diagnosis.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aimon.state.db import iso, utcnow


@dataclass(frozen=True)
class Fix:
    """A fix recorded for a fingerprint."""

    fingerprint: str
    how: str
    url: str | None
    created_at: str


def latest_diagnosis(conn: sqlite3.Connection, fingerprint: str) -> dict[str, Any] | None:
    """The current diagnosis of ``fingerprint`` (its latest ``diagnoses`` row, ``result`` parsed), or None."""
    row = conn.execute("SELECT * FROM diagnoses WHERE fingerprint = ? ORDER BY id DESC LIMIT 1", (fingerprint,)).fetchone()
    if row is None:
        return None
    data = dict(row)
    data["result"] = json.loads(data["result"])
    return data


def record_fix(conn: sqlite3.Connection, fingerprint: str, how: str, url: str | None = None) -> None:
    """Remember that ``fingerprint`` was fixed (``how``: "issue closed as fixed", "PR merged"…; ``url`` links it).

    One INSERT: atomic on its own, and it joins the caller's transaction when there is one.
    """
    conn.execute(
        "INSERT INTO fixes (fingerprint, how, url, created_at) VALUES (?, ?, ?, ?)", (fingerprint, how, url, iso(utcnow()))
    )


def fixes_for(conn: sqlite3.Connection, fingerprint: str) -> tuple[Fix, ...]:
    """The fixes recorded for ``fingerprint``, oldest first."""
    rows = conn.execute("SELECT fingerprint, how, url, created_at FROM fixes WHERE fingerprint = ? ORDER BY id", (fingerprint,))
    return tuple(Fix(row[0], row[1], row[2], row[3]) for row in rows)


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current calendar month, UTC: the LLM budget is per calendar month."""
    moment = (now or utcnow()).astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def monthly_spend(conn: sqlite3.Connection, now: datetime | None = None) -> float:
    """What the LLM calls of this calendar month cost, in USD."""
    row = conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE created_at >= ?", (iso(month_start(now)),)).fetchone()
    return float(row[0])
