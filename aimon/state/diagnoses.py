"""The diagnoses of error groups, every LLM call, and the fixes recorded for them (tables of ``002_diagnose.sql``).

The diagnose stage writes diagnoses, the LLM client writes LLM calls; a fix is recorded by whoever learns of it (an
issue closed as fixed, a pull request merged). Every other stage only reads the current diagnosis. The reads of
``fingerprints``, ``occurrences`` and ``detections`` that a diagnosis is made from live here too.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aimon.state.db import iso, utcnow
from aimon.state.groups import canonical_sql, ignored_sql

if TYPE_CHECKING:
    from aimon.model import Diagnosis  # only its type: the idle path never builds the pydantic model


@dataclass(frozen=True)
class Fix:
    """A fix recorded for a fingerprint."""

    fingerprint: str
    how: str
    url: str | None
    created_at: str


# ------------------------------------------------------------------------------------------------ diagnoses: reading


def latest_diagnosis(conn: sqlite3.Connection, fingerprint: str) -> dict[str, Any] | None:
    """The current diagnosis of ``fingerprint`` (its latest ``diagnoses`` row, ``result`` parsed), or None."""
    row = conn.execute("SELECT * FROM diagnoses WHERE fingerprint = ? ORDER BY id DESC LIMIT 1", (fingerprint,)).fetchone()
    if row is None:
        return None
    data = dict(row)
    data["result"] = json.loads(data["result"])
    data["similar"] = json.loads(data["similar"]) if data.get("similar") else []
    data["cited"] = json.loads(data["cited"]) if data.get("cited") else []
    return data


_PENDING_SQL = """
SELECT f.*, d.id AS detection_id, d.kind AS detection_kind, d.window_start, d.window_end, d.count AS window_count,
       d.baseline, g.id AS diagnosis_id
FROM fingerprints f
JOIN detections d ON d.id = (SELECT MAX(id) FROM detections WHERE fingerprint = f.fingerprint)
LEFT JOIN diagnoses g ON g.id = (SELECT MAX(id) FROM diagnoses WHERE fingerprint = f.fingerprint)
WHERE NOT {ignored}
  AND {canonical}
  AND (g.id IS NULL
       OR COALESCE(f.error_code, '') <> COALESCE(g.error_code, '')
       OR EXISTS (SELECT 1 FROM detections r WHERE r.fingerprint = f.fingerprint AND r.kind = 'regression'
                  AND r.id > COALESCE(g.detection_id, 0)))
ORDER BY d.id
LIMIT :limit
""".format(ignored=ignored_sql("f", ":now"), canonical=canonical_sql("f"))


def pending(conn: sqlite3.Connection, now: datetime, limit: int) -> list[sqlite3.Row]:
    """Fingerprints that need a diagnosis (oldest detection first): each ``fingerprints`` row with its latest
    detection's columns (``detection_id``, ``detection_kind``, ``window_*``, ``baseline``) and ``diagnosis_id``."""
    return conn.execute(_PENDING_SQL, {"now": iso(now), "limit": limit}).fetchall()


def diagnosed_error_code(conn: sqlite3.Connection, diagnosis_id: int) -> str | None:
    """The error code the fingerprint had when this diagnosis was made (None: it had none, or no such diagnosis)."""
    row = conn.execute("SELECT error_code FROM diagnoses WHERE id = ?", (diagnosis_id,)).fetchone()
    return None if row is None else row["error_code"]


def diagnosed_at(conn: sqlite3.Connection, diagnosis_id: int) -> str | None:
    """When a diagnosis was made (ISO time), or None when there is no such diagnosis."""
    row = conn.execute("SELECT created_at FROM diagnoses WHERE id = ?", (diagnosis_id,)).fetchone()
    return None if row is None else str(row["created_at"])


def memory_root(conn: sqlite3.Connection, diagnosis_id: int) -> int:
    """The original diagnosis a diagnosis was copied from by pattern memory (itself when it is an original)."""
    return int(conn.execute("SELECT COALESCE(memory_of, id) FROM diagnoses WHERE id = ?", (diagnosis_id,)).fetchone()[0])


def memory_candidates(conn: sqlite3.Connection, fingerprint: str, limit: int) -> list[sqlite3.Row]:
    """The current diagnoses of every other fingerprint, newest first, with the group's ``error_code`` and ``template``
    and whether a fix was recorded for it (``fixed``): what pattern memory compares a new error with."""
    return conn.execute(
        """
        SELECT f.fingerprint, f.error_code, f.template, d.id, d.source, d.result, d.created_at,
               EXISTS (SELECT 1 FROM fixes x WHERE x.fingerprint = f.fingerprint) AS fixed
        FROM diagnoses d JOIN fingerprints f ON f.fingerprint = d.fingerprint
        WHERE d.id = (SELECT MAX(id) FROM diagnoses WHERE fingerprint = d.fingerprint) AND f.fingerprint <> ?
        ORDER BY d.id DESC LIMIT ?
        """,
        (fingerprint, limit),
    ).fetchall()


def recurrence_candidates(conn: sqlite3.Connection, fingerprint: str, template: str | None, file: str | None,
                          line: int | None) -> list[sqlite3.Row]:
    """The current diagnoses of the *same* error under another fingerprint, best first: fingerprints that learned
    grouping made aliases of ``fingerprint`` (``alias`` 1), then those with exactly ``template`` at ``file:line``
    (only when both are known; ``alias`` 0). Same columns as :func:`memory_candidates`."""
    return conn.execute(
        """
        SELECT f.fingerprint, f.error_code, f.template, d.id, d.source, d.result, d.created_at,
               f.fingerprint IN (SELECT alias FROM fingerprint_aliases WHERE fingerprint = :fp) AS alias
        FROM diagnoses d JOIN fingerprints f ON f.fingerprint = d.fingerprint
        WHERE d.id = (SELECT MAX(id) FROM diagnoses WHERE fingerprint = d.fingerprint) AND f.fingerprint <> :fp
          AND (f.fingerprint IN (SELECT alias FROM fingerprint_aliases WHERE fingerprint = :fp)
               OR (:file IS NOT NULL AND :line IS NOT NULL AND f.template = :template AND f.file = :file AND f.line = :line))
        ORDER BY alias DESC, d.id DESC LIMIT 1
        """,
        {"fp": fingerprint, "template": template, "file": file, "line": line},
    ).fetchall()


def occurrences_of(conn: sqlite3.Connection, fingerprint: str) -> list[sqlite3.Row]:
    """The sample occurrences scan kept for ``fingerprint``, oldest first (``id, ts, source, offset, request_id, record``)."""
    return conn.execute(
        "SELECT id, ts, source, offset, request_id, record FROM occurrences WHERE fingerprint = ? ORDER BY id", (fingerprint,)
    ).fetchall()


# ------------------------------------------------------------------------------------------------ diagnoses: writing


def insert_diagnosis(
    conn: sqlite3.Connection,
    *,
    fingerprint: str,
    detection_id: int | None,
    source: str,
    result: Diagnosis,
    model: str | None = None,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost_usd: float = 0.0,
    memory_of: int | None = None,
    error_code: str | None = None,
    note: str | None = None,
    similar: list[dict[str, Any]] | None = None,
    cited: list[dict[str, Any]] | None = None,
    at: datetime | None = None,
) -> int:
    """Store a diagnosis (it becomes the current one of ``fingerprint``); returns its id. ``similar``: the similar
    past errors pattern memory suggests beside it (never part of the diagnosis itself); ``cited``: the references its
    evidence cites, resolved to the lines shown."""
    cursor = conn.execute(
        "INSERT INTO diagnoses (fingerprint, detection_id, source, model, result, tokens_in, tokens_out, cost_usd, created_at,"
        " memory_of, error_code, note, similar, cited) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (fingerprint, detection_id, source, model, json.dumps(result.model_dump(), ensure_ascii=False), tokens_in, tokens_out,
         cost_usd, iso(at or utcnow()), memory_of, error_code, note, json.dumps(similar, ensure_ascii=False) if similar else None,
         json.dumps(cited, ensure_ascii=False) if cited else None),
    )
    return int(cursor.lastrowid or 0)


# ------------------------------------------------------------------------------------------------------------- fixes


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


# --------------------------------------------------------------------------------------------------------- LLM calls


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current calendar month, UTC: the LLM budget is per calendar month."""
    moment = (now or utcnow()).astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def monthly_spend(conn: sqlite3.Connection, now: datetime | None = None) -> float:
    """What the LLM calls of this calendar month cost, in USD."""
    row = conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE created_at >= ?", (iso(month_start(now)),)).fetchone()
    return float(row[0])


def last_llm_call_id(conn: sqlite3.Connection) -> int:
    """The id of the latest LLM call (0 when there is none): a mark to count the calls made after it."""
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM llm_calls").fetchone()[0])


def llm_calls_after(conn: sqlite3.Connection, call_id: int) -> int:
    """How many LLM calls were recorded after the one with id ``call_id``."""
    return int(conn.execute("SELECT COUNT(*) FROM llm_calls WHERE id > ?", (call_id,)).fetchone()[0])


def insert_llm_call(
    conn: sqlite3.Connection,
    *,
    purpose: str,
    fingerprint: str | None,
    model: str,
    prompt_hash: str,
    outcome: str,
    error: str | None = None,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cached_tokens: int = 0,
    latency_ms: int = 0,
    cost_usd: float = 0.0,
    priced: bool = True,
    estimated: bool = False,
    prompt_chars: int = 0,
    at: datetime | None = None,
) -> int:
    """Record one LLM request and how it ended (``estimated``: the answer had no usage, the tokens are an estimate;
    ``prompt_chars``: the characters its prompt had, to measure the model's chars per token); returns its id."""
    cursor = conn.execute(
        "INSERT INTO llm_calls (purpose, fingerprint, model, prompt_hash, tokens_in, tokens_out, cached_tokens, latency_ms,"
        " cost_usd, priced, outcome, error, usage_estimated, prompt_chars, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (purpose, fingerprint, model, prompt_hash, tokens_in, tokens_out, cached_tokens, latency_ms, cost_usd, int(priced),
         outcome, error, int(estimated), prompt_chars, iso(at or utcnow())),
    )
    return int(cursor.lastrowid or 0)


RATIO_CALLS = 50  # the latest calls with reported usage that the chars-per-token ratio is measured over
RATIO_BOUNDS = (1.5, 6.0)  # a ratio outside these is a broken report (a server that counts words or bytes), not a tokenizer


def measured_ratio(conn: sqlite3.Connection, model: str) -> float | None:
    """Characters per prompt token of ``model``, from the usage the provider reported for its latest calls (calls whose
    usage was estimated do not count), or None when none was measured."""
    row = conn.execute(
        "SELECT SUM(prompt_chars), SUM(tokens_in) FROM (SELECT prompt_chars, tokens_in FROM llm_calls"
        " WHERE model = ? AND usage_estimated = 0 AND prompt_chars > 0 AND tokens_in > 0 ORDER BY id DESC LIMIT ?)",
        (model, RATIO_CALLS),
    ).fetchone()
    if not row or not row[0] or not row[1]:
        return None
    ratio = float(row[0]) / float(row[1])
    return ratio if RATIO_BOUNDS[0] <= ratio <= RATIO_BOUNDS[1] else None


def largest_answer(conn: sqlite3.Connection, model: str) -> int | None:
    """The most output tokens one of ``model``'s latest calls reported (what the next answer is budgeted at), or None."""
    row = conn.execute(
        "SELECT MAX(tokens_out) FROM (SELECT tokens_out FROM llm_calls WHERE model = ? AND usage_estimated = 0"
        " AND tokens_out > 0 ORDER BY id DESC LIMIT ?)",
        (model, RATIO_CALLS),
    ).fetchone()
    return int(row[0]) if row and row[0] else None


def set_llm_call_outcome(conn: sqlite3.Connection, call_id: int, outcome: str, error: str) -> None:
    """Change how a recorded call ended (an answer that arrived but failed validation is ``invalid``)."""
    conn.execute("UPDATE llm_calls SET outcome = ?, error = ? WHERE id = ?", (outcome, error, call_id))
