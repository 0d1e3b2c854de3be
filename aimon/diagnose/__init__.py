"""Diagnosis: for every detected error, a structured diagnosis from the LLM, pattern memory or the offline diagnoser.

This package's top level stays light (other stages import :func:`latest_diagnosis` and :func:`record_fix`); the stage
itself lives in :mod:`aimon.diagnose.stage`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from aimon.diagnose.memory import record_fix
from aimon.llm import monthly_spend

if TYPE_CHECKING:
    from aimon.context import Context
    from aimon.diagnose.stage import DiagnoseResult


def run_diagnose(ctx: Context, limit: int = 20) -> DiagnoseResult:
    """Diagnose up to ``limit`` pending fingerprints (see :mod:`aimon.diagnose.stage`)."""
    from aimon.diagnose.stage import run_diagnose as run

    return run(ctx, limit)


def latest_diagnosis(conn: sqlite3.Connection, fingerprint: str) -> dict[str, Any] | None:
    """The current diagnosis of ``fingerprint`` (its latest ``diagnoses`` row, ``result`` parsed), or None."""
    row = conn.execute("SELECT * FROM diagnoses WHERE fingerprint = ? ORDER BY id DESC LIMIT 1", (fingerprint,)).fetchone()
    if row is None:
        return None
    data = dict(row)
    data["result"] = json.loads(data["result"])
    return data


__all__ = ["latest_diagnosis", "monthly_spend", "record_fix", "run_diagnose"]
