"""The bookkeeping of one open-issue tick: what it may still do on GitHub, and what became of each outbox row.

:class:`Budget` bounds a tick (writes, searches, time) and remembers why it stopped; :class:`Ledger` records each
outcome twice, on the outbox rows (live runs only) and in the :class:`IssueResult` the command prints.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aimon.clock import Deadline
from aimon.remotes.github import Trouble
from aimon.stages import delivery
from aimon.stages.delivery import SinkResult
from aimon.state import meta, outbox
from aimon.state.db import iso, transaction

MAX_WRITES = 10  # issues created, comments posted, issues reopened: per tick
SEARCHES_PER_MINUTE = 25  # GitHub allows 30; leave room for anything else using the token
MIN_SECONDS = 5.0


@dataclass
class IssueResult(SinkResult):
    """What ``aimon open-issue`` did (or, with ``--dry-run`` or without a token, would do)."""

    repo: str = ""
    created: list[dict[str, Any]] = field(default_factory=list)
    adopted: list[dict[str, Any]] = field(default_factory=list)
    commented: list[dict[str, Any]] = field(default_factory=list)
    reopened: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Item:
    """One pending GitHub row of a fingerprint."""

    delivery_id: int | None  # None: a detection not enqueued (preview without a token)
    detection_id: int


def delivery_ids(group: list[Item]) -> list[int]:
    """The outbox rows of a group (a preview's detections have none)."""
    return [item.delivery_id for item in group if item.delivery_id]


class Budget:
    """What this tick may still do on GitHub; ``stopped`` says why it makes no further call, once it does not."""

    def __init__(self, db: sqlite3.Connection, deadline: Deadline, at: datetime) -> None:
        self.db, self.deadline, self.at = db, deadline, at
        self.writes = 0
        self.stopped: str | None = None

    def may_write(self) -> bool:
        """Whether another write (or the search before one) may start now."""
        if self.stopped is not None:
            return False
        if self.writes >= MAX_WRITES:
            self.stopped = f"{MAX_WRITES} GitHub writes this tick"
        elif self.deadline.remaining() < MIN_SECONDS:
            self.stopped = "the tick ran out of time"
        return self.stopped is None

    def wrote(self) -> None:
        """Count a write that GitHub accepted."""
        self.writes += 1

    def search_allowed(self) -> bool:
        """Whether a search stays within :data:`SEARCHES_PER_MINUTE` (counted across ticks in the state file)."""
        return len(self._recent_searches()) < SEARCHES_PER_MINUTE

    def searched(self) -> None:
        """Count a search (own transaction)."""
        with transaction(self.db):
            meta.set_github_searches(self.db, [*self._recent_searches(), iso(self.at) or ""])

    def _recent_searches(self) -> list[str]:
        cutoff = iso(self.at - timedelta(minutes=1)) or ""
        return [stamp for stamp in meta.github_searches(self.db) if stamp > cutoff]


class Ledger:
    """Records outcomes: on the outbox rows when ``live``, and always in ``result``."""

    def __init__(self, db: sqlite3.Connection, result: IssueResult, at: datetime, budget: Budget, *, live: bool) -> None:
        self.db, self.result, self.at, self.budget, self.live = db, result, at, budget, live

    def trouble(self, ids: list[int], trouble: Trouble) -> None:
        """A GitHub call for these claimed rows failed: wait, fail, or stop the stage, as ``trouble`` says."""
        with transaction(self.db):
            if trouble.kind == "rate-limited":
                delivery.defer(self.db, ids, trouble.retry_at or self.at, trouble.detail, self.at)
                self.budget.stopped = "GitHub rate limit"
            elif trouble.kind == "gone":
                delivery.release(self.db, ids, self.at)
            else:
                delivery.mark_failed(self.db, ids, trouble.detail, self.at)
                if trouble.kind == "transient":
                    self.budget.stopped = "GitHub is failing"
        if trouble.kind == "gone":
            self.gone(trouble.detail)
        self.report_ids(ids)

    def gone(self, detail: str) -> None:
        """The token or the repository was refused: the stage stops and exits 1."""
        self.budget.stopped = "GitHub refused the token or repository"
        self.result.exit_code = 1
        self.result.error = f"{detail} The work stays queued for when this is fixed."

    def defer(self, group: list[Item], until: datetime, reason: str, ids: list[int] | None = None) -> None:
        if self.live:
            with transaction(self.db):
                delivery.defer(self.db, ids or delivery_ids(group), until, reason, self.at)
        self.report(group, "deferred", f"{reason}; next try {iso(until)}")

    def skip(self, group: list[Item], reason: str) -> None:
        if self.live:
            with transaction(self.db):
                delivery.mark_skipped(self.db, delivery_ids(group), reason, self.at)
        self.report(group, "skipped", reason)

    def report(self, group: list[Item], into: str, reason: str) -> None:
        """List a group under ``into`` (``waiting``, ``deferred``, ``skipped``) with ``reason``; no row changes."""
        rows = getattr(self.result, into)
        for item in group:
            fingerprint = outbox.fingerprint_of(self.db, item.detection_id)
            rows.append({"delivery": item.delivery_id, "detection": item.detection_id, "fingerprint": fingerprint, "reason": reason})

    def report_ids(self, ids: list[int]) -> None:
        """List rows as the outbox has them now: under ``failed`` when given up, else ``deferred``."""
        for delivery_id in ids:
            row = delivery.outcome_of(self.db, delivery_id)
            (self.result.failed if row["status"] == "failed" else self.result.deferred).append(row)

    def would(self, request: dict[str, Any], fingerprint: str, group: list[Item]) -> None:
        """A request a dry run (or a run without a token) would make."""
        self.result.would_send.append({**request, "fingerprint": fingerprint, "deliveries": [item.delivery_id for item in group]})
