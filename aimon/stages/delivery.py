"""The outbox: one row per (detection, channel) that says whether it was delivered, and when to try again.

A stage enqueues the detections it has not seen (``UNIQUE(detection_id, channel)`` makes that idempotent), picks the
rows that are pending and due, *claims* them (pushes their next attempt out by a lease, so a second process running the
same stage does not send them too, and a crash mid-send retries after the lease), sends, and records the outcome
together with its own state change in one transaction. A failure backs off exponentially (1m, 2m, 4m … capped at 1h);
after :data:`MAX_ATTEMPTS` failures the row is ``failed`` and ``aimon status`` shows it. Waiting for a rate limit or a
throttle is not a failure: such rows are deferred without counting an attempt.

The functions that change rows take the caller's connection *inside* the caller's transaction, unless they say
otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aimon.config import SEVERITIES, Settings
from aimon.runtime import Context
from aimon.state import links, meta, outbox
from aimon.state.db import parse_iso, transaction
from aimon.state.diagnoses import latest_diagnosis
from aimon.state.groups import is_ignored, symptoms_of
from aimon.state.outbox import Delivery

MAX_ATTEMPTS = 8
BACKOFF_FIRST = 60.0
BACKOFF_CAP = 3600.0
LEASE = 300.0
DEFAULT_SEVERITY = "medium"
GITHUB_CHANNELS = ("github-issue", "github-comment")
ERROR_MAX = 500  # characters of an error or a reason kept on a row


def unconfigured(ctx: Context, channel: str, message: str) -> None:
    """Say once (per state file, until the channel is configured) that ``channel`` is not configured: under cron the
    same line every minute would bury everything else. A dry run, which records nothing, always says it."""
    if ctx.dry_run:
        ctx.notice(message)
    elif meta.unconfigured_since(ctx.db, channel) is None:
        ctx.notice(message)
        with transaction(ctx.db):
            meta.set_unconfigured(ctx.db, channel, ctx.now())


def configured(ctx: Context, channel: str) -> None:
    """``channel`` is configured (again): if it goes unconfigured later, that is said once more."""
    if not ctx.dry_run and meta.unconfigured_since(ctx.db, channel) is not None:
        with transaction(ctx.db):
            meta.clear_unconfigured(ctx.db, channel)


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: 60, 120, 240 … at most :data:`BACKOFF_CAP`."""
    return min(BACKOFF_FIRST * 2 ** max(0, attempts - 1), BACKOFF_CAP)


@dataclass
class SinkResult:
    """What a sending stage did with its outbox rows (or, with ``--dry-run`` or unconfigured, would do).

    ``to_json`` lists every field, the stage's own ones included: subclasses add fields, not rendering.
    """

    configured: bool
    dry_run: bool
    skipped: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    would_send: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


# -- enqueue -----------------------------------------------------------------------------------------------------------


def enqueue_discord(conn: sqlite3.Connection, at: datetime) -> int:
    """Add a pending ``discord`` row for every detection that has none (own transaction); returns how many."""
    with transaction(conn):
        return outbox.enqueue_discord(conn, at)


def enqueue_github(conn: sqlite3.Connection, at: datetime) -> int:
    """Add a GitHub row for every detection that has none (own transaction); returns how many.

    The first detection of a fingerprint asks for an issue (``github-issue``); later ones, once an issue exists or is
    on its way, ask for a recurrence comment (``github-comment``).
    """
    added = 0
    with transaction(conn):
        for row in outbox.unqueued_for_github(conn):
            channel = "github-comment" if outbox.issue_known_or_asked(conn, row["fingerprint"]) else "github-issue"
            outbox.add_pending(conn, row["id"], row["fingerprint"], channel, at)
            added += 1
    return added


# -- select and claim --------------------------------------------------------------------------------------------------


def due(conn: sqlite3.Connection, channels: Sequence[str], at: datetime) -> list[Delivery]:
    """Pending rows of ``channels`` whose next attempt is due at ``at``, oldest first."""
    return outbox.due(conn, channels, at)


def take_over_leases(ctx: Context) -> int:
    """Under the run lock, a lease still held belongs to a run that was killed or crashed (only one run holds the
    lock): its rows are due at once instead of after :data:`LEASE`, so the next tick delivers. How many rows."""
    if ctx.dry_run or not ctx.holds_run_lock:
        return 0
    with transaction(ctx.db):
        taken = outbox.void_leases(ctx.db, ctx.now())
    if taken:
        ctx.notice(f"took over {taken} deliveries claimed by an earlier run that did not finish")
    return taken


def claim(conn: sqlite3.Connection, ids: Iterable[int], at: datetime) -> list[int]:
    """Lease the still-due rows among ``ids`` to this process (own transaction); returns the ids it got."""
    until = at + timedelta(seconds=LEASE)
    with transaction(conn):
        return [delivery_id for delivery_id in ids if outbox.lease(conn, delivery_id, until, at)]


# -- outcomes (inside the caller's transaction) ------------------------------------------------------------------------


def mark_sent(conn: sqlite3.Connection, ids: Iterable[int], remote_id: str | None, remote_url: str | None, at: datetime) -> None:
    """Delivered: remember where it went."""
    outbox.mark_sent(conn, ids, remote_id, remote_url, at)


def mark_skipped(conn: sqlite3.Connection, ids: Iterable[int], reason: str, at: datetime) -> None:
    """Not to be sent, for ``reason`` (kept in ``last_error``)."""
    outbox.mark_skipped(conn, ids, reason, at)


def mark_failed(conn: sqlite3.Connection, ids: Iterable[int], error: str, at: datetime) -> None:
    """One more failed attempt: back off, or give up after :data:`MAX_ATTEMPTS`."""
    for delivery_id in ids:
        attempts = outbox.attempts_of(conn, delivery_id) + 1
        status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
        retry_at = None if status == "failed" else at + timedelta(seconds=backoff(attempts))
        outbox.record_failure(conn, delivery_id, status, attempts, retry_at, error[:ERROR_MAX], at)


def defer(conn: sqlite3.Connection, ids: Iterable[int], until: datetime, reason: str, at: datetime) -> None:
    """Not now, and not a failure (rate limit, comment throttle, webhook gone): try again at ``until``."""
    outbox.defer(conn, ids, until, reason[:ERROR_MAX], at)


def release(conn: sqlite3.Connection, ids: Iterable[int], at: datetime) -> None:
    """Give back claimed rows that were not tried after all (the tick ran out of time): due again at once."""
    outbox.release(conn, ids, at)


def outcome_of(conn: sqlite3.Connection, delivery_id: int) -> dict[str, Any]:
    """The row as a small JSON-ready dict (for result objects)."""
    row = outbox.get(conn, delivery_id)
    return {
        "delivery": row.id,
        "detection": row.detection_id,
        "fingerprint": row.fingerprint,
        "channel": row.channel,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "error": row.last_error,
    }


def pending_and_failed(conn: sqlite3.Connection, limit: int = 20) -> dict[str, Any]:
    """For ``aimon status``: counts of pending and failed rows per channel, and the latest of each (``limit``)."""
    counts: dict[str, dict[str, int]] = {}
    for row in outbox.counts_by_channel(conn):
        counts.setdefault(row["channel"], {"pending": 0, "failed": 0})[row["status"]] = row["n"]
    listed = {status: [outcome_of(conn, i) for i in outbox.latest_ids(conn, status, limit)] for status in ("pending", "failed")}
    return {"counts": counts, "pending": listed["pending"], "failed": listed["failed"]}


# -- what a delivery is about ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """Everything a message about one detection shows: the detection, its fingerprint, diagnosis and issue."""

    detection_id: int
    kind: str  # new | spike | regression
    window_start: str
    window_end: str
    window_count: int
    baseline: float | None
    detected_at: str
    fingerprint: str
    level: str
    error_code: str | None
    target: str | None
    template: str
    sample: str
    file: str | None
    line: int | None
    is_panic: bool
    first_seen: str
    last_seen: str
    count: int
    state: str
    state_until: str | None
    severity: str
    diagnosis: dict[str, Any] | None
    issue: dict[str, Any] | None
    request_id: str | None
    symptoms: tuple[str, ...] = ()  # symptoms folded into this error: "+312 failed responses"

    @property
    def looks_like(self) -> list[str]:
        """Similar past errors the diagnosis suggests, one line each: a pointer, labelled, never this error's diagnosis."""
        lines = []
        for item in (self.diagnosis or {}).get("similar") or []:
            where = f"#{item['issue']}" if item.get("issue") else str(item.get("fingerprint", ""))[:8]
            when = str(item.get("diagnosed_at") or "")[:10]
            lines.append(f"Looks like {where} (diagnosed {when or 'before'}: {item.get('title', '')}; {item.get('why', '')}) "
                         "— a similar error, suggested only: not this error's diagnosis")
        return lines

    @property
    def result(self) -> dict[str, Any]:
        """The diagnosis result (empty without a diagnosis)."""
        return dict((self.diagnosis or {}).get("result") or {})

    @property
    def title(self) -> str:
        """The diagnosis title, else the error code and template."""
        title = str(self.result.get("title") or "").strip()
        if title:
            return title
        return f"{self.error_code}: {self.template}" if self.error_code else self.template

    def ignored(self, at: datetime) -> bool:
        """Silenced by ``aimon ignore`` (a timed ignore that has run out no longer counts)."""
        return is_ignored(self.state, self.state_until, at)

    def waits_for_diagnosis(self, settings: Settings, at: datetime) -> datetime | None:
        """Until when a message should wait for the diagnosis (``None``: go now)."""
        if self.diagnosis is not None:
            return None
        detected = parse_iso(self.detected_at) or at
        until = detected + timedelta(seconds=settings.discord.diagnosis_grace)
        return until if until > at else None


def load_incident(conn: sqlite3.Connection, settings: Settings, detection_id: int) -> Incident:
    """The :class:`Incident` of one detection, as the state file has it now."""
    row = outbox.incident_row(conn, detection_id)
    diagnosis = latest_diagnosis(conn, row["fingerprint"])
    return Incident(
        detection_id=row["detection_id"],
        kind=row["kind"],
        window_start=row["window_start"],
        window_end=row["window_end"],
        window_count=row["window_count"],
        baseline=row["baseline"],
        detected_at=row["detected_at"],
        fingerprint=row["fingerprint"],
        level=row["level"],
        error_code=row["error_code"],
        target=row["target"],
        template=row["template"],
        sample=row["sample"],
        file=row["file"],
        line=row["line"],
        is_panic=bool(row["is_panic"]),
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        count=row["count"],
        state=row["state"],
        state_until=row["state_until"],
        severity=severity_of(settings, row["error_code"], diagnosis),
        diagnosis=diagnosis,
        issue=links.issue_for(conn, row["fingerprint"]),
        request_id=outbox.latest_request_id(conn, row["fingerprint"]),
        symptoms=tuple(found.label for found in symptoms_of(conn, row["fingerprint"])),
    )


def severity_of(settings: Settings, error_code: str | None, diagnosis: dict[str, Any] | None) -> str:
    """The diagnosed severity, else the catalog's for the error code, else medium."""
    diagnosed = str(((diagnosis or {}).get("result") or {}).get("severity") or "")
    if diagnosed in SEVERITIES:
        return diagnosed
    entry = settings.catalog.get(error_code or "")
    if entry is not None and entry.severity in SEVERITIES:
        return entry.severity
    return DEFAULT_SEVERITY


def severity_rank(severity: str) -> int:
    """low 0 … critical 3."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else SEVERITIES.index(DEFAULT_SEVERITY)
