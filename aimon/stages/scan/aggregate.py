"""What a scan has read so far, from any source, and the commits that record it with the source's checkpoint.

Every source feeds the same :class:`Aggregator`::

    aggregator = Aggregator(ctx)
    for page in pages:                          # however the source reads
        for record in page.records:
            aggregator.add(source_key, offset_or_none, record)
        aggregator.add_lines(len(page.lines))
        aggregator.commit(lambda conn: write_my_checkpoint(conn, page.cursor))   # one transaction
    aggregator.regroup()
    result = aggregator.result()

``commit`` writes the fingerprints, counts, occurrences and detections of everything added since the last commit and
calls the checkpoint writer in the same transaction (with ``--since``/read-only it writes nothing and skips it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aimon.grouping import learned
from aimon.grouping.detect import Applied, Batch, apply_batch, cached_fingerprinter
from aimon.grouping.fingerprint import Fingerprinter, fold_digits
from aimon.model import LEVEL_RANK, LogRecord
from aimon.redact import redact_text
from aimon.runtime import Context
from aimon.state import detections, groups
from aimon.state.db import iso, transaction, utcnow


@dataclass
class ScanResult:
    """What a scan read and found. ``groups`` are the error groups seen (newest last seen first)."""

    lines: int = 0
    malformed: int = 0
    groups: list[dict[str, Any]] = field(default_factory=list)
    detections: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    since: str | None = None
    errors: list[str] = field(default_factory=list)  # sources that could not be seen, each with why
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "malformed": self.malformed,
            "malformed_reasons": self.malformed_reasons,
            "groups": self.groups,
            "detections": self.detections,
            "sources": self.sources,
            "since": self.since,
            "errors": self.errors,
        }


class Aggregator:
    """Folds records from any source into error groups and commits them with the source's checkpoint.

    ``since`` (epoch seconds) drops older records; ``read_only`` (``--since`` triage) writes nothing.
    """

    def __init__(self, ctx: Context, *, since: float | None = None, read_only: bool = False) -> None:
        self.ctx = ctx
        self.since = since
        self.read_only = read_only
        self.min_rank = LEVEL_RANK.get(ctx.settings.sources.min_level, LEVEL_RANK["ERROR"])
        self._fingerprint: Callable[[LogRecord], tuple[str, str, int]] | None = None
        self.pending = self.new_batch()
        self.lines = 0
        self.malformed = 0
        self.malformed_reasons: dict[str, int] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.detections: list[dict[str, Any]] = []
        self.created: list[str] = []
        self.merges: dict[str, str] = {}  # alias → canonical fingerprint, learned during this scan

    def fingerprint(self, record: LogRecord) -> tuple[str, str, int]:
        """``(id, template, algo)`` of a record (the fingerprinter is built on first use: idle scans never pay)."""
        if self._fingerprint is None:
            self.ready()
        assert self._fingerprint is not None
        return self._fingerprint(record)

    def ready(self) -> None:
        """Build the fingerprinter now (it reads learned merges from the state file): before reading in workers."""
        if self._fingerprint is None:
            self._fingerprint = cached_fingerprinter(_make_fingerprinter(self.ctx), _digit_fold(self.ctx))

    def new_batch(self) -> Batch:
        return Batch(self.fingerprint, self.min_rank, self.since)

    def add(self, source: str, offset: int | None, record: LogRecord, fallback_ts: float | None = None) -> None:
        """Fold in one record read from ``source`` at ``offset`` (``None`` when the source has no offsets)."""
        self.pending.add(source, offset, record, fallback_ts)

    def add_lines(self, count: int) -> None:
        self.pending.lines += count

    def add_malformed(self, reason: str, count: int = 1) -> None:
        self.pending.add_malformed(reason, count)

    def merge(self, batch: Batch) -> None:
        """Fold in a batch built elsewhere (a worker process)."""
        self.pending.merge(batch)

    def commit(self, write_checkpoint: Callable[[sqlite3.Connection], None] | None = None) -> list[dict[str, Any]]:
        """Record everything added since the last commit, and the checkpoint, in one transaction."""
        batch, self.pending = self.pending, self.new_batch()
        self.lines += batch.lines
        self.malformed += batch.malformed
        for reason, count in batch.malformed_reasons.items():
            self.malformed_reasons[reason] = self.malformed_reasons.get(reason, 0) + count
        if self.read_only:
            self._fold(self._summaries(batch))
            return []
        if not batch.groups and write_checkpoint is None:
            return []
        conn = self.ctx.db
        with transaction(conn):
            applied = apply_batch(conn, batch, self.ctx.settings, now=iso(utcnow()) or "", redact=self._redactor())
            if write_checkpoint is not None:
                write_checkpoint(conn)
            if applied.created:
                self._learn(conn, applied)
        self._fold(applied)
        return applied.detections

    def _learn(self, conn: sqlite3.Connection, applied: Applied) -> None:
        """Inside the batch's transaction: let grouping merge new fingerprints into known ones, and a merged newcomer
        is not news (its "new" detection goes). In one transaction with the batch, so that a kill cannot leave a
        newcomer recorded but not merged, or merged but still announced."""
        merges = learned.learn_merges(conn, self.ctx.settings, in_transaction=True)
        if not merges:
            return
        self.merges.update(merges)
        created = {*self.created, *applied.created}
        dropped = {alias for alias, _canonical in merges if alias in created}
        mine = {d["id"] for d in [*self.detections, *applied.detections]
                if d["kind"] == "new" and d["fingerprint"] in dropped}
        if mine:
            detections.delete_detections(conn, sorted(mine))
        self.detections = [d for d in self.detections if d["id"] not in mine]
        applied.detections = [d for d in applied.detections if d["id"] not in mine]

    def _redactor(self) -> Callable[[str], str]:
        patterns = self.ctx.settings.redaction_patterns
        return lambda text: redact_text(text, patterns)

    def _summaries(self, batch: Batch) -> Applied:
        applied = Applied()
        redact = self._redactor()
        for group in batch.groups.values():
            fid = groups.canonical(self.ctx.db, group.fingerprint)
            first, last = iso(group.first_ts), iso(group.last_ts)
            summary = applied.groups.setdefault(fid, {
                "fingerprint": fid, "level": group.record.level, "error_code": group.record.error_code,
                "template": group.template, "count": 0, "first_seen": first, "last_seen": last,
                "sample": redact(group.record.message),
            })
            summary["count"] += group.count
        return applied

    def _fold(self, applied: Applied) -> None:
        for fid, summary in applied.groups.items():
            mine = self.groups.get(fid)
            if mine is None:
                self.groups[fid] = dict(summary)
                continue
            mine["count"] += summary["count"]
            mine["first_seen"] = _min(mine["first_seen"], summary["first_seen"])
            mine["last_seen"] = _max(mine["last_seen"], summary["last_seen"])
        self.detections.extend(applied.detections)
        self.created.extend(applied.created)

    def regroup(self) -> None:
        """After the last commit: when grouping merged fingerprints during this scan (recorded with their batch, see
        :meth:`_learn`), list every group that is now an alias (new in this scan or not) under the fingerprint it
        answers for, with the template that fingerprint learned."""
        aliases = self.merges
        if not aliases:
            return
        for alias in [fid for fid in self.groups if fid in aliases]:
            target = aliases[alias]
            self._fold(Applied(groups={target: {**self.groups.pop(alias), "fingerprint": target}}))
        for target in set(aliases.values()) & set(self.groups):
            self.groups[target]["template"] = groups.template_of(self.ctx.db, target)

    def result(self) -> ScanResult:
        """Totals of everything committed, groups newest last seen first."""
        listed = sorted(self.groups.values(), key=lambda group: (group["last_seen"] or "", group["count"]), reverse=True)
        return ScanResult(
            lines=self.lines,
            malformed=self.malformed,
            groups=listed,
            detections=list(self.detections),
            malformed_reasons=dict(sorted(self.malformed_reasons.items())),
        )


def _min(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


def _digit_fold(ctx: Context) -> Callable[[str], str] | None:
    # Folding numbers in the cache key is exact for the built-in masking, not for user rules that may name digits.
    return None if ctx.settings.fingerprint_rules else fold_digits


def _make_fingerprinter(ctx: Context) -> Fingerprinter:
    # What grouping has learned (aliases), so that records get their canonical fingerprint directly.
    return Fingerprinter(ctx.settings.fingerprint_rules, learned=learned.load_learned(ctx.db))
