"""One tracing event written the ways ``tracing-subscriber`` 0.3 writes it (no tests here).

The shapes follow real output (tracing 0.1.37 / tracing-subscriber 0.3.16): the JSON formatter with ``fields`` and the
span list, the flattened JSON formatter, and the text formatter with or without thread names, thread ids, file:line
and ANSI colours. In the text format a ``Display`` value (``error = %e``) is written bare, even with spaces in it, and
a string recorded with ``Debug`` (``code = "X"``, the default for ``&str``) is quoted; span fields likewise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 3, 2, 10, 15, 0, tzinfo=UTC)
_COLOURS = {"TRACE": 35, "DEBUG": 34, "INFO": 32, "WARN": 33, "ERROR": 31}


@dataclass(frozen=True)
class Value:
    """A field value; ``display`` for ``key = %value`` (written bare in the text format)."""

    value: Any
    display: bool = False


@dataclass(frozen=True)
class Event:
    """A tracing event (``spans``: outermost first, each ``(name, fields)``)."""

    millis: int
    level: str
    target: str
    message: str
    fields: tuple[tuple[str, Value], ...] = ()
    spans: tuple[tuple[str, tuple[tuple[str, Value], ...]], ...] = ()
    file: str | None = None
    line: int | None = None
    thread_name: str = "tokio-runtime-worker"
    thread_id: int = 2

    @property
    def timestamp(self) -> str:
        return (START + timedelta(milliseconds=self.millis)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Text:
    """A text formatter set-up."""

    thread_names: bool = False
    thread_ids: bool = False
    file_line: bool = False
    ansi: bool = False


@dataclass(frozen=True)
class Json:
    """A JSON formatter set-up (``flatten``: ``flatten_event(true)``; ``span_list``: current span and span list)."""

    flatten: bool = False
    span_list: bool = True


Format = Text | Json


@dataclass
class Stderr:
    """Lines a Rust panic writes to stderr (shared by every format)."""

    lines: list[str] = field(default_factory=list)


def _json_value(value: Value) -> Any:
    return str(value.value) if value.display else value.value


def as_json(event: Event, fmt: Json) -> str:
    """The event as the JSON formatter writes it (keys in the serializer's order)."""
    body: dict[str, Any] = {"message": event.message, **{key: _json_value(value) for key, value in event.fields}}
    obj: dict[str, Any] = {"timestamp": event.timestamp, "level": event.level}
    if fmt.flatten:
        obj.update(body)
    else:
        obj["fields"] = body
    obj["target"] = event.target
    if event.file:
        obj["filename"], obj["line_number"] = event.file, event.line
    if fmt.span_list and event.spans:
        # The formatter keeps span fields in a sorted map; the span's name comes last.
        spans = [{**{key: _json_value(value) for key, value in sorted(fields)}, "name": name} for name, fields in event.spans]
        obj["span"], obj["spans"] = spans[-1], spans
    obj["threadName"], obj["threadId"] = event.thread_name, f"ThreadId({event.thread_id})"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _text_value(value: Value) -> str:
    if value.display or not isinstance(value.value, str):
        return str(value.value)
    return json.dumps(value.value, ensure_ascii=False)


def _styled(text: str, code: str, ansi: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if ansi else text


def _pairs(fields: tuple[tuple[str, Value], ...], ansi: bool) -> str:
    return " ".join(f"{_styled(key, '3', ansi)}{_styled('=', '2', ansi)}{_text_value(value)}" for key, value in fields)


def as_text(event: Event, fmt: Text) -> str:
    """The event as the text formatter writes it: ``TIME LEVEL [thread] spans: target: [file:line:] message k=v…``."""
    ansi = fmt.ansi
    parts = [_styled(event.timestamp, "2", ansi), _styled(f"{event.level:>5}", str(_COLOURS[event.level]), ansi)]
    if fmt.thread_names:
        parts.append(event.thread_name)
    if fmt.thread_ids:
        parts.append(f"ThreadId({event.thread_id:02d})")
    if event.spans:
        spans = "".join(f"{_styled(name, '1', ansi)}{_styled('{', '1', ansi)}{_pairs(fields, ansi)}{_styled('}', '1', ansi)}{_styled(':', '2', ansi)}"
                        for name, fields in event.spans)
        parts.append(spans)
    parts.append(f"{_styled(event.target, '2', ansi)}{_styled(':', '2', ansi)}")
    if fmt.file_line and event.file:
        parts.append(f"{_styled(event.file, '2', ansi)}{_styled(':', '2', ansi)}{_styled(f'{event.line}:', '2', ansi)}")
    line = " ".join(parts) + " " + event.message
    if event.fields:
        line += " " + _pairs(event.fields, ansi)
    return line


def write(events: list[Event | Stderr], fmt: Format) -> str:
    """The log file's text: every event in ``fmt``, stderr lines as they are."""
    out: list[str] = []
    for item in events:
        if isinstance(item, Stderr):
            out.extend(item.lines)
        else:
            out.append(as_json(item, fmt) if isinstance(fmt, Json) else as_text(item, fmt))
    return "\n".join(out) + "\n"


# Every set-up of the real service's subscriber (and a few more): the same events must read the same in each.
FORMATS: dict[str, Format] = {
    "json": Json(),
    "json-flat-spans": Json(flatten=True),
    "text-default": Text(),
    "text-file-line": Text(file_line=True),
    "text-thread-ids": Text(thread_ids=True, file_line=True),
    "text-thread-names": Text(thread_names=True),
    "text-full": Text(thread_names=True, thread_ids=True, file_line=True),
    "text-ansi": Text(file_line=True, ansi=True),
    "text-full-ansi": Text(thread_names=True, thread_ids=True, file_line=True, ansi=True),
}
