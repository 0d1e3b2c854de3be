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

``commit`` writes the fingerprints, counts, occurrences, detections and folded symptoms (:class:`FoldingBatch`) of
everything added since the last commit and calls the checkpoint writer in the same transaction (with ``--since``/
read-only it writes nothing and skips it).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any

from aimon.config import Symptoms
from aimon.grouping import learned
from aimon.grouping.detect import Applied, Batch, Identity, apply_batch, cached_fingerprinter
from aimon.grouping.fingerprint import Fingerprinter, fold_digits
from aimon.model import LEVEL_RANK, LogRecord
from aimon.redact import redact_text
from aimon.runtime import Context
from aimon.stages.scan.result import ScanResult
from aimon.state import detections, groups
from aimon.state.db import iso, transaction, utcnow

MAX_HELD = 20_000  # records (and requests) a batch holds or tracks for the stretch before it (beyond: decided at once)
ROOT_HORIZON = 900.0  # seconds (log time) a request's root is remembered for symptoms that a later tick reads
MAX_ROOTS = 200_000  # request roots loaded from the state file per scan, and kept per batch (bounded memory)


class KnownRoots:
    """Request id → root fingerprint of the requests committed before (earlier ticks and commits), loaded on first use
    (an idle scan never reads them); a forked reader gets the parent's copy and sends none back."""

    def __init__(self, load: Callable[[], dict[str, str]]) -> None:
        self._load: Callable[[], dict[str, str]] | None = load
        self._data: dict[str, str] | None = None

    def data(self) -> dict[str, str]:
        if self._data is None:
            self._data = self._load() if self._load is not None else {}
        return self._data

    def __getstate__(self) -> dict[str, Any]:
        return {"_load": None, "_data": {}}


class FoldingBatch(Batch):
    """A :class:`Batch` that folds symptoms into their root error (``[symptoms]`` in aimon.toml).

    An error-level event of a request whose root error (its first error that is not only a response report) is known
    is a symptom: a response report (tower-http's ``on_failure`` "response failed") always, any other later error when
    ``same_request`` is on. It is counted per request and, at :meth:`release`, in :attr:`symptoms` under the root's
    fingerprint; it makes no group. A response report with no root in its request stays a group, and is never a root.

    Batch-invariant: roots come from this batch, the batches merged before it and :class:`KnownRoots` (earlier ticks and
    commits: a root at the end of one tick and its symptom at the start of the next still fold). A parallel read cuts a
    big file in stretches, so a request may begin in the stretch before: a response report with no known root is held
    until :meth:`merge` / :meth:`release`, and a stretch that took an error for its request's root gives it back as a
    symptom when the stretch before already had that request's root (:meth:`_defer_to`).
    """

    def __init__(self, fingerprint: Callable[[LogRecord], Identity], min_rank: int, since: float | None, rules: Symptoms,
                 known: KnownRoots) -> None:
        super().__init__(fingerprint, min_rank, since)
        self.rules = rules
        self.known = known
        self._report_messages = tuple(text.lower() for text in rules.report_messages)
        self.roots: dict[str, tuple[str, float | None, int | None]] = {}  # request id → (root fingerprint, time, offset)
        self.grouped: dict[str, list[tuple[str, float | None, str]]] = {}  # errors grouped under a root found here
        self.per_request: dict[tuple[str, str], list[Any]] = {}  # (request id, kind) → [count, first ts, last ts, sample]
        self.later: dict[str, list[tuple[str, int | None, LogRecord, float | None]]] = {}  # later errors of a root found here
        self.symptoms: dict[tuple[str, str], list[Any]] = {}  # at release: (root fingerprint, kind) → the same
        self.held: list[tuple[str, int | None, LogRecord, float | None]] = []

    def add(self, source: str, offset: int | None, record: LogRecord, fallback_ts: float | None = None, hold: bool = True,
            *, known: Identity | None = None) -> bool:
        ts = record.ts if record.ts is not None else fallback_ts
        rid = record.request_id
        if not self.rules.enabled or not rid or record.is_panic or record.rank < LEVEL_RANK["ERROR"] or (
                self.since is not None and (ts is None or ts < self.since)):
            return super().add(source, offset, record, fallback_ts, known=known)
        report = self._reports_response(record)
        entry = self.roots.get(rid)
        root = entry[0] if entry is not None and _precedes(entry, ts, offset) else self.known.data().get(rid)
        known = known if known is not None else self.fingerprint(record)
        own = known[0]
        if root is not None and (report or (self.rules.same_request and root != own)):
            self._count(rid, "failed-response" if report else "later-error", ts, record.message)
            if not report and rid in self.roots and len(self.later) < MAX_HELD:  # its root may be an earlier stretch's later error
                self.later.setdefault(rid, []).append((source, offset, record, fallback_ts))
            return True
        if report and hold and len(self.held) < MAX_HELD:
            self.held.append((source, offset, record, fallback_ts))
            self.last_ts = ts if self.last_ts is None or ts is None else max(self.last_ts, ts)
            return True
        added = super().add(source, offset, record, fallback_ts, known=known)
        if added and not report and (rid in self.roots or (root is None and len(self.roots) < MAX_ROOTS)):
            self.roots.setdefault(rid, (own, ts, offset))
            if rid in self.grouped or len(self.grouped) < MAX_HELD:
                self.grouped.setdefault(rid, []).append((own, ts, record.message))
        return added

    def _reports_response(self, record: LogRecord) -> bool:
        return (record.target or "").startswith(self.rules.report_targets) or record.message.lstrip().lower().startswith(
            self._report_messages)

    def _count(self, rid: str, kind: str, ts: float | None, sample: str, count: int = 1, last: float | None = None) -> None:
        found = _widen(self.per_request.setdefault((rid, kind), [0, ts, ts, sample]), count, ts, ts if last is None else last)
        if found[2] is not None:
            self.last_ts = found[2] if self.last_ts is None else max(self.last_ts, found[2])

    def _defer_to(self, earlier: FoldingBatch) -> None:
        """Before this (later) stretch is merged into ``earlier``: the requests whose root ``earlier`` already has were
        grouped here under a root of their own; what of them is a later error of that root becomes a symptom."""
        for rid in [rid for rid in self.grouped if rid in earlier.roots]:
            root = earlier.roots[rid][0]
            del self.roots[rid]
            for fingerprint, ts, message in self.grouped.pop(rid):
                if self.rules.same_request and fingerprint != root:
                    self._ungroup(fingerprint, ts)
                    self._count(rid, "later-error", ts, message)
            for item in self.later.pop(rid, []):
                if self.fingerprint(item[2])[0] == root:  # a repeat of the earlier stretch's root: that error itself
                    self.per_request[(rid, "later-error")][0] -= 1
                    Batch.add(self, *item)

    def _ungroup(self, fingerprint: str, ts: float | None) -> None:
        group = self.groups[fingerprint]
        group.count -= 1
        if ts is not None:
            key = (fingerprint, int(ts // 60))
            self.counts[key] -= 1
            if self.counts[key] <= 0:
                del self.counts[key]
        if group.count <= 0:
            del self.groups[fingerprint]
            self.templates = {seen: fid for seen, fid in self.templates.items() if fid != fingerprint}

    def merge(self, later: Batch) -> None:
        if isinstance(later, FoldingBatch):
            later._defer_to(self)
        super().merge(later)
        if not isinstance(later, FoldingBatch):
            return
        for rid, root in later.roots.items():
            self.roots.setdefault(rid, root)
            self.grouped.setdefault(rid, []).extend(later.grouped.get(rid, []))
            self.later.setdefault(rid, []).extend(later.later.get(rid, []))
        for (rid, kind), (count, first, last, sample) in later.per_request.items():
            self._count(rid, kind, first, sample, count, last)
        for item in later.held:  # the requests this batch may have begun: decided now, in order
            self.add(*item, hold=False)

    def release(self) -> None:
        """Before a commit: decide every held record (whatever root is known now is all there will be), and sum the
        symptoms per root fingerprint."""
        held, self.held = self.held, []
        for item in held:
            self.add(*item, hold=False)
        self.symptoms = {}
        for (rid, kind), (count, first, last, sample) in self.per_request.items():
            root = self.roots[rid][0] if rid in self.roots else self.known.data().get(rid)
            if root is not None and count > 0:
                _widen(self.symptoms.setdefault((root, kind), [0, first, last, sample]), count, first, last)


def _within_horizon(roots: list[tuple[str, str, float | None]]) -> list[tuple[str, str, float | None]]:
    """The roots that :func:`groups.prune_roots` would keep: no older than :data:`ROOT_HORIZON` before the newest.

    A big read has a root per failed request over hours of log; writing them all only to delete them at once is
    most of its commit. What prune keeps is measured from the newest time in the table, which is at least the newest
    here: a root this drops would be deleted anyway, and one it keeps may still be (the same as before)."""
    newest = max((ts for _rid, _fid, ts in roots if ts is not None), default=None)
    if newest is None:
        return []  # prune drops roots without a time
    return [root for root in roots if root[2] is not None and root[2] >= newest - ROOT_HORIZON]


def _widen(found: list[Any], count: int, first: float | None, last: float | None) -> list[Any]:
    """Add ``count`` symptoms seen between ``first`` and ``last`` to ``[count, first, last, sample]``."""
    found[0] += count
    found[1] = first if found[1] is None or (first is not None and first < found[1]) else found[1]
    found[2] = last if found[2] is None or (last is not None and last > found[2]) else found[2]
    return found


def _precedes(root: tuple[str, float | None, int | None], ts: float | None, offset: int | None) -> bool:
    """The root was logged before the record at ``ts``/``offset`` (a held report is replayed after later roots)."""
    if root[2] is not None and offset is not None:
        return root[2] < offset
    return root[1] is None or ts is None or root[1] <= ts


class Aggregator:
    """Folds records from any source into error groups and commits them with the source's checkpoint.

    ``since`` (epoch seconds) drops older records; ``read_only`` (``--since`` triage) writes nothing.
    """

    def __init__(self, ctx: Context, *, since: float | None = None, read_only: bool = False) -> None:
        self.ctx = ctx
        self.since = since
        self.read_only = read_only
        self.min_rank = LEVEL_RANK.get(ctx.settings.sources.min_level, LEVEL_RANK["ERROR"])
        self._fingerprint: Callable[[LogRecord], Identity] | None = None
        self.known_roots = KnownRoots(lambda: groups.recent_roots(ctx.db, ROOT_HORIZON, MAX_ROOTS))
        self.pending = self.new_batch()
        self.lines = 0
        self.malformed = 0
        self.malformed_reasons: dict[str, int] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.detections: list[dict[str, Any]] = []
        self.created: list[str] = []
        self.merges: dict[str, str] = {}  # alias → canonical fingerprint, learned during this scan

    def fingerprint(self, record: LogRecord) -> Identity:
        """``(id, template, algo, context, masked template)`` of a record (the fingerprinter is built on first use)."""
        if self._fingerprint is None:
            self.ready()
        assert self._fingerprint is not None
        return self._fingerprint(record)

    def ready(self) -> None:
        """Build the fingerprinter now (it reads learned merges from the state file): before reading in workers."""
        if self._fingerprint is None:
            self._fingerprint = cached_fingerprinter(_make_fingerprinter(self.ctx), _digit_fold(self.ctx))
        if self.ctx.settings.symptoms.enabled:
            self.known_roots.data()  # a forked reader must not open the state file

    def new_batch(self) -> FoldingBatch:
        return FoldingBatch(self.fingerprint, self.min_rank, self.since, self.ctx.settings.symptoms, self.known_roots)

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
        batch.release()
        self.lines += batch.lines
        self.malformed += batch.malformed
        for reason, count in batch.malformed_reasons.items():
            self.malformed_reasons[reason] = self.malformed_reasons.get(reason, 0) + count
        if self.read_only:
            self._fold(self._summaries(batch))
            return []
        if not batch.groups and not batch.symptoms and write_checkpoint is None:
            return []
        conn = self.ctx.db
        with transaction(conn):
            applied = apply_batch(conn, batch, self.ctx.settings, now=iso(utcnow()) or "", redact=self._redactor())
            self._record_symptoms(conn, batch)
            if write_checkpoint is not None:
                write_checkpoint(conn)
            if applied.created or applied.new_templates:
                self._learn(conn, applied)
        self._fold(applied)
        return applied.detections

    def _record_symptoms(self, conn: sqlite3.Connection, batch: FoldingBatch) -> None:
        """Inside the batch's transaction: the symptoms on their (canonical) roots, and the requests' roots for the
        symptoms a later tick reads; a kill loses neither, nor counts one twice."""
        root_of = functools.cache(functools.partial(groups.canonical, conn))  # one lookup per fingerprint, not per request
        redact = self._redactor()
        groups.add_symptoms(conn, [(root_of(fid), groups.SymptomCount(kind, count, iso(first), iso(last), redact(sample)))
                                   for (fid, kind), (count, first, last, sample) in sorted(batch.symptoms.items())])
        roots = [(rid, root_of(fid), ts) for rid, (fid, ts, _offset) in batch.roots.items()]
        if roots:
            groups.remember_roots(conn, _within_horizon(roots))
            groups.prune_roots(conn, ROOT_HORIZON)
            known = self.known_roots.data()
            for rid, fid, _ts in roots:
                known.setdefault(rid, fid)

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
                # redacted as apply_batch stores it: masking does not remove every secret shape
                "template": redact(group.template), "count": 0, "first_seen": first, "last_seen": last,
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
