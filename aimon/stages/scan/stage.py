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

import re
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aimon.config import parse_duration
from aimon.errors import UsageError
from aimon.logs.files import Plan, expand_paths, is_glob, plan_reads, unmatched_globs
from aimon.runtime import Context
from aimon.stages.scan import health
from aimon.stages.scan.result import ScanResult
from aimon.state import checkpoints, meta

if TYPE_CHECKING:
    from aimon.stages.scan.aggregate import Aggregator
    from aimon.stages.scan.reading import Held


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
    aggregator = _Aggregation(ctx, since_ts)
    reports: list[dict[str, Any]] = []
    unmatched = unmatched_globs(patterns)
    for pattern in unmatched:
        report: dict[str, Any] = {"source": pattern, "note": f"{pattern}: matches no file", "lines": 0, "bytes": 0}
        health.judge(ctx, report, "the pattern matches no file", record=since_ts is None)
        reports.append(report)
    health.clear_matched(ctx, [p for p in patterns if is_glob(p) and p not in unmatched], record=since_ts is None)
    held: list[Held] = []
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
            from aimon.stages.scan.reading import triage_source

            reports.append(triage_source(ctx, aggregator.get(), path, since_ts))
    if held:
        from aimon.stages.scan.reading import finish_held_panics

        finish_held_panics(ctx, aggregator.get(), held)
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
    from aimon.logs.parsing.timestamps import parse_timestamp

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
    from aimon.logs import loki
    from aimon.stages.scan.aggregate import Aggregator
    from aimon.stages.scan.loki import feed

    aggregator = Aggregator(ctx, since=since_ts, read_only=since_ts is not None)
    notes = feed(ctx, aggregator, since_ts)
    aggregator.regroup()
    result = aggregator.result()
    result.since = since
    result.sources = [{"source": loki.source_key(ctx.settings), "note": "; ".join(notes or []) or None}]
    return result


class _Aggregation:
    """The scan's :class:`~aimon.stages.scan.aggregate.Aggregator`, made when a source first has something to read:
    a tick with nothing new loads no parser and no grouping, and reports an empty result."""

    def __init__(self, ctx: Context, since_ts: float | None) -> None:
        self._ctx, self._since = ctx, since_ts
        self._made: Aggregator | None = None

    def get(self) -> Aggregator:
        if self._made is None:
            from aimon.stages.scan.aggregate import Aggregator

            self._made = Aggregator(self._ctx, since=self._since, read_only=self._since is not None)
        return self._made

    def result(self) -> ScanResult:
        if self._made is None:
            return ScanResult()
        self._made.regroup()
        return self._made.result()


def _scan_source(ctx: Context, aggregator: _Aggregation, path: Path) -> tuple[dict[str, Any], Held | None]:
    """Read one source from its checkpoint (:func:`aimon.stages.scan.reading.read_source`) unless it has nothing new;
    judge its health either way."""
    source = str(path)
    checkpoint = checkpoints.load_checkpoint(ctx.db, source)
    plan = plan_reads(path, checkpoint, meta.seen_heads(ctx.db, source))
    report: dict[str, Any] = {"source": source, "note": plan.note, "lines": 0, "bytes": 0}
    held = None
    if not _nothing_new(path, plan, checkpoint):
        from aimon.stages.scan.reading import read_source

        held = read_source(ctx, aggregator.get(), report, plan, checkpoint)
    health.judge(ctx, report, plan.problem, record=True)
    return report, held


def _nothing_new(path: Path, plan: Plan, checkpoint: checkpoints.Checkpoint | None) -> bool:
    """Would reading ``plan`` read nothing and write nothing? One task, on the file the checkpoint is in, from the
    checkpoint, which is already at the end of the file: the usual minute of a quiet service."""
    if checkpoint is None or plan.seen or len(plan.tasks) != 1:
        return False
    task = plan.tasks[0]
    if task.path != path or task.gz:
        return False
    same = (task.inode, task.device, task.head_hash, task.start) == (
        checkpoint.inode, checkpoint.device, checkpoint.head_hash, checkpoint.offset)
    try:
        return same and path.stat().st_size == task.start
    except OSError:
        return False
