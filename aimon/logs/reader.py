"""Reading log files fast and exactly: big chunks, complete lines only, several processes for big stretches.

:func:`read_records` reads one stretch of one file through a :class:`~aimon.logs.parsing.chunks.LineScanner`; it stops
after the last complete line, and before a Rust panic block that is still open at the end of the file (unless the file
has been quiet for :data:`PANIC_SETTLE_SECONDS`, or will not grow: a rotated file). Lines longer than a chunk are
skipped in bounded memory and reported as malformed. :func:`read_task` folds a stretch into a :class:`RecordBatch`
that its caller makes (the scan's error groups), cutting a big one into pieces read by forked processes (each cut is
made before a line that starts a new record, so no panic block or text record spans two pieces). :func:`seek_time`
(:mod:`aimon.logs.timeseek`) finds where a time window starts in a time-ordered file by binary search.
"""

from __future__ import annotations

import os
import pickle
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from aimon.errors import StateError
from aimon.logs.files import CHUNK_BYTES, HEAD_BYTES, ReadTask, first_line_hash, open_binary
from aimon.logs.parsing import Item, Malformed
from aimon.logs.parsing.chunks import LineScanner
from aimon.logs.parsing.timestamps import DATED_START
from aimon.logs.timeseek import seek_time
from aimon.model import LogRecord
from aimon.runtime import Context

PANIC_SETTLE_SECONDS = 5.0
PARALLEL_MIN_BYTES = 64 * 1024 * 1024  # below this one process reads faster than two start
MAX_WORKERS = 4


# ----------------------------------------------------------------------------------------------------------- reading


@dataclass
class ReadOutcome:
    """Where a read stopped: ``end`` is just past the last line consumed (complete lines, no open panic block)."""

    end: int
    lines: int = 0
    eof: bool = True
    held_panic: bool = False
    head: str | None = None  # the first-line hash of what was read, when the read began at offset 0
    stopped: str | None = None  # why the read ended before the end of the file it was planned for (``eof`` is False)


def read_records(
    task: ReadTask,
    scanner: LineScanner,
    outcome: ReadOutcome,
    *,
    stop: int | None = None,
    hold_panic: bool | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Item]:
    """Records of ``task.path`` from ``task.start`` (to ``stop``, a line boundary, when given).

    Fills ``outcome`` as it goes; when the generator is exhausted ``outcome.end`` is the offset to checkpoint.
    ``should_stop`` is asked between chunks (a tick deadline): the read then ends early at a line boundary.
    """
    if hold_panic is None:
        hold_panic = not task.final and not _quiet(task.path)
    outcome.end = task.start
    try:
        stream = open_binary(task.path, task.gz)
    except OSError as exc:
        # Planned a moment ago, gone now: renamed or compressed by a rotation in between. Nothing was read; the next
        # plan finds it under its new name (by its first line) and goes on from here.
        _stop(outcome, f"{task.path.name} went away before it could be read ({exc.strerror or exc})")
        return
    with stream:
        opened = os.fstat(stream.fileno())
        if task.inode is not None and (opened.st_ino, opened.st_dev) != task.file_id():
            _stop(outcome, f"{task.path.name} was replaced (rotated) before it could be read")
            return
        if not task.gz and task.head_hash is not None and _first_line(stream) != task.head_hash:
            # The same file, but emptied in place (copytruncate) and written again since the plan: reading it from
            # the planned offset would take its new lines for the rest of the old ones.
            _stop(outcome, f"{task.path.name} was truncated (copytruncate) before it could be read")
            return
        if task.start:
            stream.seek(task.start)
        yield from read_stream(stream, scanner, outcome, task.start, stop=stop, hold_panic=hold_panic,
                               should_stop=should_stop, progress=progress)


def _first_line(stream: Any) -> str | None:
    return first_line_hash(os.pread(stream.fileno(), HEAD_BYTES, 0))


class Readable(Protocol):
    """A binary stream read into a buffer (a file, a gzip stream, ``io.BytesIO``, standard input)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


def read_stream(
    stream: Readable,
    scanner: LineScanner,
    outcome: ReadOutcome,
    start: int = 0,
    *,
    stop: int | None = None,
    hold_panic: bool = False,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Item]:
    """Records of an open binary stream positioned at file offset ``start``: what :func:`read_records` reads a file
    with (and ``aimon fingerprint`` its input with), in chunks, complete lines only."""
    lines_before = scanner.lines
    buf = bytearray(CHUNK_BYTES)
    view = memoryview(buf)
    position = start  # file offset of buf[0]
    filled = 0  # bytes in buf carried over from the last chunk (an incomplete line)
    skipping: int | None = None  # start offset of an over-long line being skipped
    outcome.end = start
    while True:
        want = CHUNK_BYTES - filled
        if stop is not None:
            want = min(want, stop - position - filled)
        got = stream.readinto(view[filled : filled + want]) if want > 0 else 0
        total = filled + (got or 0)
        if total == 0:
            break
        if position == 0 and outcome.head is None:
            outcome.head = first_line_hash(view[:total])
        last = buf.rfind(b"\n", 0, total)
        if skipping is not None:
            if last < 0:
                position, filled = position + total, 0
                if not got:
                    break
                continue
            newline = buf.find(b"\n", 0, total)
            scanner.lines += 1
            yield skipping, Malformed(f"line longer than {CHUNK_BYTES} bytes")
            skipping = None
            _shift(buf, newline + 1, total)
            position, filled = position + newline + 1, total - newline - 1
            outcome.end = position
            continue
        if last < 0:
            if total == CHUNK_BYTES:  # one line fills the whole buffer: skip it in bounded memory
                skipping, position, filled = position, position + total, 0
                continue
            break  # an incomplete last line: read it next time
        yield from scanner.scan(buf, last + 1, position)
        _shift(buf, last + 1, total)
        position, filled = position + last + 1, total - last - 1
        outcome.end = position
        if progress is not None:
            progress(position)
        if not got or (should_stop is not None and should_stop()):
            outcome.eof = not got
            break
    if skipping is not None:
        outcome.end = skipping
    if scanner.assembler.in_panic:
        at_cut = stop is not None and outcome.end >= stop  # the next line starts a record: the block is whole
        if at_cut or (outcome.eof and not hold_panic):
            yield from scanner.assembler.flush()
        else:  # it may go on: leave the block for the next read
            pending = scanner.assembler.pending_offset
            scanner.lines -= scanner.assembler.pending_lines
            scanner.assembler.drop_pending()
            outcome.end, outcome.held_panic = pending if pending is not None else outcome.end, True
    # A text record ends where its file ends for now: its writer wrote the event in one piece, newline last.
    yield from scanner.assembler.close_text()
    outcome.lines += scanner.lines - lines_before


def _stop(outcome: ReadOutcome, why: str) -> None:
    outcome.eof, outcome.stopped = False, why


def _shift(buf: bytearray, start: int, total: int) -> None:
    # Move the incomplete tail to the front of the buffer (usually a few hundred bytes).
    if start < total:
        buf[0 : total - start] = buf[start:total]


def _quiet(path: Path) -> bool:
    return settle_left(path) <= 0.0


def settle_left(path: Path) -> float:
    """Seconds until ``path`` has been quiet (unmodified) for :data:`PANIC_SETTLE_SECONDS`; 0 when it already has."""
    try:
        return max(0.0, PANIC_SETTLE_SECONDS - (time.time() - path.stat().st_mtime))
    except OSError:
        return 0.0


# ----------------------------------------------------------------------------------------------------- splitting


# A JSON event (one whole object on its line) or a dated text line (behind ANSI colours, maybe): the start of a record.
_SAFE_START = re.compile(rb"\n(?=\{[^\n]*\}[ \t\r]*\n|(?:\x1b\[[0-9;]*m)*" + DATED_START.encode() + rb")")


def split_points(path: Path, start: int, end: int, parts: int) -> list[int]:
    """Offsets that cut ``[start, end)`` into about ``parts`` pieces at lines that start a new record.

    A cut is made only before a JSON event or a line that starts with a timestamp, which closes any panic block or
    text record: each piece can then be read on its own. Returns the inner cut points (maybe fewer than ``parts - 1``).
    """
    cuts: list[int] = []
    with open(path, "rb") as stream:
        for index in range(1, parts):
            nominal = start + (end - start) * index // parts
            stream.seek(nominal)
            window = stream.read(1 << 20)
            match = _SAFE_START.search(window)
            if match is None:
                continue
            cut = nominal + match.start() + 1
            if (cuts[-1] if cuts else start) < cut < end:
                cuts.append(cut)
    return cuts


# ----------------------------------------------------------------------------------------------------- reading a task


class RecordBatch(Protocol):
    """What a read folds records into. It must pickle (a forked reader sends its batch back through a pipe)."""

    lines: int

    def add(self, source: str, offset: int | None, record: LogRecord, fallback_ts: float | None = None) -> object:
        """Fold in one record read at ``offset``; ``fallback_ts`` stands for a record without a time."""
        ...

    def add_malformed(self, reason: str, count: int = 1) -> None:
        """Count lines that could not be read, and why."""
        ...

    def merge(self, later: Self) -> None:
        """Fold in the batch of the stretch that follows this one."""
        ...


_Batch = TypeVar("_Batch", bound=RecordBatch)
_MadeBatch = TypeVar("_MadeBatch", bound=RecordBatch, covariant=True)


class BatchMaker(Protocol[_MadeBatch]):
    """Where the batches come from (the scan's aggregator)."""

    def new_batch(self) -> _MadeBatch:
        """An empty batch."""
        ...

    def ready(self) -> None:
        """Load everything that needs the state file, before any fork (a child never touches the connection)."""


def read_task(ctx: Context, maker: BatchMaker[_Batch], source: str, task: ReadTask) -> tuple[_Batch, ReadOutcome]:
    """Read one task, in several processes when it is big (a cut is made only where a new record starts)."""
    new_batch = maker.new_batch
    size = _size(task.path) or 0
    workers = worker_count()
    if task.gz or workers < 2 or size - task.start < PARALLEL_MIN_BYTES or not hasattr(os, "fork"):
        return _read_segment(ctx, new_batch, source, task, None, progress_scale=1)
    cuts = split_points(task.path, task.start, size, workers)
    if not cuts:
        return _read_segment(ctx, new_batch, source, task, None, progress_scale=1)
    bounds = list(zip([task.start, *cuts], [*cuts, None], strict=True))
    jobs: list[Callable[[], tuple[_Batch, ReadOutcome]]] = [
        partial(_read_segment, ctx, new_batch, source, replace(task, start=start), stop,
                progress_scale=len(bounds) if index == 0 else 0)
        for index, (start, stop) in enumerate(bounds)
    ]
    maker.ready()
    results = fork_map(jobs)
    batch, outcome = results[0]
    for later_batch, later_outcome in results[1:]:
        if not outcome.eof:  # a piece stopped short (its file was replaced): what follows it is read next tick
            break
        batch.merge(later_batch)
        outcome = replace(later_outcome, lines=outcome.lines + later_outcome.lines, head=outcome.head)
    return batch, outcome


def _read_segment(
    ctx: Context, new_batch: Callable[[], _Batch], source: str, task: ReadTask, stop: int | None, *, progress_scale: int
) -> tuple[_Batch, ReadOutcome]:
    settings = ctx.settings
    scanner = LineScanner(settings.sources.log_format, settings.sources.error_code_fields, settings.sources.min_level)
    batch = new_batch()
    outcome = ReadOutcome(task.start)
    try:
        fallback = task.path.stat().st_mtime
    except OSError:
        fallback = None
    total = (_size(task.path) or 0) if not task.gz else 0
    progress = None
    if ctx.progress is not None and progress_scale and total > task.start:
        report, label = ctx.progress, task.path.name

        def progress(position: int) -> None:
            # With several workers only the first reports: its share, scaled, stands for the whole.
            report(label, min(total - task.start, (position - task.start) * progress_scale), total - task.start)
    try:
        for offset, item in read_records(task, scanner, outcome, stop=stop, progress=progress,
                                         should_stop=ctx.deadline.expired if stop is None else None):
            if isinstance(item, Malformed):
                batch.add_malformed(item.reason)
            else:
                batch.add(source, offset, item, scanner.assembler.last_ts or fallback)
    except (OSError, EOFError, ValueError) as exc:  # a corrupt .gz, a file that vanished mid-read
        ctx.notice(f"{task.path}: stopped reading at byte {outcome.end}: {exc}")
        if task.gz and not _quiet(task.path):  # a rotation still being compressed: the rest is there next tick
            _stop(outcome, f"{task.path.name} is still being compressed")
    batch.lines = outcome.lines
    return batch, outcome


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def worker_count() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def fork_map(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs in parallel: all but the first in forked children, the first here; results in order.

    Children share nothing but the pipe they write their pickled result to, and leave with ``os._exit``: they never
    touch the state file or the parent's buffers.
    """
    children: list[tuple[int, int]] = []
    for job in jobs[1:]:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_end)
            try:
                payload = pickle.dumps(("ok", job()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
            os._exit(0)
        os.close(write_end)
        children.append((pid, read_end))
    results = [jobs[0]()]
    errors = []
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        status, value = pickle.loads(data) if data else ("error", "worker died")
        if status == "ok":
            results.append(value)
        else:
            errors.append(value)
    if errors:
        raise StateError(f"a scan worker failed: {errors[0]}")
    return results


__all__ = ["ReadOutcome", "read_records", "read_stream", "read_task", "seek_time", "split_points"]
