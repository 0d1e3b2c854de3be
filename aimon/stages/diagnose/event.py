"""How the diagnoser reads one parsed record: what the event says, whatever format it was written in, and how it is shown.

The same tracing event reaches the diagnoser split differently by each format: the JSON formatter keeps the message
and every field apart (nested under ``fields`` or flattened at the root); the text formatter writes ``Display`` values
bare, so a value with spaces (``error=operation timed out``) may stay inside the message. :func:`event_text` is the
one reading the diagnoser classifies: the message, then *every* field of the event as ``key=value`` unless the
message already holds its value — the same words whichever way the line was written. Span fields, the request id and
the formatter's envelope (time, level, target, file:line, thread) are not part of what the event says.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from aimon.logs.parsing.jsonlog import REQUEST_ID_KEYS
from aimon.model import LogRecord

MAX_LINE_CHARS = 1500  # longer lines are shortened (with a marker) before any budget is applied
_NOT_SAID = frozenset({"message", "msg", "panic.backtrace", *REQUEST_ID_KEYS})  # the text, its id, its backtrace
_THREAD_ID_RE = re.compile(r"ThreadId\(\d+\)")


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def event_text(record: LogRecord) -> str:
    """What the event says: its message and each of its own fields as ``key=value`` (values already in the message
    are not repeated; ``log.*`` fields are tracing-log's metadata about where the line came from)."""
    parts = [record.message]
    for key, value in record.fields.items():
        if key in _NOT_SAID or key.startswith("log.") or value is None:
            continue
        text = _value_text(value)
        if text and text not in record.message:
            parts.append(f"{key}={text}")
    return " ".join(part for part in parts if part)


def thread_name(record: LogRecord) -> str | None:
    """The record's thread *name*, or None when only an id is known (tracing's ``ThreadId(N)`` and a panic header's
    OS thread id do not compare) or the thread is unnamed."""
    name = (record.thread or "").strip()
    if not name or name == "<unnamed>" or _THREAD_ID_RE.fullmatch(name):
        return None
    return name


def location(record: LogRecord) -> str | None:
    """``file:line`` of the code that logged (or panicked), or None."""
    if not record.file:
        return None
    return f"{record.file}:{record.line}" if record.line else record.file


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
