"""``aimon scan``: read what is new in the logs, group errors by fingerprint, record what is worth telling.

Incremental (cron): every configured file is read from its checkpoint (:mod:`aimon.logs.files` plans rotation and
truncation); what a read produced and the checkpoint it reached are committed in one transaction, so a scan killed at
any point never counts a line twice nor skips one. Read-only triage (``--since``): each file and its own rotations
(:mod:`aimon.logs.window` picks them by name and first line, never a neighbour such as ``app-worker.log``) that
overlap the window are read from a line found by binary search on timestamps; nothing is recorded, and the report
lists the files read and left, each with why.

Grafana Loki (``AIMON_SOURCE=loki``) is scanned by :mod:`aimon.stages.scan.loki`; every source feeds the same
:class:`~aimon.stages.scan.aggregate.Aggregator`.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from aimon.config import parse_duration
from aimon.errors import UsageError
from aimon.logs import loki
from aimon.logs.files import ReadTask, expand_paths, head_hash, is_glob, plan_reads, unmatched_globs, unreadable
from aimon.logs.parsing.timestamps import parse_timestamp
from aimon.logs.reader import ReadOutcome, read_task, seek_time, settle_left
from aimon.logs.window import plan_window
from aimon.runtime import Context
from aimon.stages.scan import health
from aimon.stages.scan.aggregate import Aggregator, ScanResult
from aimon.stages.scan.loki import feed
from aimon.state import checkpoints, meta
from aimon.state.db import iso


def run_scan(ctx: Context, paths: Sequence[str] | None, since: str | None) -> ScanResult:
    """Scan the given paths (default ``AIMON_LOG_PATHS``): incrementally, or read-only over ``--since``."""
    settings = ctx.settings
    since_ts = parse_since(since) if since is not None else None
    if not paths and settings.sources.kind == "loki":
        return _scan_loki(ctx, since_ts, since)
    patterns = list(paths or settings.sources.log_paths)
    if not patterns:
        raise UsageError("no log files to scan: pass paths (aimon scan /var/log/app.log) or set AIMON_LOG_PATHS.")
    files = expand_paths(patterns)
    aggregator = Aggregator(ctx, since=since_ts, read_only=since_ts is not None)
    reports: list[dict[str, Any]] = []
    unmatched = unmatched_globs(patterns)
    for pattern in unmatched:
        report: dict[str, Any] = {"source": pattern, "note": f"{pattern}: matches no file", "lines": 0, "bytes": 0}
        health.judge(ctx, report, "the pattern matches no file", record=since_ts is None)
        reports.append(report)
    health.clear_matched(ctx, [p for p in patterns if is_glob(p) and p not in unmatched], record=since_ts is None)
    held: list[_Held] = []
    for path in files:
        if ctx.deadline.expired():
            reports.append({"source": str(path), "note": "tick budget spent; left for the next tick"})
            continue
        if since_ts is None:
            report, open_panic = _scan_source(ctx, aggregator, path)
            reports.append(report)
            if open_panic is not None:
                held.append(open_panic)
        else:
            reports.append(_triage_source(ctx, aggregator, path, since_ts))
    _finish_held_panics(ctx, aggregator, held)
    aggregator.regroup()
    result = aggregator.result()
    result.sources, result.since = reports, since
    result.errors = health.failing(reports)
    result.exit_code = 1 if result.errors else 0  # a blind spot fails the scan; every other source was still read
    if since_ts is not None:
        result.detections = []
    return result


_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MINUTES_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2})(Z|[+-]\d{2}:?\d{2})?$")


def parse_since(text: str) -> float:
    """``1h``, ``30m``, ``2d`` (before now), a date (``2026-11-24``, its start in UTC) or an ISO time, with or without
    seconds and an offset (``2026-11-24T10:00+02:00``; none means UTC) → epoch seconds."""
    stripped = text.strip()
    try:
        return time.time() - parse_duration(stripped)
    except ValueError:
        pass
    if (date := _DATE_RE.match(stripped)) is not None:
        stripped = f"{stripped}T00:00:00Z"
    elif (minutes := _MINUTES_RE.match(stripped)) is not None:
        stripped = f"{minutes.group(1)}:00{minutes.group(2) or ''}"
    found = parse_timestamp(stripped) if len(stripped) >= 10 and stripped[:4].isdigit() else None
    if found is None or (date is not None and not _real_date(date)):
        raise UsageError(
            f"--since {text!r}: use a duration like 30m, 1h or 2d, a date like 2026-11-24, or an ISO time like "
            "2026-11-24T10:00:00+02:00."
        )
    return found


def _real_date(match: re.Match[str]) -> bool:
    try:
        datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False
    return True


def _scan_loki(ctx: Context, since_ts: float | None, since: str | None) -> ScanResult:
    aggregator = Aggregator(ctx, since=since_ts, read_only=since_ts is not None)
    notes = feed(ctx, aggregator, since_ts)
    aggregator.regroup()
    result = aggregator.result()
    result.since = since
    result.sources = [{"source": loki.source_key(ctx.settings), "note": "; ".join(notes or []) or None}]
    return result


@dataclass
class _Held:
    """A source whose read stopped before a panic block still open at the end of the live file."""

    task: ReadTask  # the live file's read, to continue from ``checkpoint``
    checkpoint: checkpoints.Checkpoint  # committed: where the block starts
    report: dict[str, Any]


_HELD_NOTE = "a panic at the end of the file is still being written; read next tick"


def _scan_source(ctx: Context, aggregator: Aggregator, path: Path) -> tuple[dict[str, Any], _Held | None]:
    """Read one source from its checkpoint, committing each stretch with the checkpoint it reached; also says where
    the read stopped before a panic still being written, for :func:`_finish_held_panics`."""
    source = str(path)
    checkpoint = checkpoints.load_checkpoint(ctx.db, source)
    plan = plan_reads(path, checkpoint, meta.seen_heads(ctx.db, source))
    report: dict[str, Any] = {"source": source, "note": plan.note, "lines": 0, "bytes": 0}
    remember = list(plan.seen)
    held: _Held | None = None
    for task in plan.tasks:
        if ctx.dry_run:
            # Nothing is checkpointed, so holding an unfinished panic for the next tick would only hide it (CI gate).
            task = replace(task, final=True)
        outcome, checkpoint = _read_and_commit(ctx, aggregator, task, checkpoint, remember, report)
        remember = []
        held = _Held(task, checkpoint, report) if outcome.held_panic and outcome.eof else None
        if outcome.held_panic:
            report["note"] = _join(report["note"], _HELD_NOTE)
        if not outcome.eof:
            report["note"] = _join(report["note"], "tick budget spent; the rest is read next tick")
            break
    health.judge(ctx, report, plan.problem, record=True)
    return report, held


def _read_and_commit(ctx: Context, aggregator: Aggregator, task: ReadTask, checkpoint: checkpoints.Checkpoint | None,
                     remember: list[str], report: dict[str, Any]) -> tuple[ReadOutcome, checkpoints.Checkpoint]:
    """Read one task and commit what it found with the checkpoint it reached (one transaction); add to ``report``."""
    source = report["source"]
    lines_before = aggregator.pending.lines
    batch, outcome = read_task(ctx, aggregator, source, task)
    aggregator.merge(batch)
    report["lines"] += aggregator.pending.lines - lines_before
    report["bytes"] += max(0, outcome.end - task.start)
    reached = checkpoints.Checkpoint(source, task.inode, task.device, task.head_hash, outcome.end, _size(task.path),
                                     iso(batch.last_ts))
    unchanged = checkpoint is not None and (checkpoint.inode, checkpoint.device, checkpoint.head_hash,
                                            checkpoint.offset) == (reached.inode, reached.device,
                                                                   reached.head_hash, reached.offset)
    heads = [*remember, task.head_hash or ""]

    malformed = dict(batch.malformed_reasons)

    def write(conn: sqlite3.Connection) -> None:
        checkpoints.save_checkpoint(conn, reached)
        meta.remember_heads(conn, source, heads)
        meta.count_malformed(conn, source, malformed, ctx.now())

    aggregator.commit(None if unchanged else write)
    return outcome, reached


# At most this many waits for a file to go quiet: a writer that keeps touching the file without closing the panic
# block (more and more backtrace lines) is left for the next tick rather than holding this one.
_SETTLE_ROUNDS = 3


def _finish_held_panics(ctx: Context, aggregator: Aggregator, held: list[_Held]) -> None:
    """A panic at the end of a live file is detected in this tick, not the next one.

    A panic block has no end marker: its backtrace may still be coming, so the read stopped before it. A panicking
    process writes the whole block at once (then usually dies), so once the file has been quiet for the settle delay
    the block is whole. The wait happens once, after every source was read, and only while the tick's budget allows;
    each source is then read on from the checkpoint it committed (the same file: a rotation in between is the next
    tick's), so nothing is read twice.
    """
    for _ in range(_SETTLE_ROUNDS):
        waiting = [item for item in held if _same_file(item)]
        if not waiting:
            return
        wait = max(settle_left(item.task.path) for item in waiting)
        if wait >= ctx.deadline.remaining():
            return
        time.sleep(wait)
        held = []
        for item in waiting:
            if not _same_file(item):  # rotated or truncated while we waited: the next tick's plan reads it
                continue
            task = replace(item.task, start=item.checkpoint.offset)
            outcome, reached = _read_and_commit(ctx, aggregator, task, item.checkpoint, [], item.report)
            if outcome.held_panic:
                held.append(_Held(task, reached, item.report))
            else:
                item.report["note"] = _unjoin(item.report["note"], _HELD_NOTE)
            if not outcome.eof:
                item.report["note"] = _join(item.report["note"], "tick budget spent; the rest is read next tick")


def _same_file(item: _Held) -> bool:
    """Is the path still the file the read stopped in (same inode, same first line, not shorter)?"""
    try:
        stat = item.task.path.stat()
    except OSError:
        return False
    return ((stat.st_ino, stat.st_dev) == (item.task.inode, item.task.device) and stat.st_size >= item.checkpoint.offset
            and head_hash(item.task.path) == item.task.head_hash)


def _triage_source(ctx: Context, aggregator: Aggregator, path: Path, since: float) -> dict[str, Any]:
    """Read-only: the file and its rotations that overlap ``[since, now]``, each from a line near ``since``; the report
    lists the files read and those left, each with why (:func:`aimon.logs.window.plan_window`)."""
    source = str(path)
    checkpoint = checkpoints.load_checkpoint(ctx.db, source)
    plan = plan_window(path, since, checkpoint, meta.seen_heads(ctx.db, source))
    report: dict[str, Any] = {"source": source, "note": "; ".join(plan.problems) or None, "lines": 0, "bytes": 0,
                              "files": [], "skipped": [{"path": _text(p), "why": why} for p, why in plan.skipped],
                              "unlisted": plan.unlisted}
    for task, why in plan.reads:
        start = 0 if task.gz else seek_time(task.path, since)
        task = replace(task, start=start)
        lines_before = aggregator.pending.lines
        batch, outcome = read_task(ctx, aggregator, str(task.path), task)
        aggregator.merge(batch)
        report["lines"] += aggregator.pending.lines - lines_before
        report["bytes"] += max(0, outcome.end - start)
        report["files"].append({"path": _text(task.path), "why": why})
        aggregator.commit(None)
    if not report["files"]:
        report["note"] = report["note"] or "nothing written in the window"
    problem = unreadable(path)
    missing = not path.exists() and not plan.reads
    health.judge(ctx, report, f"cannot read it ({problem})" if problem else "no such file" if missing else None, record=False)
    return report


def _text(path: Path) -> str:
    # A file name is bytes: one that is not UTF-8 (a neighbour's, listed as not read) is shown, not fatal to the JSON.
    return os.fsencode(path).decode("utf-8", "replace")


def _join(first: str | None, second: str) -> str:
    return second if not first else f"{first}; {second}"


def _unjoin(notes: str | None, note: str) -> str | None:
    """``notes`` without one ``note`` that :func:`_join` added."""
    if notes is None or notes == note:
        return None
    return notes.replace(f"; {note}", "") if notes.endswith(f"; {note}") else notes


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None

