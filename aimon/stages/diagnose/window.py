"""A spike's occurrences, sampled across its window from the log file itself.

Scan keeps the first and the latest few occurrences of a group (``aimon.state.groups.keep_occurrences``). For a spike
those say how the error began long ago and how the burst ended, not what happened during it: whether one order or
every order failed, one customer or all, one amount or any. So the file is re-read for the window:

* where the window starts is found by binary search on the file's timestamps (:func:`aimon.logs.timeseek.seek_time`),
  and records are read from there until the window ends, at most :data:`WINDOW_READ_BYTES` in all;
* only the group's own records are taken: each record is fingerprinted as scan does it (the same rules and the
  aliases grouping has learned, so a record of a merged template counts for its canonical group);
* up to :data:`WINDOW_SAMPLES` are picked evenly by log time (:func:`spread`): the first in the window, the last,
  and the ones nearest to the times evenly between.

Re-reading at diagnose time (not keeping window samples at scan time) costs nothing per scan and keeps the state file
as small as it is; the price is that a file rotated away no longer holds the window: then the stored occurrences are
shown, and the context says why (:attr:`Spread.missing`).
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aimon.config import Settings
from aimon.grouping.detect import cached_fingerprinter
from aimon.grouping.fingerprint import Fingerprinter, fold_digits
from aimon.grouping.learned import load_learned
from aimon.logs.files import ReadTask, is_gz
from aimon.logs.parsing.chunks import LineScanner
from aimon.logs.reader import ReadOutcome, read_records
from aimon.logs.timeseek import seek_time
from aimon.model import LEVEL_RANK, LogRecord
from aimon.stages.diagnose.event import event_text
from aimon.state.db import parse_iso

WINDOW_SAMPLES = 5  # occurrences shown from across a spike window
WINDOW_READ_BYTES = 64 << 20  # at most this much log is re-read for one spike (all its files together)
MAX_KEPT = 4096  # matches kept while reading a long window (thinned evenly, see _Thinned)
LATE_SECONDS = 60.0  # records logged out of order: a record this long past the window's end counts as after it
AFTER_RECORDS = 50  # reading stops after this many records in a row after the window (one clock jump does not stop it)


@dataclass
class Spread:
    """What :func:`window_samples` found: the ``records`` picked (oldest first), or why none (``missing``)."""

    records: list[LogRecord] = field(default_factory=list)
    missing: str | None = None


def window_samples(conn: sqlite3.Connection, settings: Settings, fingerprint: str, detection: dict[str, Any],
                   occurrences: list[sqlite3.Row]) -> Spread:
    """Up to :data:`WINDOW_SAMPLES` occurrences of ``fingerprint`` spread across the spike ``detection``'s window,
    re-read from the files its stored ``occurrences`` came from (see the module doc)."""
    start, end = parse_iso(detection.get("window_start")), parse_iso(detection.get("window_end"))
    if start is None or end is None:
        return Spread(missing="spike samples: the detection has no window; the stored occurrences are shown")
    paths = _source_paths(occurrences)
    if not paths:
        return Spread(missing="spike samples: no stored occurrence has a file position (Loki source or none stored); "
                              "the stored occurrences are shown")
    belongs = _member_test(conn, settings, fingerprint)
    found: list[tuple[float, LogRecord]] = []
    budget = WINDOW_READ_BYTES
    for path in paths:
        try:
            records, used = _read_window(path, settings, start.timestamp(), end.timestamp(), belongs, budget)
        except OSError as exc:
            return Spread(missing=f"spike samples: cannot read {path.name} ({exc.strerror or exc}); the stored occurrences are shown")
        found.extend(records)
        budget -= used
    if not found:
        names = ", ".join(path.name for path in paths)
        return Spread(missing=f"spike samples: {names} no longer holds the spike window (rotated or rewritten); "
                              "the stored occurrences are shown")
    found.sort(key=lambda item: item[0])
    return Spread(records=spread(found, WINDOW_SAMPLES))


def spread(items: list[tuple[float, LogRecord]], count: int) -> list[LogRecord]:
    """Up to ``count`` of the time-ordered ``items``: the first, the last, and the nearest to the times evenly between
    (the earlier one on a tie); a record that says what an earlier pick already says is left out."""
    if len(items) <= count:
        chosen = list(range(len(items)))
    else:
        times = [ts for ts, _ in items]
        first, last = times[0], times[-1]
        chosen = [0, len(items) - 1]  # by position: several records may share the first or the last time
        for step in range(1, count - 1):
            target = first + (last - first) * step / (count - 1)
            index = _nearest_free(times, target, set(chosen))
            if index is not None:
                chosen.append(index)
    picked: list[LogRecord] = []
    said: set[str] = set()
    for index in sorted(chosen):
        record = items[index][1]
        text = event_text(record)
        if text not in said:
            said.add(text)
            picked.append(record)
    return picked


def _nearest_free(times: list[float], target: float, taken: set[int]) -> int | None:
    """The index of the time nearest to ``target`` that is not ``taken`` (the earlier one on a tie)."""
    here = bisect.bisect_left(times, target)
    below, above = here - 1, here
    while below >= 0 or above < len(times):
        while below >= 0 and below in taken:
            below -= 1
        while above < len(times) and above in taken:
            above += 1
        if below < 0 and above >= len(times):
            return None
        if above >= len(times):
            return below
        if below < 0:
            return above
        return below if target - times[below] <= times[above] - target else above
    return None


def _source_paths(occurrences: list[sqlite3.Row]) -> list[Path]:
    """The files the stored occurrences were read from (the latest one's first), Loki streams left out."""
    paths: list[Path] = []
    for occ in reversed(occurrences):
        source = str(occ["source"] or "")
        if occ["offset"] is None or not source or source.startswith("loki:"):
            continue
        path = Path(source)
        if path not in paths:
            paths.append(path)
    return paths


def _member_test(conn: sqlite3.Connection, settings: Settings, fingerprint: str) -> Callable[[LogRecord], bool]:
    """Whether a record belongs to ``fingerprint``, as scan decides it: the configured rules, then masking, then the
    merges grouping has learned (a record of an alias template gets the canonical id)."""
    learned = load_learned(conn)
    wanted = {fingerprint, learned.aliases.get(fingerprint, fingerprint)}
    fold = None if settings.fingerprint_rules else fold_digits  # exact for the built-in masking only
    identity = cached_fingerprinter(Fingerprinter(settings.fingerprint_rules, learned=learned), fold)
    return lambda record: identity(record)[0] in wanted


def _read_window(path: Path, settings: Settings, start: float, end: float, belongs: Callable[[LogRecord], bool],
                 budget: int) -> tuple[list[tuple[float, LogRecord]], int]:
    """The group's records logged in ``[start, end)`` in ``path`` (thinned to about :data:`MAX_KEPT`, the last one
    always kept) and how many bytes were read for them."""
    if budget <= 0 or not path.is_file():
        return [], 0
    gz = is_gz(path)
    begin = 0 if gz else seek_time(path, start)  # a compressed file cannot be searched: it is read from its start
    sources = settings.sources
    scanner = LineScanner(sources.log_format, sources.error_code_fields, sources.min_level)
    min_rank = LEVEL_RANK.get(sources.min_level, LEVEL_RANK["ERROR"])
    outcome = ReadOutcome(end=begin)
    task = ReadTask(path, begin, None, None, None, gz=gz, final=True)
    kept = _Thinned()
    after = 0
    for ts, record in _timed(read_records(task, scanner, outcome, stop=begin + budget, hold_panic=False)):
        after = after + 1 if ts >= end + LATE_SECONDS else 0
        if after >= AFTER_RECORDS:
            break
        if start <= ts < end and (record.is_panic or record.rank >= min_rank) and belongs(record):
            kept.add((ts, record))
    return kept.items(), max(0, outcome.end - begin)


def _timed(items: Iterator[tuple[int, Any]]) -> Iterator[tuple[float, LogRecord]]:
    """The records among ``items`` with their log time; a record without one (a panic printed on stderr) takes the
    time of the record before it, as scan counts it."""
    last: float | None = None
    for _offset, item in items:
        if not isinstance(item, LogRecord):
            continue
        ts = item.ts if item.ts is not None else last
        if ts is None:
            continue
        last = ts
        yield ts, item


class _Thinned:
    """The matches of a window as they come, thinned evenly: every ``stride``-th is kept, the stride doubling (and
    every other kept one dropped) whenever more than :data:`MAX_KEPT` are held; the latest is always kept."""

    def __init__(self) -> None:
        self.kept: list[tuple[float, LogRecord]] = []
        self.stride = 1
        self.seen = 0
        self.last: tuple[float, LogRecord] | None = None

    def add(self, item: tuple[float, LogRecord]) -> None:
        if self.seen % self.stride == 0:
            self.kept.append(item)
            if len(self.kept) > MAX_KEPT:
                self.kept = self.kept[::2]
                self.stride *= 2
        self.seen += 1
        self.last = item

    def items(self) -> list[tuple[float, LogRecord]]:
        if self.last is not None and (not self.kept or self.kept[-1] is not self.last):
            return [*self.kept, self.last]
        return list(self.kept)
