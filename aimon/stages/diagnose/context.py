"""What a senior engineer would look at first, gathered for one error group (fingerprint).

* the group's facts (level, code, target, location, counts, first/last seen, the detection and its spike factor);
* a few sample occurrences (``occurrences``: the parsed records scan kept);
* the request trail: every line that carries the error's request id within ±:data:`WINDOW_BYTES` of it in the same
  file, in file order, and the :data:`BEFORE_LINES` lines just before the error (the file is re-read around the
  stored byte offset, never whole);
* the source code around the error's ``file:line`` from ``AIMON_REPO_DIR`` (from the enclosing ``fn`` when it is
  close) and the backtrace frames of the service's own crate;
* the error code's catalog entry and earlier diagnoses of similar groups (pattern memory).

Everything is rendered to text lines here, then :meth:`DiagnosisContext.redacted` masks them with one redactor, so the
heuristics, the prompt and the stored diagnosis only ever see redacted text.
"""

from __future__ import annotations

import bisect
import gzip
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from aimon.config import CatalogEntry, Settings
from aimon.model import LogRecord
from aimon.redact import Redactor
from aimon.stages.diagnose.source import SourceSnippet, display_path, own_frames, read_snippet, resolve_source
from aimon.state import diagnoses

WINDOW_BYTES = 1 << 20  # how far around the error the file is re-read for its request trail
BEFORE_LINES = 20  # lines shown just before the error
MAX_TRAIL_LINES = 200  # a runaway request (a retry loop) should not fill the context
SAMPLES = 3
MAX_LINE_CHARS = 1500  # longer lines are shortened (with a marker) before any budget is applied
NEAR_BEFORE = 4 * BEFORE_LINES + 20  # lines parsed whole before the error (multi-line records take several)
NEAR_AFTER = 400  # and after it (the rest of a panic block)


@dataclass
class DiagnosisContext:
    """Everything gathered for one fingerprint, as text. ``redacted()`` returns a masked copy."""

    fingerprint: str
    facts: dict[str, Any]
    samples: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # sample messages (+ error field), for the heuristics
    trail: list[str] = field(default_factory=list)
    trail_error_index: int | None = None
    request_id: str | None = None
    trail_inferred: bool = False  # the error had no request id: the trail is that of the line just before it
    before: list[str] = field(default_factory=list)
    source: SourceSnippet | None = None
    frames: list[str] = field(default_factory=list)
    catalog: CatalogEntry | None = None
    memory: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what could not be gathered, and why

    def redacted(self, redactor: Redactor) -> DiagnosisContext:
        """A copy with every text masked by ``redactor`` (one instance: placeholders agree across sections).

        Sections are masked in the order the prompt shows them, so placeholders are numbered as a reader meets them.
        """
        red = redactor.redact
        facts = redactor.redact_obj(self.facts)
        samples = [red(line) for line in self.samples]
        messages = [red(line) for line in self.messages]
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
        return replace(self, facts=facts, samples=samples, messages=messages, catalog=catalog, source=source, frames=frames,
                       request_id=request_id, trail=trail, memory=memory, before=before, missing=[red(line) for line in self.missing])

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
    picked = _pick_samples(records)
    for index, (_occ, record) in enumerate(picked, 1):
        ctx.samples.append(f"[E{index}] {render_record(record, full=True)}")
        ctx.messages.append(_message_text(record))
    if not picked:
        ctx.messages.append(str(fp.get("sample") or fp.get("template") or ""))
        ctx.missing.append("sample occurrences: none stored")
    _add_trail(ctx, settings, records)
    error_record = picked[-1][1] if picked else None
    _add_source(ctx, settings, fp, error_record)
    ctx.memory = list(memory_lines or [])
    return ctx


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
        key = _message_text(record)
        if key in seen:
            continue
        seen.add(key)
        picked.append((occ, record))
        if len(picked) >= SAMPLES:
            break
    # In time order, so the last one is the latest occurrence.
    return sorted(picked, key=lambda item: item[0]["id"])


def _message_text(record: LogRecord) -> str:
    parts = [record.message]
    for key in ("error", "err", "cause", "reason", "status", "status_code", "http.status_code"):
        value = record.fields.get(key)
        if value not in (None, "") and str(value) not in record.message:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def shorten(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text`` on one line, cut at ``limit`` characters with a marker saying how much was cut."""
    text = text.replace("\r", "").replace("\n", " ⏎ ")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[+{len(text) - limit} chars]"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if (not value or any(c in value for c in ' ="')) else value
    return json.dumps(value, ensure_ascii=False, default=str)


def render_record(record: LogRecord, *, full: bool = False, omit: str | None = None) -> str:
    """One log record as one compact line: ``TIME LEVEL target: message k=v … spans (file:line)``.

    ``omit``: a span field value not to repeat (the request id, on every line of a request trail).
    """
    parts = []
    if record.ts is not None:
        parts.append(datetime.fromtimestamp(record.ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
    parts.append(record.level)
    parts.append(f"{record.target}:" if record.target else "")
    parts.append(record.message)
    fields = [f"{key}={_scalar(value)}" for key, value in record.fields.items() if key not in ("message", "msg")]
    parts.extend(fields)
    if record.spans:
        spans = ":".join(
            f"{span.get('name', '?')}{{{' '.join(f'{k}={_scalar(v)}' for k, v in span.items() if k != 'name' and (omit is None or str(v) != omit))}}}"
            for span in record.spans
        )
        parts.append(f"in {spans}")
    if record.file:
        parts.append(f"({record.file}:{record.line})" if record.line else f"({record.file})")
    text = " ".join(part for part in parts if part)
    if full and record.backtrace:
        text += f" [backtrace: {len(record.backtrace)} lines]"
    return shorten(text)


# -- the request trail ------------------------------------------------------------------------------------------------


def _add_trail(ctx: DiagnosisContext, settings: Settings, records: list[tuple[sqlite3.Row, LogRecord]]) -> None:
    candidates = [(occ, rec) for occ, rec in records if occ["offset"] is not None and not str(occ["source"]).startswith("loki:")]
    if not candidates:
        ctx.missing.append("request trail and preceding lines: no occurrence with a file position (Loki source or none stored)")
        return
    with_rid = [(occ, rec) for occ, rec in candidates if occ["request_id"] or rec.request_id]
    occ, stored = (with_rid or candidates)[-1]
    path = Path(occ["source"])
    rid = occ["request_id"] or stored.request_id
    try:
        window = list(read_window(path, int(occ["offset"]), settings, needle=rid))
        index = _find_error(window, int(occ["offset"]), stored)
        if index is not None and not rid and stored.is_panic:
            # A panic printed on stderr carries no request id; the request its thread was just logging about is the
            # best guess (a guess: requests interleave), and the title says so.
            rid = next((rec.request_id for _off, rec in reversed(window[max(0, index - BEFORE_LINES) : index]) if rec.request_id), None)
            if rid:
                ctx.trail_inferred = True
                window = list(read_window(path, int(occ["offset"]), settings, needle=rid))
                index = _find_error(window, int(occ["offset"]), stored)
    except OSError as exc:
        ctx.missing.append(f"request trail: cannot read {path.name} ({exc.strerror or exc})")
        return
    if index is None:
        ctx.missing.append(f"request trail: the error is no longer at its position in {path.name} (rotated or rewritten)")
        return
    error_offset = window[index][0]
    start = max(0, index - BEFORE_LINES)
    if rid:
        ctx.request_id = str(rid)
        trail = [(off, rec) for off, rec in window if rec.request_id == rid or (rec.request_id is None and str(rid) in rec.raw)]
        trail = _nearest(trail, error_offset, MAX_TRAIL_LINES)
        trail_offsets = {off for off, _ in trail}
        if ctx.trail_inferred:
            trail = [item for item in trail if item[0] < error_offset] + [window[index]]
        for number, (off, rec) in enumerate(trail, 1):
            if off == error_offset:
                ctx.trail_error_index = number - 1
            ctx.trail.append(f"{'>> ' if off == error_offset else ''}[T{number}] {render_record(rec, omit=str(rid))}")
    else:
        trail_offsets = set()
        ctx.missing.append("request trail: the error carries no request id")
    before = [(off, rec) for off, rec in window[start:index] if off not in trail_offsets]
    for number, (_off, rec) in enumerate(before, 1):
        ctx.before.append(f"[B{number}] {render_record(rec)}")


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


# -- source code ------------------------------------------------------------------------------------------------------


def _add_source(ctx: DiagnosisContext, settings: Settings, fp: dict[str, Any], record: LogRecord | None) -> None:
    frames = own_frames(record.backtrace if record else [], fp.get("target"), settings.repo_dir)
    ctx.frames = [f"[F{index}] {text}" for index, (text, _path, _line) in enumerate(frames, 1)]
    if settings.repo_dir is None:
        ctx.missing.append("source code: AIMON_REPO_DIR is not set")
        return
    locations: list[tuple[str, int]] = []
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
