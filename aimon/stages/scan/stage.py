"""``aimon scan``: read what is new in the logs, group errors by fingerprint, record what is worth telling.

Incremental (cron): every configured file is read from its checkpoint (:mod:`aimon.logs.files` plans rotation and
truncation); what a read produced and the checkpoint it reached are committed in one transaction, so a scan killed at
any point never counts a line twice nor skips one. Read-only triage (``--since``): each file and its rotated siblings
that overlap the window are read from a line found by binary search on timestamps; nothing is recorded.

Other sources feed the same aggregation through :class:`Aggregator`::

    aggregator = Aggregator(ctx)
    for page in pages:                          # however the source reads
        for record in page.records:
            aggregator.add(source_key, offset_or_none, record)
        aggregator.add_lines(len(page.lines))
        aggregator.commit(lambda conn: write_my_checkpoint(conn, page.cursor))   # one transaction
    result = aggregator.result()

``commit`` writes the fingerprints, counts, occurrences and detections of everything added since the last commit and
calls the checkpoint writer in the same transaction (with ``--since``/read-only it writes nothing and skips it).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aimon.config import parse_duration
from aimon.errors import UsageError
from aimon.grouping.detect import Applied, Batch, apply_batch, cached_fingerprinter
from aimon.logs.files import (
    Checkpoint,
    ReadTask,
    expand_paths,
    is_gz,
    load_checkpoint,
    load_seen,
    plan_reads,
    remember_seen,
    rotated_siblings,
    save_checkpoint,
    unreadable,
)
from aimon.logs.parsing.timestamps import parse_timestamp
from aimon.logs.reader import read_task, seek_time
from aimon.model import LEVEL_RANK, LogRecord
from aimon.runtime import Context
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
        }


class Aggregator:
    """Folds records from any source into error groups and commits them with the source's checkpoint.

    ``since`` (epoch seconds) drops older records; ``read_only`` (``--since`` triage) writes nothing.
    """

    def __init__(self, ctx: Context, *, since: float | None = None, read_only: bool = False) -> None:
        self.ctx = ctx
        self.since = since
        self.read_only = read_only
        self.min_rank = LEVEL_RANK.get(ctx.settings.min_level, LEVEL_RANK["ERROR"])
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
        from aimon.grouping.fingerprint import canonical

        conn = self.ctx.db
        with transaction(conn):
            applied = apply_batch(conn, batch, self.ctx.settings, now=iso(utcnow()) or "", canonical=canonical,
                                  redact=self._redactor())
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
        try:
            from aimon.grouping.learned import learn_merges
        except ImportError:
            return
        merges = learn_merges(conn, self.ctx.settings, in_transaction=True)
        if not merges:
            return
        self.merges.update(merges)
        created = {*self.created, *applied.created}
        dropped = {alias for alias, _canonical in merges if alias in created}
        mine = {d["id"] for d in [*self.detections, *applied.detections]
                if d["kind"] == "new" and d["fingerprint"] in dropped}
        if mine:
            conn.executemany("DELETE FROM detections WHERE id = ?", [(ident,) for ident in sorted(mine)])
        self.detections = [d for d in self.detections if d["id"] not in mine]
        applied.detections = [d for d in applied.detections if d["id"] not in mine]

    def _redactor(self) -> Callable[[str], str]:
        from aimon.redact import redact_text

        patterns = self.ctx.settings.redaction_patterns
        return lambda text: redact_text(text, patterns)

    def _summaries(self, batch: Batch) -> Applied:
        from aimon.grouping.fingerprint import canonical

        applied = Applied()
        redact = self._redactor()
        for group in batch.groups.values():
            fid = canonical(self.ctx.db, group.fingerprint)
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

    def result(self) -> ScanResult:
        """Totals of everything committed, groups newest last seen first."""
        groups = sorted(self.groups.values(), key=lambda group: (group["last_seen"] or "", group["count"]), reverse=True)
        return ScanResult(
            lines=self.lines,
            malformed=self.malformed,
            groups=groups,
            detections=list(self.detections),
            malformed_reasons=dict(sorted(self.malformed_reasons.items())),
        )


def _min(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


def _digit_fold(ctx: Context) -> Callable[[str], str] | None:
    # Folding numbers in the cache key is exact for the built-in masking, not for user rules that may name digits.
    if ctx.settings.fingerprint_rules:
        return None
    from aimon.grouping import fingerprint

    return getattr(fingerprint, "fold_digits", None)


def _make_fingerprinter(ctx: Context) -> Any:
    from aimon.grouping.fingerprint import Fingerprinter

    try:  # what grouping has learned (aliases), so records get their canonical fingerprint directly
        from aimon.grouping.learned import load_learned

        return Fingerprinter(ctx.settings.fingerprint_rules, learned=load_learned(ctx.db))
    except (ImportError, TypeError):
        return Fingerprinter(ctx.settings.fingerprint_rules)


# ------------------------------------------------------------------------------------------------------- the command


def run_scan(ctx: Context, paths: Sequence[str] | None, since: str | None) -> ScanResult:
    """Scan the given paths (default ``AIMON_LOG_PATHS``): incrementally, or read-only over ``--since``."""
    settings = ctx.settings
    since_ts = parse_since(since) if since is not None else None
    if not paths and settings.source == "loki":
        return _scan_loki(ctx, since_ts, since)
    patterns = list(paths or settings.log_paths)
    if not patterns:
        raise UsageError("no log files to scan: pass paths (aimon scan /var/log/app.log) or set AIMON_LOG_PATHS.")
    files = expand_paths(patterns)
    aggregator = Aggregator(ctx, since=since_ts, read_only=since_ts is not None)
    reports: list[dict[str, Any]] = []
    for path in files:
        if ctx.deadline.expired():
            reports.append({"source": str(path), "note": "tick budget spent; left for the next tick"})
            continue
        if since_ts is None:
            reports.append(_scan_source(ctx, aggregator, path))
        else:
            reports.append(_triage_source(ctx, aggregator, path, since_ts))
    if aggregator.merges:
        _learned(ctx, aggregator)
    result = aggregator.result()
    result.sources, result.since = reports, since
    if since_ts is not None:
        result.detections = []
    return result


def parse_since(text: str) -> float:
    """``1h``, ``30m``, ``2d`` (before now) or an ISO time → epoch seconds."""
    stripped = text.strip()
    try:
        return time.time() - parse_duration(stripped)
    except ValueError:
        pass
    found = parse_timestamp(stripped) if len(stripped) >= 10 and stripped[:4].isdigit() else None
    if found is None:
        raise UsageError(f"--since {text!r}: use a duration like 30m, 1h or 2d, or an ISO time like 2026-01-02T03:04:05Z.")
    return found


def _scan_loki(ctx: Context, since_ts: float | None, since: str | None) -> ScanResult:
    # The Loki reader lives in aimon.logs.loki and feeds the same Aggregator (see this module's docstring).
    from aimon.logs import loki

    feed = getattr(loki, "feed", None)
    if feed is None:
        raise UsageError("AIMON_SOURCE=loki: this installation has no Loki reader; scan files instead.")
    aggregator = Aggregator(ctx, since=since_ts, read_only=since_ts is not None)
    notes = feed(ctx, aggregator, since_ts)
    if aggregator.merges:
        _learned(ctx, aggregator)
    result = aggregator.result()
    result.since = since
    result.sources = [{"source": loki.source_key(ctx.settings), "note": "; ".join(notes or []) or None}]
    return result


def _scan_source(ctx: Context, aggregator: Aggregator, path: Path) -> dict[str, Any]:
    """Read one source from its checkpoint, committing each stretch with the checkpoint it reached."""
    source = str(path)
    checkpoint = load_checkpoint(ctx.db, source)
    plan = plan_reads(path, checkpoint, load_seen(ctx.db, source))
    report: dict[str, Any] = {"source": source, "note": plan.note, "lines": 0, "bytes": 0}
    remember = list(plan.seen)
    for task in plan.tasks:
        if ctx.dry_run:
            # Nothing is checkpointed, so holding an unfinished panic for the next tick would only hide it (CI gate).
            task = replace(task, final=True)
        lines_before = aggregator.pending.lines
        batch, outcome = read_task(ctx, aggregator, source, task)
        aggregator.merge(batch)
        report["lines"] += aggregator.pending.lines - lines_before
        report["bytes"] += max(0, outcome.end - task.start)
        reached = Checkpoint(source, task.inode, task.device, task.head_hash, outcome.end, _size(task.path),
                             iso(batch.last_ts))
        unchanged = checkpoint is not None and (checkpoint.inode, checkpoint.device, checkpoint.head_hash,
                                                checkpoint.offset) == (reached.inode, reached.device,
                                                                       reached.head_hash, reached.offset)
        remember.append(task.head_hash or "")

        def write(conn: sqlite3.Connection, cp: Checkpoint = reached, heads: list[str] = remember) -> None:
            save_checkpoint(conn, cp)
            remember_seen(conn, source, heads)

        aggregator.commit(None if unchanged else write)
        remember = []
        checkpoint = reached
        if outcome.held_panic:
            report["note"] = _join(report["note"], "a panic at the end of the file is still being written; read next tick")
        if not outcome.eof:
            report["note"] = _join(report["note"], "tick budget spent; the rest is read next tick")
            break
    return report


def _triage_source(ctx: Context, aggregator: Aggregator, path: Path, since: float) -> dict[str, Any]:
    """Read-only: the file and its rotated siblings that overlap ``[since, now]``, each from a line near ``since``."""
    report: dict[str, Any] = {"source": str(path), "note": None, "lines": 0, "bytes": 0, "files": []}
    for candidate in [path, *rotated_siblings(path)]:
        problem = unreadable(candidate)
        if problem is not None:
            report["note"] = _join(report["note"], f"{candidate}: cannot read it ({problem})")
            continue
        try:
            st = candidate.stat()
        except OSError:
            continue
        if st.st_mtime < since:
            continue  # last written before the window opened
        gz = is_gz(candidate)
        start = 0 if gz else seek_time(candidate, since)
        task = ReadTask(candidate, start, st.st_ino, st.st_dev, None, gz=gz, final=True)
        lines_before = aggregator.pending.lines
        batch, outcome = read_task(ctx, aggregator, str(candidate), task)
        aggregator.merge(batch)
        report["lines"] += aggregator.pending.lines - lines_before
        report["bytes"] += max(0, outcome.end - start)
        report["files"].append(str(candidate))
        aggregator.commit(None)
    if not report["files"]:
        report["note"] = report["note"] or "nothing written in the window"
    return report


def _join(first: str | None, second: str) -> str:
    return second if not first else f"{first}; {second}"


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _learned(ctx: Context, aggregator: Aggregator) -> None:
    """After a scan in which grouping merged fingerprints (recorded with their batch, see ``Aggregator._learn``)."""
    # Every group that is now an alias (new in this scan or not) is listed under the fingerprint it answers for,
    # with the template that fingerprint learned.
    aliases = aggregator.merges
    for alias in [fid for fid in aggregator.groups if fid in aliases]:
        target = aliases[alias]
        aggregator._fold(Applied(groups={target: {**aggregator.groups.pop(alias), "fingerprint": target}}))
    for target in set(aliases.values()) & set(aggregator.groups):
        row = ctx.db.execute("SELECT template FROM fingerprints WHERE fingerprint = ?", (target,)).fetchone()
        aggregator.groups[target]["template"] = row["template"]
