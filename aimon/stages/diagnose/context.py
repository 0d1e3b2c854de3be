"""What a senior engineer would look at first, gathered for one error group (fingerprint).

* the group's facts (level, code, target, location, counts, first/last seen, the detection and its spike factor);
* a few sample occurrences (``occurrences``: the parsed records scan kept; for a spike, occurrences re-read from
  across its window, :mod:`aimon.stages.diagnose.window`), and what each says
  (:func:`~aimon.stages.diagnose.event.event_text`: the same words whatever format the line was written in);
* the request trail: every line that carries the error's request id near it in the same file, in file order, and
  the WARN-or-worse lines of the same target just before the error — or, for an error logged right after a panic in
  the same thread, that panic instead (:mod:`aimon.stages.diagnose.trail`); unrelated INFO lines are left out;
* for a spike, the rate during its window against the rate before, and the count minute by minute across it;
* the source code around the error's ``file:line`` from ``AIMON_REPO_DIR`` (from the enclosing ``fn`` when it is
  close) and the backtrace frames of the service's own crate;
* the error code's catalog entry and earlier diagnoses of similar groups (pattern memory).

Everything is rendered to text lines here, then :meth:`DiagnosisContext.redacted` masks them with one redactor, so the
heuristics, the prompt and the stored diagnosis only ever see redacted text.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aimon.config import CatalogEntry, Settings
from aimon.model import LogRecord
from aimon.redact import Redactor
from aimon.stages.diagnose.event import event_text, render_record
from aimon.stages.diagnose.source import SourceSnippet, display_path, own_frames, read_snippet, resolve_source
from aimon.stages.diagnose.trail import PanicBefore, read_trail
from aimon.stages.diagnose.window import window_samples
from aimon.state import diagnoses, groups
from aimon.state.db import parse_iso

SAMPLES = 3


@dataclass
class DiagnosisContext:
    """Everything gathered for one fingerprint, as text. ``redacted()`` returns a masked copy."""

    fingerprint: str
    facts: dict[str, Any]
    samples: list[str] = field(default_factory=list)
    samples_across: bool = False  # the samples are spread across a spike's window (not the stored first and latest)
    messages: list[str] = field(default_factory=list)  # what each sample says (event_text), for the heuristics
    trail: list[str] = field(default_factory=list)
    trail_error_index: int | None = None
    request_id: str | None = None
    trail_inferred: bool = False  # the error had no request id: the trail is that of the line just before it
    before: list[str] = field(default_factory=list)
    spike: list[str] = field(default_factory=list)  # a spike's rate before and during its window, per minute
    clues: list[str] = field(default_factory=list)  # the request's own WARN+ lines before the error, as event texts
    panic: PanicBefore | None = None  # the panic the error's thread wrote just before it
    source: SourceSnippet | None = None
    frames: list[str] = field(default_factory=list)
    catalog: CatalogEntry | None = None
    memory: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what could not be gathered, and why

    def redacted(self, redactor: Redactor) -> DiagnosisContext:
        """A copy with every text masked by ``redactor`` (one instance: placeholders agree across sections).

        Sections are masked in the order the prompt shows them, so placeholders are numbered as a reader meets them;
        the texts only the offline diagnoser reads (messages, clues, the panic's message) come last.
        """
        red = redactor.redact
        facts = redactor.redact_obj(self.facts)
        samples = [red(line) for line in self.samples]
        panic_lines = [red(line) for line in self.panic.lines] if self.panic is not None else []
        catalog = None
        if self.catalog is not None:
            catalog = replace(self.catalog, description=red(self.catalog.description), runbook=red(self.catalog.runbook), owner=red(self.catalog.owner))
        source = None
        if self.source is not None:
            source = replace(self.source, lines=[(number, red(text)) for number, text in self.source.lines])
        frames = [red(line) for line in self.frames]
        request_id = red(self.request_id) if self.request_id else None
        trail = [red(line) for line in self.trail]
        memory = [red(line) for line in self.memory]
        before = [red(line) for line in self.before]
        spike = [red(line) for line in self.spike]
        missing = [red(line) for line in self.missing]
        messages = [red(line) for line in self.messages]
        clues = [red(line) for line in self.clues]
        panic = None
        if self.panic is not None:
            panic = replace(self.panic, lines=panic_lines, message=red(self.panic.message),
                            location=red(self.panic.location) if self.panic.location else None)
        return replace(self, facts=facts, samples=samples, messages=messages, catalog=catalog, source=source, frames=frames,
                       request_id=request_id, trail=trail, memory=memory, before=before, spike=spike, clues=clues, panic=panic, missing=missing)

    def all_text(self) -> str:
        """Every text of the context in one string (what the heuristics search)."""
        parts = [*self.messages, str(self.facts.get("template", "")), *self.frames]
        return "\n".join(parts)


# -- building ---------------------------------------------------------------------------------------------------------


def build_context(conn: sqlite3.Connection, settings: Settings, row: sqlite3.Row | dict[str, Any], detection: dict[str, Any] | None,
                  memory_lines: list[str] | None = None) -> DiagnosisContext:
    """Gather the context of the fingerprint ``row`` (a ``fingerprints`` row) for its latest ``detection``."""
    fp = dict(row)
    occurrences = diagnoses.occurrences_of(conn, fp["fingerprint"])
    records = [(occ, _load_record(occ["record"])) for occ in occurrences]
    ctx = DiagnosisContext(fingerprint=fp["fingerprint"], facts=_facts(fp, detection), catalog=settings.catalog.get(fp.get("error_code") or ""))
    picked = [record for _occ, record in _pick_samples(records)]
    if detection and detection.get("kind") == "spike":
        across = window_samples(conn, settings, fp["fingerprint"], detection, occurrences)
        if across.records:
            picked, ctx.samples_across = across.records, True
        elif across.missing:
            ctx.missing.append(across.missing)
    for index, record in enumerate(picked, 1):
        ctx.samples.append(f"[E{index}] {render_record(record, full=True)}")
        ctx.messages.append(event_text(record))
    if not picked:
        ctx.messages.append(str(fp.get("sample") or fp.get("template") or ""))
        ctx.missing.append("sample occurrences: none stored")
    found = read_trail(settings, records)
    ctx.trail, ctx.trail_error_index, ctx.request_id, ctx.trail_inferred = found.lines, found.error_index, found.request_id, found.inferred
    ctx.before, ctx.clues, ctx.panic = found.before, found.clues, found.panic
    ctx.missing.extend(found.missing)
    if detection and detection.get("kind") == "spike":
        ctx.spike = spike_lines(conn, fp["fingerprint"], detection, settings.thresholds.spike_baseline_minutes)
    error_record = picked[-1] if picked else None
    _add_source(ctx, settings, fp, error_record, found.panic_record)
    ctx.memory = list(memory_lines or [])
    return ctx


def spike_lines(conn: sqlite3.Connection, fingerprint: str, detection: dict[str, Any], baseline_minutes: int) -> list[str]:
    """A spike's evidence: its rate in the window against the rate before it, and the occurrences minute by minute
    across the window (the stored samples are the latest few; these counts cover all of it)."""
    start, end = parse_iso(detection.get("window_start")), parse_iso(detection.get("window_end"))
    if start is None or end is None:
        return []
    first, last = int(start.timestamp() // 60), int(end.timestamp() // 60)
    width = max(1, last - first)
    during = int(detection.get("count") or 0)
    rows = groups.counts_between(conn, fingerprint, first - baseline_minutes, last)
    before = sum(int(row["n"]) for row in rows if row["minute"] < first)
    minutes = {int(row["minute"]): int(row["n"]) for row in rows if row["minute"] >= first}
    lines = [f"[S1] {during / width:.1f}/min during {detection.get('window_start')} .. {detection.get('window_end')} ({during} in {width} min); "
             f"{before / baseline_minutes:.2f}/min in the {baseline_minutes} min before ({before})"]
    per_minute = ", ".join(f"{_minute(minute)} {minutes.get(minute, 0)}" for minute in range(first, last))
    if per_minute:
        lines.append(f"[S2] per minute: {per_minute}")
    return lines


def _minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%H:%M")


def _facts(fp: dict[str, Any], detection: dict[str, Any] | None) -> dict[str, Any]:
    location = f"{fp['file']}:{fp['line']}" if fp.get("file") and fp.get("line") else fp.get("file")
    facts: dict[str, Any] = {
        "fingerprint": fp["fingerprint"],
        "level": fp.get("level"),
        "panic": "yes" if fp.get("is_panic") and fp.get("level") != "PANIC" else None,  # a level of PANIC says it already
        "error_code": fp.get("error_code"),
        "target": fp.get("target"),
        "location": location,
        "template": fp.get("template"),
        "count": fp.get("count"),
        "first_seen": fp.get("first_seen"),
        "last_seen": fp.get("last_seen"),
        "state": fp.get("state") if fp.get("state") != "active" else None,
    }
    if detection:
        facts["detection"] = detection.get("kind")
        if detection.get("window_start"):
            facts["window"] = f"{detection.get('window_start')} .. {detection.get('window_end')}"
        facts["window_count"] = detection.get("count")
        baseline = detection.get("baseline")
        if baseline:
            facts["spike_factor"] = round(float(detection.get("count") or 0) / float(baseline), 1)
    return {key: value for key, value in facts.items() if value not in (None, "")}


def _load_record(text: str) -> LogRecord:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return LogRecord(level="ERROR", message=str(text))
    return LogRecord.from_dict(data) if isinstance(data, dict) else LogRecord(level="ERROR", message=str(data))


def _pick_samples(records: list[tuple[sqlite3.Row, LogRecord]]) -> list[tuple[sqlite3.Row, LogRecord]]:
    """Up to :data:`SAMPLES` occurrences with different messages: the latest, the first, then recent ones."""
    if not records:
        return []
    picked: list[tuple[sqlite3.Row, LogRecord]] = []
    seen: set[str] = set()
    for occ, record in [records[-1], records[0], *reversed(records[1:-1])]:
        key = event_text(record)
        if key in seen:
            continue
        seen.add(key)
        picked.append((occ, record))
        if len(picked) >= SAMPLES:
            break
    # In time order, so the last one is the latest occurrence.
    return sorted(picked, key=lambda item: item[0]["id"])


# -- source code ------------------------------------------------------------------------------------------------------


def _add_source(ctx: DiagnosisContext, settings: Settings, fp: dict[str, Any], record: LogRecord | None,
                panic: LogRecord | None = None) -> None:
    frames = own_frames(record.backtrace if record else [], fp.get("target"), settings.repo_dir)
    ctx.frames = [f"[F{index}] {text}" for index, (text, _path, _line) in enumerate(frames, 1)]
    if settings.repo_dir is None:
        ctx.missing.append("source code: AIMON_REPO_DIR is not set")
        return
    locations: list[tuple[str, int]] = []
    if panic is not None:
        # The error reports the panic just before it: the code to read (and fix) is where the thread panicked.
        if panic.file and panic.line:
            locations.append((panic.file, panic.line))
        locations.extend((path, number) for _text, path, number in own_frames(panic.backtrace, fp.get("target"), settings.repo_dir)
                         if path and number)
    file, line = (record.file, record.line) if record and record.file else (fp.get("file"), fp.get("line"))
    if file and line:
        locations.append((str(file), int(line)))
    locations.extend((path, number) for _text, path, number in frames if path and number)
    for file_name, number in locations:
        found = resolve_source(settings.repo_dir, file_name)
        if found is not None:
            ctx.source = read_snippet(found, number, display=display_path(settings.repo_dir, found))
            return
    if locations:
        ctx.missing.append(f"source code: {locations[0][0]} not found under AIMON_REPO_DIR")
    else:
        ctx.missing.append("source code: the error has no file:line")
