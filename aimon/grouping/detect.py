"""From records to error groups and detections: ``new``, ``spike`` and ``regression``.

A :class:`Batch` folds records (at or above the minimum level; panics always) into per-fingerprint groups and
per-minute counts in memory; it is cheap to build in a worker process and to merge. :func:`apply_batch` writes a batch
to the state file inside the caller's transaction (the same one that moves the source's checkpoint) and decides:

* ``new`` — the fingerprint was never seen before;
* ``regression`` — it was ``resolved`` and occurs again (log time after it was resolved);
* ``spike`` — a window of ``spike_window_minutes`` (aligned in log time) holds at least ``spike_min_count``
  occurrences and at least ``spike_factor`` times the mean per window over the ``spike_baseline_minutes`` before it,
  and the fingerprint has been known for ``spike_warmup_minutes`` (a new error's first burst is ``new``, not a spike).

Windows are in log time, so replaying a file yields the same detections. Ignored fingerprints (until their
``state_until``) are counted but create no detection.
"""

from __future__ import annotations

import bisect
import itertools
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from aimon.config import Settings, Thresholds
from aimon.grouping.fingerprint import Fingerprint, context_key, context_of
from aimon.model import LogRecord
from aimon.state import detections, groups
from aimon.state.db import iso, parse_iso

KEEP_FIRST = 3  # occurrences kept per fingerprint: the first few…
KEEP_LATEST = 3  # …and the latest few
_FP_CACHE_LIMIT = 50_000


@dataclass
class Occurrence:
    """Where one occurrence was read."""

    ts: float | None
    source: str
    offset: int | None
    record: LogRecord


@dataclass
class Group:
    """What one batch saw of one fingerprint."""

    fingerprint: str
    template: str
    algo: int
    record: LogRecord  # the first occurrence (level, code, target, location, sample message)
    count: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    first: list[Occurrence] = field(default_factory=list)
    latest: list[Any] = field(default_factory=list)  # Occurrence or (ts, source, offset, record)

    def see(self, ts: float | None, source: str, offset: int | None, record: LogRecord) -> None:
        self.count += 1
        if ts is not None:
            if self.first_ts is None or ts < self.first_ts:
                self.first_ts = ts
            if self.last_ts is None or ts > self.last_ts:
                self.last_ts = ts
        if len(self.first) < KEEP_FIRST:
            self.first.append(Occurrence(ts, source, offset, record))
            return
        latest = self.latest
        if len(latest) >= KEEP_LATEST * 8:  # trim now and then, not on every record
            del latest[: len(latest) - KEEP_LATEST]
        latest.append((ts, source, offset, record))

    def occurrences(self) -> list[Occurrence]:
        """The first few and the latest few occurrences, in reading order."""
        latest = [item if isinstance(item, Occurrence) else Occurrence(*item) for item in self.latest[-KEEP_LATEST:]]
        return [*self.first, *latest]

    def absorb(self, later: Group) -> None:
        """Fold in the same fingerprint as seen by a later batch."""
        self.count += later.count
        for ts in (later.first_ts, later.last_ts):
            if ts is not None:
                self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
                self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        pending = later.occurrences()
        while len(self.first) < KEEP_FIRST and pending:
            self.first.append(pending.pop(0))
        self.latest = [*self.occurrences()[len(self.first):], *pending][-KEEP_LATEST:]


class Batch:
    """Groups and per-minute counts of the records read in one stretch of one source.

    ``fingerprint`` maps a record to its :data:`Identity`; records whose level is below ``min_rank`` (and not
    panics) and records older than ``since`` are left out. ``lines`` and ``malformed`` count what was read.
    """

    def __init__(self, fingerprint: Callable[[LogRecord], Identity], min_rank: int, since: float | None = None) -> None:
        self.fingerprint = fingerprint
        self.min_rank = min_rank
        self.since = since
        self.groups: dict[str, Group] = {}
        self.counts: Counter[tuple[str, int]] = Counter()
        self.lines = 0
        self.malformed = 0
        self.malformed_reasons: Counter[str] = Counter()
        self.last_ts: float | None = None
        # (algo, context key, masked template) → the fingerprint its first record was counted under: the evidence
        # learned grouping reads (aimon.grouping.learned.learn_merges).
        self.templates: dict[tuple[int, str, str], str] = {}

    def add(self, source: str, offset: int | None, record: LogRecord, fallback_ts: float | None = None, *,
            known: Identity | None = None) -> bool:
        """Fold one record in; ``False`` when it is below the minimum level or before ``since``. ``known``: the
        record's fingerprint when the caller already has it."""
        ts = record.ts if record.ts is not None else fallback_ts
        if ts is not None:
            self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        if not (record.is_panic or record.rank >= self.min_rank):
            return False
        if self.since is not None and (ts is None or ts < self.since):
            return False
        fingerprint, template, algo, context, masked = known if known is not None else self.fingerprint(record)
        seen = (algo, context, masked)
        if seen not in self.templates:
            self.templates[seen] = fingerprint
        group = self.groups.get(fingerprint)
        if group is None:
            group = self.groups[fingerprint] = Group(fingerprint, template, algo, record)
        group.see(ts, source, offset, record)
        if ts is not None:
            self.counts[(fingerprint, int(ts // 60))] += 1
        return True

    def add_malformed(self, reason: str, count: int = 1) -> None:
        self.malformed += count
        self.malformed_reasons[reason] += count

    def merge(self, later: Batch) -> None:
        """Fold in the batch of the stretch that follows this one."""
        for fingerprint, group in later.groups.items():
            mine = self.groups.get(fingerprint)
            if mine is None:
                self.groups[fingerprint] = group
            else:
                mine.absorb(group)
        self.counts.update(later.counts)
        for seen, fingerprint in later.templates.items():
            self.templates.setdefault(seen, fingerprint)
        self.lines += later.lines
        self.malformed += later.malformed
        self.malformed_reasons.update(later.malformed_reasons)
        if later.last_ts is not None:
            self.last_ts = later.last_ts if self.last_ts is None else max(self.last_ts, later.last_ts)

    def __getstate__(self) -> dict[str, Any]:
        # Batches travel from worker processes; the fingerprint function stays behind.
        state = dict(self.__dict__)
        state["fingerprint"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


# What a batch needs of a record's fingerprint: (id, template, algo, context key, template as masking made it).
Identity = tuple[str, str, int, str, str]


def cached_fingerprinter(fingerprinter: Any, fold: Callable[[str], str] | None = None) -> Callable[[LogRecord], Identity]:
    """``Fingerprinter.of`` behind a cache keyed on what a fingerprint is made of (level, code, target, location,
    message): an error line repeated verbatim is fingerprinted once.

    ``fold`` (``aimon.grouping.fingerprint.fold_digits``) makes the message part of the key alike for messages that differ
    only in their numbers, when that cannot change the fingerprint: ``card declined (code 79880)`` and
    ``(code 12345)`` then share one entry. The caller passes it only when no user rule could tell digits apart.
    """
    cache: dict[tuple[Any, ...], Identity] = {}

    def of(record: LogRecord) -> Identity:
        message = record.message if fold is None else fold(record.message)
        key = (record.level, record.error_code, record.target, record.file, record.line, message)
        found = cache.get(key)
        if found is None:
            if len(cache) >= _FP_CACHE_LIMIT:
                cache.clear()
            fingerprint = fingerprinter.of(record)
            found = cache[key] = identity(fingerprint, record)
        return found

    return of


def identity(fingerprint: Fingerprint, record: LogRecord) -> Identity:
    """What a :class:`Batch` keeps of a record's fingerprint."""
    context = context_key(context_of(record))
    return fingerprint.id, fingerprint.template, fingerprint.algo, context, fingerprint.masked or fingerprint.template


# ---------------------------------------------------------------------------------------------------- writing a batch


@dataclass
class Applied:
    """What :func:`apply_batch` changed: the canonical groups touched and the detections created."""

    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    detections: list[dict[str, Any]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    new_templates: int = 0  # templates grouping had not seen before: what it learns from


def apply_batch(
    conn: sqlite3.Connection,
    batch: Batch,
    settings: Settings,
    *,
    now: str,
    redact: Callable[[str], str],
) -> Applied:
    """Write a batch (fingerprints, counts, occurrences, detections) inside the caller's transaction."""
    applied = Applied()
    counts_by_canonical: Counter[tuple[str, int]] = Counter()
    ids: dict[str, str] = {}
    for group in batch.groups.values():
        fid = ids[group.fingerprint] = groups.canonical(conn, group.fingerprint)
        row = groups.get_fingerprint(conn, fid)
        first, last = iso(group.first_ts) or now, iso(group.last_ts) or now
        sample = redact(group.record.message)
        # Masking removes most variable parts, not every secret shape (`password=hunter2`): the template is shown
        # and sent too, so it is stored redacted like the sample.
        group.template = redact(group.template)
        if row is None:
            _insert_fingerprint(conn, fid, group, sample, first, last, now)
            applied.created.append(fid)
            _add(applied, _detect(conn, fid, "new", first, last, group.count, None, now))
        else:
            groups.record_seen(conn, fid, group.count, first, last)
            if row["state"] == "resolved" and _after(group.last_ts, row["resolved_at"]):
                groups.reopen(conn, fid)
                start = max(first, row["resolved_at"] or first)
                _add(applied, _detect(conn, fid, "regression", start, last, group.count, None, now))
        _keep_occurrences(conn, fid, group)
        summary = applied.groups.setdefault(fid, _summary(fid, group, sample, first, last))
        summary["count"] += group.count
        summary["first_seen"], summary["last_seen"] = min(summary["first_seen"], first), max(summary["last_seen"], last)
    for (fingerprint, minute), n in batch.counts.items():
        counts_by_canonical[(ids.get(fingerprint, fingerprint), minute)] += n
    groups.add_counts(conn, [(fid, minute, n) for (fid, minute), n in sorted(counts_by_canonical.items())])
    applied.new_templates = _remember_templates(conn, batch, ids, now)
    touched: dict[str, list[int]] = {}
    for fid, minute in counts_by_canonical:
        touched.setdefault(fid, []).append(minute)
    for fid, minutes in sorted(touched.items()):
        for spike in _spikes(conn, fid, minutes, settings.thresholds, now):
            _add(applied, spike)
    _prune(conn, settings.thresholds)
    return applied


def _remember_templates(conn: sqlite3.Connection, batch: Batch, ids: dict[str, str], now: str) -> int:
    """Record the batch's templates for learned grouping; returns how many were new."""
    by_algo: dict[int, list[tuple[str, str, str]]] = {}
    for (algo, context, template), fingerprint in sorted(batch.templates.items()):
        by_algo.setdefault(algo, []).append((context, template, ids.get(fingerprint, fingerprint)))
    before = conn.total_changes
    for algo, seen in by_algo.items():
        groups.remember_templates(conn, algo, seen, now)
    return conn.total_changes - before


def _add(applied: Applied, detection: dict[str, Any] | None) -> None:
    if detection is not None:
        applied.detections.append(detection)


def _after(ts: float | None, resolved_at: str | None) -> bool:
    if ts is None or resolved_at is None:
        return True
    resolved = parse_iso(resolved_at)
    return resolved is None or ts > resolved.timestamp()


def _insert_fingerprint(conn: sqlite3.Connection, fid: str, group: Group, sample: str, first: str, last: str, now: str) -> None:
    record = group.record
    groups.insert_fingerprint(
        conn, fid, algo=group.algo, level=record.level, error_code=record.error_code, target=record.target,
        template=group.template, sample=sample, file=record.file, line=record.line, is_panic=record.is_panic,
        first_seen=first, last_seen=last, count=group.count, at=now,
    )


def _summary(fid: str, group: Group, sample: str, first: str, last: str) -> dict[str, Any]:
    return {
        "fingerprint": fid,
        "level": group.record.level,
        "error_code": group.record.error_code,
        "template": group.template,
        "count": 0,
        "first_seen": first,
        "last_seen": last,
        "sample": sample,
    }


def _keep_occurrences(conn: sqlite3.Connection, fid: str, group: Group) -> None:
    found = [
        groups.NewOccurrence(iso(occurrence.ts), occurrence.source, occurrence.offset, occurrence.record.request_id,
                             orjson.dumps(occurrence.record.to_dict(), default=str).decode())
        for occurrence in group.occurrences()
    ]
    groups.keep_occurrences(conn, fid, found, KEEP_FIRST, KEEP_LATEST)


def _detect(
    conn: sqlite3.Connection, fid: str, kind: str, start: str, end: str, count: int, baseline: float | None, now: str
) -> dict[str, Any] | None:
    row = groups.get_fingerprint(conn, fid)
    if row is not None and groups.is_ignored(row["state"], row["state_until"], now):
        return None  # counted, never told
    ident = detections.insert_detection(conn, fid, kind, start, end, count, baseline, now)
    return {"id": ident, "fingerprint": fid, "kind": kind, "window_start": start, "window_end": end,
            "count": count, "baseline": baseline}


def _spikes(conn: sqlite3.Connection, fid: str, minutes: list[int], limits: Thresholds, now: str) -> list[dict[str, Any] | None]:
    """Spike detections for the windows of ``fid`` that the batch added counts to."""
    row = groups.age_and_state(conn, fid)
    if row is None or groups.is_ignored(row["state"], row["state_until"], now):
        return []
    first_seen = parse_iso(row["first_seen"])
    if first_seen is None:
        return []
    born = int(first_seen.timestamp() // 60)
    width = limits.spike_window_minutes
    windows = sorted({minute // width * width for minute in minutes})
    total = _counter(conn, fid, windows[0] - limits.spike_baseline_minutes, windows[-1] + width)
    found: list[dict[str, Any] | None] = []
    for window in windows:
        history = min(limits.spike_baseline_minutes, window - born)
        if history < max(limits.spike_warmup_minutes, 1):
            continue  # still warming up: a new error's first burst is "new", not a spike
        n = total(window, window + width)
        if n < limits.spike_min_count:
            continue
        baseline = total(window - history, window) / max(history / width, 1.0)
        if n < limits.spike_factor * baseline or n <= baseline:
            continue
        start, end = iso(window * 60.0) or now, iso((window + width) * 60.0) or now
        if not detections.spike_recorded(conn, fid, start):
            found.append(_detect(conn, fid, "spike", start, end, n, round(baseline, 3), now))
    return found


def _counter(conn: sqlite3.Connection, fid: str, start: int, end: int) -> Callable[[int, int], int]:
    """``total(a, b)``: occurrences of ``fid`` in minutes ``[a, b)``, from one query (prefix sums)."""
    rows = groups.counts_between(conn, fid, start, end)
    keys = [row[0] for row in rows]
    prefix = [0, *itertools.accumulate(row[1] for row in rows)]

    def total(a: int, b: int) -> int:
        return prefix[bisect.bisect_left(keys, b)] - prefix[bisect.bisect_left(keys, a)]

    return total


def _prune(conn: sqlite3.Connection, limits: Thresholds) -> None:
    """Drop per-minute counts older than any window a spike decision can still look at (log time)."""
    groups.prune_counts(conn, limits.spike_baseline_minutes + 2 * limits.spike_window_minutes)
