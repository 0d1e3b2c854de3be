"""``aimon status``: what aimon has read, found, sent and spent, from the state file alone.

Status only reads the state file and stats the log files: it never calls a remote service, so it is safe to run at any
time next to a cron tick. Tables that belong to stages not yet run (or not installed) are simply reported empty.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aimon.config import Settings
from aimon.runtime import Context
from aimon.state import checkpoints, meta, runs, summary
from aimon.state.db import iso, parse_iso, utcnow

TOP = 5  # fingerprints shown per list
PROBLEMS = 10  # failed/pending deliveries listed with their last error
TEMPLATE_CHARS = 160


@dataclass
class StatusResult:
    """Everything ``aimon status`` shows; ``to_json`` is the ``--json`` document."""

    generated_at: str
    sources: list[dict[str, Any]]
    deliveries: dict[str, Any]
    fingerprints: dict[str, Any]
    llm: dict[str, Any]
    autofix: dict[str, Any]
    last_run: dict[str, Any] | None
    config: dict[str, str]
    lock: dict[str, Any] | None = None
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "sources": self.sources,
            "deliveries": self.deliveries,
            "fingerprints": self.fingerprints,
            "llm": self.llm,
            "autofix": self.autofix,
            "last_run": self.last_run,
            "lock": self.lock,
            "config": self.config,
        }


def get_status(ctx: Context) -> StatusResult:
    """Checkpoints and lag, the outbox, recent and frequent errors, LLM spend, autofix refusals, the last run."""
    conn = ctx.db
    scrub = secret_scrubber(ctx.settings)
    lock = _lock(ctx.settings)
    return StatusResult(
        generated_at=iso(utcnow()) or "",
        sources=_sources(conn),
        deliveries=_deliveries(conn, scrub),
        fingerprints=_fingerprints(conn, scrub),
        llm=_llm(ctx),
        autofix=_autofix(conn, scrub),
        last_run=_last_run(conn, lock),
        lock=lock,
        config=ctx.settings.masked(),
    )


def secret_scrubber(settings: Settings) -> Callable[[str | None], str | None]:
    """A function that masks our own secrets and anything the redactor knows in a recorded error message.

    Errors recorded by stages may quote a URL or a header (a Discord webhook URL is a secret as a whole).
    """
    from aimon.redact import Redactor

    secrets = [value.reveal() for value in settings.secrets()]
    redactor = Redactor(settings.redaction_patterns)

    def scrub(text: str | None) -> str | None:
        if not text:
            return text
        for secret in secrets:
            text = text.replace(secret, "***")
        return redactor.redact(text)

    return scrub



def _sources(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    now = utcnow().timestamp()
    shown = []
    for row in summary.checkpoints(conn):
        last_ts = parse_iso(row["last_ts"])
        entry: dict[str, Any] = {
            "source": row["source"],
            "kind": "loki" if row["source"].startswith("loki:") else "file",
            "offset": row["offset"],
            "last_record_at": row["last_ts"],
            "checked_at": row["updated_at"],
            "exists": True,
            "size": None,
            "bytes_behind": None,
            "seconds_behind": None,
        }
        if entry["kind"] == "loki":
            entry["loki_ns"] = row["loki_ns"]
            if row["loki_ns"]:
                entry["seconds_behind"] = round(max(0.0, now - row["loki_ns"] / 1e9), 1)
        else:
            entry.update(_file_lag(row, last_ts.timestamp() if last_ts else None))
        shown.append(entry)
    # What the last scan could see of each source; a source never read (missing from the start, a glob that matches
    # nothing) has no checkpoint but is failing all the same.
    health = {item.source: item for item in checkpoints.all_health(conn)}
    for entry in shown:
        entry.update(_health(health.pop(entry["source"], None)))
    for item in health.values():
        shown.append({"source": item.source, "kind": "file", "offset": 0, "last_record_at": None, "checked_at": item.checked_at,
                      "exists": False, "size": None, "bytes_behind": None, "seconds_behind": None, **_health(item)})
    # Lines of a source that could not be read: skipped, never silently taken for something else.
    malformed = meta.malformed_by_source(conn)
    for entry in shown:
        entry["malformed"] = malformed.get(entry["source"])
    shown.sort(key=lambda entry: entry["up"] is not False)  # failing first
    return shown


def _health(item: checkpoints.SourceHealth | None) -> dict[str, Any]:
    if item is None:
        return {"up": None, "problem": None, "since": None}
    return {"up": item.up, "problem": item.problem, "since": item.since}


def _file_lag(row: sqlite3.Row, last_ts: float | None) -> dict[str, Any]:
    """Bytes behind = size − offset (the whole file when it was replaced); seconds = file mtime − last record read."""
    try:
        stat = os.stat(row["source"])
    except OSError:
        return {"exists": False}
    rotated = row["inode"] is not None and stat.st_ino != row["inode"]
    behind = stat.st_size if rotated or stat.st_size < row["offset"] else stat.st_size - row["offset"]
    if behind == 0:
        seconds = 0.0
    else:
        reference = last_ts if last_ts is not None else (parse_iso(row["updated_at"]) or utcnow()).timestamp()
        seconds = max(0.0, stat.st_mtime - reference)
    return {"size": stat.st_size, "bytes_behind": behind, "seconds_behind": round(seconds, 1), "rotated": rotated}


def _deliveries(conn: sqlite3.Connection, scrub: Callable[[str | None], str | None]) -> dict[str, Any]:
    shown: dict[str, Any] = {"pending": {}, "failed": {}, "sent": {}, "problems": []}
    for counted in summary.delivery_counts(conn):
        if counted.status in ("pending", "failed", "sent"):
            shown[counted.status][counted.channel] = counted.count
    problems = summary.delivery_problems(conn, PROBLEMS)
    shown["problems"] = [{**dict(row), "last_error": scrub(row["last_error"])} for row in problems]
    return shown


def _fingerprint_row(row: sqlite3.Row, scrub: Callable[[str | None], str | None]) -> dict[str, Any]:
    # Templates keep what the fingerprinter did not mask, which can be a secret: status shows them redacted.
    template = scrub(row["template"]) or ""
    return {
        "fingerprint": row["fingerprint"],
        "level": row["level"],
        "error_code": row["error_code"],
        "template": template if len(template) <= TEMPLATE_CHARS else template[: TEMPLATE_CHARS - 1] + "…",
        "count": row["count"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "state": row["state"],
        "state_until": row["state_until"],
    }


def _fingerprints(conn: sqlite3.Connection, scrub: Callable[[str | None], str | None]) -> dict[str, Any]:
    # Merged fingerprints (aliases) stay as history; their occurrences are already counted in the canonical row.
    states = summary.fingerprint_states(conn)
    return {
        "total": sum(states.values()),
        "by_state": {state: states.get(state, 0) for state in ("active", "resolved", "ignored")},
        "recent": [_fingerprint_row(row, scrub) for row in summary.recent_fingerprints(conn, TOP)],
        "frequent": [_fingerprint_row(row, scrub) for row in summary.frequent_fingerprints(conn, TOP)],
    }


def _llm(ctx: Context) -> dict[str, Any]:
    from aimon.state.diagnoses import month_start, monthly_spend  # light: the OpenAI SDK is imported only for a request

    now = utcnow()
    shown: dict[str, Any] = {
        "month": now.strftime("%Y-%m"),
        "spend_usd": 0.0,
        "budget_usd": ctx.settings.llm.monthly_budget_usd,
        "calls": 0,
        "tokens_in": 0,
        "tokens_out": 0,
    }
    if not summary.has_llm_calls(ctx.db):
        return shown
    # Spend as the budget check counts it; calls and tokens over the same month.
    usage = summary.llm_usage_since(ctx.db, month_start(now))
    shown.update(
        calls=usage.calls,
        spend_usd=round(monthly_spend(ctx.db, now), 6),
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
    )
    return shown


def _autofix(conn: sqlite3.Connection, scrub: Callable[[str | None], str | None]) -> dict[str, Any]:
    refusals = summary.autofix_refusals(conn, PROBLEMS)
    return {"pulls": summary.pull_count(conn), "refusals": [{**dict(row), "reason": scrub(row["reason"])} for row in refusals]}


def _lock(settings: Settings) -> dict[str, Any] | None:
    """Who holds the run lock now, for how long; or the holder that died holding it (a killed run)."""
    from aimon.lock import holder_of, lock_path

    holder = holder_of(lock_path(settings.db_path))
    if holder is None:
        return None
    since = parse_iso(holder["since"]) if isinstance(holder["since"], str) else None
    holder["age_s"] = round((utcnow() - since).total_seconds(), 1) if since else None
    return holder


def _last_run(conn: sqlite3.Connection, lock: dict[str, Any] | None) -> dict[str, Any] | None:
    run = runs.last_run(conn)
    if run is None:
        return None
    if run.finished_at is None:
        # Not finished: still running only while a live process holds the run lock; otherwise it was killed.
        outcome = "running" if lock is not None and lock["alive"] else "unfinished"
    else:
        outcome = "ok" if run.exit_code == 0 else "failed"
    return {
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "exit_code": run.exit_code,
        "outcome": outcome,
        "summary": run.summary,
    }
