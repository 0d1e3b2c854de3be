"""Reading the files of a scan: each stretch committed with the checkpoint it reached, panics at the end of a live
file finished in the same tick, and the read-only ``--since`` window.

Imported only when a source has something to read (:mod:`aimon.stages.scan.stage` checks that first), so an idle
tick loads no parser, no grouping and no aggregator.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aimon.logs.files import Plan, ReadTask, head_hash, unreadable
from aimon.logs.reader import ReadOutcome, read_task, seek_time, settle_left
from aimon.logs.window import plan_window
from aimon.runtime import Context
from aimon.stages.scan import health
from aimon.stages.scan.aggregate import Aggregator
from aimon.state import checkpoints, meta
from aimon.state.db import iso


@dataclass
class Held:
    """A source whose read stopped before a panic block still open at the end of the live file."""

    task: ReadTask  # the live file's read, to continue from ``checkpoint``
    checkpoint: checkpoints.Checkpoint  # committed: where the block starts
    report: dict[str, Any]


_HELD_NOTE = "a panic at the end of the file is still being written; read next tick"


def read_source(ctx: Context, aggregator: Aggregator, report: dict[str, Any], plan: Plan,
                checkpoint: checkpoints.Checkpoint | None) -> Held | None:
    """Read one source's ``plan`` from its checkpoint, committing each stretch with the checkpoint it reached, into
    ``report``; returns where the read stopped before a panic still being written, for :func:`finish_held_panics`."""
    remember = list(plan.seen)
    held: Held | None = None
    for index, task in enumerate(plan.tasks):
        if ctx.dry_run:
            # Nothing is checkpointed, so holding an unfinished panic for the next tick would only hide it (CI gate).
            task = replace(task, final=True)
        # The last read of a plan read to the end says the rotations the plan looked at were all seen.
        complete = plan.started if index == len(plan.tasks) - 1 else None
        outcome, checkpoint = _read_and_commit(ctx, aggregator, task, checkpoint, remember, report, complete)
        remember = []
        held = None
        if outcome.held_panic and outcome.eof:
            held = Held(replace(task, head_hash=checkpoint.head_hash), checkpoint, report)
        if outcome.held_panic:
            report["note"] = _join(report["note"], _HELD_NOTE)
        if not outcome.eof:
            # A file gone or replaced under the read stops the source, not only this file: reading the files after it
            # would move the checkpoint past lines it never read.
            report["note"] = _join(report["note"], _stopped(outcome))
            break
    return held


def _stopped(outcome: ReadOutcome) -> str:
    return f"{outcome.stopped or 'tick budget spent'}; the rest is read next tick"


def _read_and_commit(ctx: Context, aggregator: Aggregator, task: ReadTask, checkpoint: checkpoints.Checkpoint | None,
                     remember: list[str], report: dict[str, Any], complete: float | None = None,
                     ) -> tuple[ReadOutcome, checkpoints.Checkpoint]:
    """Read one task and commit what it found with the checkpoint it reached (one transaction); add to ``report``.

    ``complete``: the task is its plan's last, and the plan began then; if it reads to the end, that is the source's
    new :attr:`~aimon.state.checkpoints.Checkpoint.rotations_seen_at`."""
    source = report["source"]
    lines_before = aggregator.pending.lines
    batch, outcome = read_task(ctx, aggregator, source, task)
    aggregator.merge(batch)
    report["lines"] += aggregator.pending.lines - lines_before
    report["bytes"] += max(0, outcome.end - task.start)
    # A file planned before its first line was complete has its first line now: without it the next plan could not
    # find the file again once it is rotated and compressed, and would read it from the start a second time.
    head = task.head_hash or outcome.head
    seen_at = iso(complete) if complete is not None and outcome.eof else None
    reached = checkpoints.Checkpoint(source, task.inode, task.device, head, outcome.end, _size(task.path),
                                     iso(batch.last_ts), rotations_seen_at=seen_at)
    unchanged = checkpoint is not None and (checkpoint.inode, checkpoint.device, checkpoint.head_hash,
                                            checkpoint.offset) == (reached.inode, reached.device,
                                                                   reached.head_hash, reached.offset)
    heads = [*remember, head or ""]

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


def finish_held_panics(ctx: Context, aggregator: Aggregator, held: list[Held]) -> None:
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
                held.append(Held(task, reached, item.report))
            else:
                item.report["note"] = _unjoin(item.report["note"], _HELD_NOTE)
            if not outcome.eof:
                item.report["note"] = _join(item.report["note"], _stopped(outcome))


def _same_file(item: Held) -> bool:
    """Is the path still the file the read stopped in (same inode, same first line, not shorter)?"""
    try:
        stat = item.task.path.stat()
    except OSError:
        return False
    return ((stat.st_ino, stat.st_dev) == (item.task.inode, item.task.device) and stat.st_size >= item.checkpoint.offset
            and head_hash(item.task.path) == item.task.head_hash)


def triage_source(ctx: Context, aggregator: Aggregator, path: Path, since: float) -> dict[str, Any]:
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

