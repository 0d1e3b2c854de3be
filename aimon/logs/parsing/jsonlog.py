"""``tracing-subscriber`` JSON events (and the lenient hand-written variants) → :class:`LogRecord`.

The serializer writes ``timestamp``, ``level``, ``fields`` (or, with ``flatten_event(true)``, the event fields at the
root), ``target``, ``filename``, ``line_number``, ``span``, ``spans``, ``threadName``, ``threadId``. Events logged by a
``tracing-panic`` hook carry ``panic.payload`` / ``panic.location`` (/ ``panic.backtrace``) fields: those become
``PANIC`` records located at the panic site.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aimon.logs.parsing.timestamps import parse_timestamp
from aimon.model import LogRecord

# Keys the formatter itself writes; everything else at the root of a flattened event is an event field.
ENVELOPE_KEYS = frozenset(
    {"timestamp", "time", "ts", "@timestamp", "level", "severity", "lvl", "target", "filename", "line_number",
     "span", "spans", "threadName", "threadId", "fields"}
)
REQUEST_ID_KEYS = ("request_id", "requestId", "request.id", "req_id", "x_request_id", "trace_id")
_NUMERIC_LEVELS = ((60, "FATAL"), (50, "ERROR"), (40, "WARN"), (30, "INFO"), (20, "DEBUG"), (0, "TRACE"))
_LEVEL_ALIASES = {
    "WARNING": "WARN", "ERR": "ERROR", "CRITICAL": "FATAL", "CRIT": "FATAL", "EMERG": "FATAL", "ALERT": "FATAL",
    "SEVERE": "ERROR", "NOTICE": "INFO", "INFORMATION": "INFO", "FINE": "DEBUG", "PANIC": "PANIC",
    "EMERGENCY": "FATAL", "VERBOSE": "TRACE", "FINER": "TRACE", "FINEST": "TRACE", "DBG": "DEBUG", "INF": "INFO",
    "WRN": "WARN", "FTL": "FATAL", "TRC": "TRACE", "DPANIC": "ERROR",
    "E": "ERROR", "W": "WARN", "I": "INFO", "D": "DEBUG", "T": "TRACE", "F": "FATAL",
}
_LEVELS = {name: name for name in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")}
CANONICAL_LEVELS = frozenset((*_LEVELS, "FATAL"))  # what normalize_level returns unchanged
_LOCATION_RE = re.compile(r"^(.*?):(\d+)(?::(\d+))?$")


def normalize_level(value: object) -> str | None:
    """``"error"``, ``"Warning"``, ``50`` (bunyan) … → one of ``LEVEL_RANK``'s keys, or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        for floor, name in _NUMERIC_LEVELS:
            if value >= floor:
                return name
        return None
    if not isinstance(value, str):
        return None
    upper = value.strip().upper()
    if upper in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"):
        return upper
    return _LEVEL_ALIASES.get(upper)


def split_location(text: str) -> tuple[str | None, int | None]:
    """``src/main.rs:10:5`` → (``src/main.rs``, 10)."""
    match = _LOCATION_RE.match(text.strip())
    if not match:
        return (text.strip() or None), None
    return match.group(1), int(match.group(2))


def _scalar_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _event_fields(obj: dict[str, Any]) -> dict[str, Any]:
    fields = obj.get("fields")
    if isinstance(fields, dict):
        return fields
    # flatten_event(true): the event's fields sit at the root next to the envelope.
    return {key: value for key, value in obj.items() if key not in ENVELOPE_KEYS}


def _span_list(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spans = obj.get("spans")
    if isinstance(spans, list):
        return [span for span in spans if isinstance(span, dict)]
    span = obj.get("span")
    return [span] if isinstance(span, dict) else []


def _message(fields: dict[str, Any]) -> str:
    for key in ("message", "msg"):
        text = _scalar_text(fields.get(key))
        if text is not None:
            return text
    # Events logged with fields only (``debug!(yak, shaved = true)``) read as their key=value pairs.
    return " ".join(f"{key}={_scalar_text(value) or value}" for key, value in fields.items())


def _first(fields: dict[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = fields.get(key)
        if value is not None:
            text = value if isinstance(value, str) else _scalar_text(value)
            if text:
                return text
    return None


_REQUEST_ID_KEY_SET = frozenset(REQUEST_ID_KEYS)


def _request_id(fields: dict[str, Any], spans: list[dict[str, Any]]) -> str | None:
    for holder in (fields, *reversed(spans)):  # the event, then the innermost span that has one
        if holder.keys().isdisjoint(_REQUEST_ID_KEY_SET):
            continue  # one set test instead of a lookup per key, for the holders that have none
        for key in REQUEST_ID_KEYS:
            value = holder.get(key)
            if value is not None:
                text = value if isinstance(value, str) else _scalar_text(value)
                if text:
                    return text
    return None


def record_from_json(obj: dict[str, Any], raw: str, error_code_fields: Sequence[str]) -> LogRecord:
    """Build a record from one decoded JSON event (``obj`` must be a dict)."""
    fields = obj.get("fields")
    if not isinstance(fields, dict):
        fields = _event_fields(obj)
    spans = _span_list(obj) if "spans" in obj or "span" in obj else []
    level_value = obj.get("level")
    if level_value is None:
        level_value = obj.get("severity", obj.get("lvl"))
    level = _LEVELS.get(level_value) if isinstance(level_value, str) else None
    if level is None:
        level = normalize_level(level_value) or "INFO"
    raw_ts = obj.get("timestamp")
    if raw_ts is None:
        raw_ts = obj.get("time", obj.get("ts", obj.get("@timestamp")))
    message = fields.get("message")
    if not isinstance(message, str):
        message = _message(fields)
    line_number = obj.get("line_number")
    thread = obj.get("threadName") or obj.get("threadId")
    target = obj.get("target")
    filename = obj.get("filename")
    record = LogRecord(
        level=level,
        message=message,
        ts=parse_timestamp(raw_ts),
        target=target if isinstance(target, str) else _scalar_text(target),
        error_code=_first(fields, error_code_fields) or (_first(obj, error_code_fields) if fields is not obj else None),
        request_id=_request_id(fields, spans),
        file=filename if isinstance(filename, str) else _scalar_text(filename),
        line=line_number if isinstance(line_number, int) and not isinstance(line_number, bool) else None,
        thread=_scalar_text(thread),
        fields=fields,
        spans=spans,
        format="json",
        raw=raw,
    )
    if "panic.payload" in fields or "panic.location" in fields:
        _as_panic(record, fields)
    return record


def _as_panic(record: LogRecord, fields: dict[str, Any]) -> None:
    # A tracing-panic hook event: the payload is the message, the location is where the code panicked.
    record.level = "PANIC"
    payload = _scalar_text(fields.get("panic.payload"))
    if payload:
        record.message = payload
    location = _scalar_text(fields.get("panic.location"))
    if location:
        record.file, record.line = split_location(location)
    backtrace = _scalar_text(fields.get("panic.backtrace"))
    if backtrace:
        record.backtrace = [line.strip() for line in backtrace.splitlines() if line.strip()]
