"""What the log file says around one stored error: its request's trail, the warnings its code logged just before it,
and the panic its thread wrote just before it.

The file is re-read within ±:data:`WINDOW_BYTES` of the error's stored byte offset (never whole). Which lines belong
to the error is decided from the parsed records, never from how a line looks:

* the **request trail**: the records that carry the error's request id (from the event or its spans);
* the **panic before it**: an error logged right after a panic *in the same thread* (a panic hook, a thread's
  unwinding code: "worker thread panicked; shutting down") is about that panic. Same thread means the same thread
  name on both records, with nothing else logged by that thread in between; when the error's thread name is unknown
  (formats without thread names) only a panic written immediately before the error counts;
* the **request of a stderr panic** (:func:`panic_request`): a panic printed on stderr names its thread, not its
  request; it is the request that logged on that thread just before, when exactly one did — otherwise the request is
  said to be unknown, never guessed;
* the **warnings before** (:func:`warnings_before`): the WARN-or-worse lines of the error's own target just before it,
  outside its request trail; unrelated INFO lines of other requests are left out;
* the **clues**: the lines the offline diagnoser may take a cause from — the request's own WARN-or-worse lines
  before the error. Lines of other requests, and lines whose request is only a guess, are never clues.
"""

from __future__ import annotations

import bisect
import gzip
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from aimon.config import Settings
from aimon.model import LEVEL_RANK, LogRecord
from aimon.stages.diagnose.event import event_text, location, render_record, thread_name
from aimon.stages.diagnose.source import own_frames

WINDOW_BYTES = 1 << 20  # how far around the error the file is re-read for its request trail
BEFORE_LINES = 20  # lines looked at just before the error (the panic before it, the request of a stderr panic)
BEFORE_WARNINGS = 8  # WARN-or-worse lines of the error's target shown from before it
MAX_TRAIL_LINES = 200  # a runaway request (a retry loop) should not fill the context
NEAR_BEFORE = 4 * BEFORE_LINES + 20  # lines parsed whole before the error (multi-line records take several)
NEAR_AFTER = 400  # and after it (the rest of a panic block)


@dataclass
class PanicBefore:
    """The panic the error's thread wrote just before the error: ``lines`` as shown ([P1], then its own frames)."""

    thread: str | None
    location: str | None
    message: str
    lines: list[str]


@dataclass
class Trail:
    """What :func:`read_trail` found (``lines``: the request trail, ``>>`` marks the error)."""

    lines: list[str] = field(default_factory=list)
    error_index: int | None = None
    request_id: str | None = None
    inferred: bool = False
    before: list[str] = field(default_factory=list)
    clues: list[str] = field(default_factory=list)
    panic: PanicBefore | None = None
    panic_record: LogRecord | None = None
    missing: list[str] = field(default_factory=list)


def read_trail(settings: Settings, records: list[tuple[sqlite3.Row, LogRecord]]) -> Trail:
    """The trail, the lines before and the panic before the latest stored occurrence that has a file position."""
    found = Trail()
    candidates = [(occ, rec) for occ, rec in records if occ["offset"] is not None and not str(occ["source"]).startswith("loki:")]
    if not candidates:
        found.missing.append("request trail and preceding lines: no occurrence with a file position (Loki source or none stored)")
        return found
    with_rid = [(occ, rec) for occ, rec in candidates if occ["request_id"] or rec.request_id]
    occ, stored = (with_rid or candidates)[-1]
    path, offset = Path(occ["source"]), int(occ["offset"])
    rid = occ["request_id"] or stored.request_id
    try:
        window = list(read_window(path, offset, settings, needle=rid))
        index = _find_error(window, offset, stored)
        if index is not None and not rid and stored.is_panic:
            rid, unknown = panic_request(window, index)
            if rid:
                found.inferred = True
                window = list(read_window(path, offset, settings, needle=rid))
                index = _find_error(window, offset, stored)
            elif unknown:
                found.missing.append(unknown)
    except OSError as exc:
        found.missing.append(f"request trail: cannot read {path.name} ({exc.strerror or exc})")
        return found
    if index is None:
        found.missing.append(f"request trail: the error is no longer at its position in {path.name} (rotated or rewritten)")
        return found
    error_offset = window[index][0]
    trail_offsets: set[int] = set()
    if rid:
        found.request_id = str(rid)
        trail = [(off, rec) for off, rec in window if rec.request_id == rid or (rec.request_id is None and str(rid) in rec.raw)]
        trail = _nearest(trail, error_offset, MAX_TRAIL_LINES)
        trail_offsets = {off for off, _ in trail}
        if found.inferred:
            trail = [item for item in trail if item[0] < error_offset] + [window[index]]
        for number, (off, rec) in enumerate(trail, 1):
            if off == error_offset:
                found.error_index = number - 1
            elif off < error_offset and not found.inferred and rec.rank >= LEVEL_RANK["WARN"]:
                found.clues.append(f"[T{number}] {event_text(rec)}")
            found.lines.append(f"{'>> ' if off == error_offset else ''}[T{number}] {render_record(rec, omit=str(rid))}")
    elif not any(note.startswith("request unknown") for note in found.missing):
        found.missing.append("request trail: the error carries no request id")
    panic_index = None if stored.is_panic else preceding_panic(window, index)
    if panic_index is not None:
        # The panic is the evidence; what other requests logged meanwhile is not shown.
        found.panic_record = window[panic_index][1]
        found.panic = _panic_before(found.panic_record, stored.target, settings.repo_dir)
        return found
    found.before = [f"[B{number}] {render_record(rec)}" for number, rec in enumerate(warnings_before(window, index, trail_offsets), 1)]
    return found


def warnings_before(window: list[tuple[int, LogRecord]], index: int, exclude: set[int]) -> list[LogRecord]:
    """What the error's own code and thread said just before it, not already in its request trail: the WARN-or-worse
    lines of its target (the last :data:`BEFORE_WARNINGS`) and, for a panic, the lines its thread logged outside any
    request (a background job's own lines). Other requests' INFO lines are left out: they are their business."""
    error = window[index][1]
    start = max(0, index - NEAR_BEFORE)
    found = [(off, rec) for off, rec in window[start:index]
             if off not in exclude and rec.rank >= LEVEL_RANK["WARN"] and rec.target == error.target
             and rec.message != error.message][-BEFORE_WARNINGS:]  # earlier occurrences are the samples already
    if error.is_panic:
        found.extend((off, rec) for off, rec in window[max(0, index - BEFORE_LINES) : index]
                     if off not in exclude and not rec.request_id and _may_be_same_thread(rec, error))
    kept = {off: rec for off, rec in sorted(found, key=lambda item: item[0])}
    return list(kept.values())


def panic_request(window: list[tuple[int, LogRecord]], index: int) -> tuple[str | None, str | None]:
    """The request of a panic printed without one: ``(request id, None)`` when exactly one request logged on the
    panic's thread in the :data:`BEFORE_LINES` lines before it, else ``(None, why the request is unknown)``.

    A stderr panic names its thread, not its request; a runtime's workers share one name, so when several requests
    were logging on that name just before, any pick would be a guess — and a wrong trail misleads more than none."""
    panic = window[index][1]
    name = thread_name(panic)
    requests = []
    for _off, rec in window[max(0, index - BEFORE_LINES) : index]:
        if rec.request_id and _may_be_same_thread(rec, panic) and rec.request_id not in requests:
            requests.append(rec.request_id)
    if len(requests) == 1:
        return requests[0], None
    on = f"threads named {name}" if name else "threads the log does not name"
    if not requests:
        return None, f"request unknown: the panic carries no request id and no line of its thread ({on}) names one just before it"
    return None, (f"request unknown: the panic carries no request id and {len(requests)} requests logged on {on} just before it; "
                  "which one panicked cannot be told")


def preceding_panic(window: list[tuple[int, LogRecord]], index: int, limit: int = BEFORE_LINES) -> int | None:
    """The index of the panic that the record at ``index`` follows in the same thread, or None (see the module doc)."""
    name = thread_name(window[index][1])
    for back in range(index - 1, max(-1, index - 1 - limit), -1):
        rec = window[back][1]
        if name is None:
            return back if rec.is_panic else None  # no thread to follow: only the record just before counts
        same = thread_name(rec) == name
        if rec.is_panic and same:
            return back
        if same:
            return None  # the thread logged something else after any earlier panic
    return None


def _may_be_same_thread(a: LogRecord, b: LogRecord) -> bool:
    first, second = thread_name(a), thread_name(b)
    return first is None or second is None or first == second


def _panic_before(record: LogRecord, target: str | None, repo: Path | None) -> PanicBefore:
    lines = [f"[P1] {render_record(record)}"]
    frames = own_frames(record.backtrace, target, repo)
    lines.extend(f"[P1 F{number}] {text}" for number, (text, _path, _line) in enumerate(frames, 1))
    return PanicBefore(thread=thread_name(record), location=location(record), message=record.message, lines=lines)


def _nearest(items: list[tuple[int, LogRecord]], offset: int, limit: int) -> list[tuple[int, LogRecord]]:
    if len(items) <= limit:
        return items
    kept = sorted(items, key=lambda item: abs(item[0] - offset))[:limit]
    return sorted(kept, key=lambda item: item[0])


def _find_error(window: list[tuple[int, LogRecord]], offset: int, stored: LogRecord) -> int | None:
    for index, (off, rec) in enumerate(window):
        if off == offset and rec.message == stored.message:
            return index
    # The file moved under us (rotation, truncation): the same message nearest to where it was.
    same = [(abs(off - offset), index) for index, (off, rec) in enumerate(window) if rec.message == stored.message and rec.raw == stored.raw]
    return min(same)[1] if same else None


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def read_window(path: Path, offset: int, settings: Settings, radius: int = WINDOW_BYTES, needle: str | None = None) -> Iterator[tuple[int, LogRecord]]:
    """The records within ±``radius`` bytes of ``offset`` in ``path`` (whole lines only), with their offsets.

    With ``needle`` (a request id) only the lines near the error (:data:`NEAR_BEFORE` before, :data:`NEAR_AFTER`
    after, enough for the lines before it and a panic's backtrace) and the lines that contain the needle are parsed:
    a megabyte of other requests' lines is skipped with a byte search instead of being decoded.
    """
    from aimon.logs.parsing import iter_records

    start = max(0, offset - radius)
    wanted = offset - start + radius
    with _open(path) as handle:
        handle.seek(start)
        data = handle.read(wanted)
    if len(data) == wanted:  # not at the end of the file: drop the partial last line
        data = data[: data.rfind(b"\n") + 1]
    if start > 0:  # drop the partial first line
        cut = data.find(b"\n")
        if cut < 0:
            return
        data, start = data[cut + 1 :], start + cut + 1
    lines: list[tuple[int, bytes]] = []
    position = start
    for line in data.splitlines(keepends=True):
        lines.append((position, line))
        position += len(line)
    if needle is not None and needle.isascii() and needle.isprintable() and not any(c in needle for c in '"\\'):
        here = bisect.bisect_left(lines, offset, key=lambda item: item[0])
        key = needle.encode()
        lines = [item for index, item in enumerate(lines) if here - NEAR_BEFORE <= index <= here + NEAR_AFTER or key in item[1]]
    for off, item in iter_records(lines, settings.sources.log_format, settings.sources.error_code_fields):
        if isinstance(item, LogRecord):
            yield off, item
