"""Plain-text log lines → :class:`LogRecord`: the default ``tracing`` text format and generic ``TIME LEVEL …`` lines.

``tracing``'s full format is ``<time> <LEVEL> [<thread>] [<span>{<fields>}:…] <target>: [<file>:<line>:] <message>
<k=v>…`` with level names padded to five characters. Generic lines (env_logger ``[time LEVEL target] msg``, Python's
``time LEVEL name: msg``, logfmt ``level=error msg="…"``) are read by finding a timestamp at the start and a level
word near it. A line with neither keeps its whole text as the message at level ``INFO`` (it is not an error group).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aimon.logs.parsing.jsonlog import REQUEST_ID_KEYS, normalize_level, split_location
from aimon.logs.parsing.starts import UPTIME
from aimon.logs.parsing.timestamps import ISO_RE, SYSLOG_RE, from_iso_match, parse_timestamp
from aimon.model import LogRecord

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LEVEL_WORD_RE = re.compile(
    r"(?<![\w.-])(TRACE|DEBUG|INFO|WARN(?:ING)?|ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC|"
    r"[Tt]race|[Dd]ebug|[Ii]nfo|[Ww]arn(?:ing)?|[Ee]rror|[Ff]atal|[Cc]ritical)(?![\w-])"
)
_LOGFMT_LEVEL_RE = re.compile(r"(?:^|\s)(?:level|lvl|severity)=\"?([A-Za-z]+)")
_LOGFMT_TIME_RE = re.compile(r"(?:^|\s)(?:time|ts|timestamp)=\"?([^\s\"]+)")
_LOGFMT_MSG_RE = re.compile(r"(?:^|\s)(?:msg|message)=(\"(?:[^\"\\]|\\.)*\"|\S+)")
# tracing span context: ``outer{a=1}:inner:`` right before the target. Span fields may hold nested braces.
_SPANS_RE = re.compile(r"((?:[A-Za-z_][\w.-]*(?:\{(?:[^{}]|\{[^{}]*\})*\})?:)+)\s")
_SPAN_RE = re.compile(r"([A-Za-z_][\w.-]*)(?:\{((?:[^{}]|\{[^{}]*\})*)\})?:")
_TARGET_RE = re.compile(r"([A-Za-z_][\w.-]*(?:::[\w.-]+)*):\s")
_THREAD_RE = re.compile(r"(ThreadId\(\d+\))\s")
# A thread name is one word; it is told from the first word of a message by what follows it: the thread id, a span
# with fields, or a module-path target (colons and bars included: actix names its threads
# ``actix-rt|system:0|arbiter:1``; never a word that ends in a colon, which is a target). Before a one-word target
# (``tokio-runtime-worker shop: …``) it cannot be told from a generic log's ``payment-service timeout: …``, so
# there the words stay the message.
_THREAD_NAME_RE = re.compile(
    r"(\S+) (?=ThreadId\(\d+\)\s)|([^\s{}\[\]=\"']+(?<!:)) (?=[A-Za-z_][\w.-]*\{)"
    r"|([^\s{}\[\]=\"']+(?<!:)) (?=[A-Za-z_][\w.-]*(?:::[\w.-]+)+:\s)"
)
_UPTIME_RE = re.compile(rf"{UPTIME} ")
_FILE_LINE_RE = re.compile(r"([\w./\\-]+\.\w+):(\d+):\s")
_KV_RE = re.compile(r"(?:^|[\s{,])([A-Za-z_][\w.]*)=(\"(?:[^\"\\]|\\.)*\"|[^\s,}]+)")


_TRAILING_FIELD_RE = re.compile(r"\s+[A-Za-z_][\w.]*=(?:\"(?:[^\"\\]|\\.)*\"|[^\s\"{}()\[\],=]+)$")


def _without_trailing_fields(message: str) -> str:
    """``query failed error_code=DB_SLOW took=3ms`` → ``query failed``: tracing writes an event's fields after its
    message, and they are fields (as in the JSON format), not part of what the message says."""
    stripped = message
    while (found := _TRAILING_FIELD_RE.search(stripped)) is not None:
        stripped = stripped[: found.start()]
    return stripped or message


def _field_values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in _KV_RE.findall(text):
        values.setdefault(key, value[1:-1] if value.startswith('"') and value.endswith('"') else value)
    return values


def _timestamp_prefix(text: str) -> tuple[float | None, int]:
    """The time at the start of a line (optionally after ``[``) and where it ends."""
    start = 1 if text.startswith("[") else 0
    match = ISO_RE.match(text, start)
    if match:
        return from_iso_match(match), match.end()
    match = SYSLOG_RE.match(text, start)
    if match:
        return parse_timestamp(match.group(0)), match.end()
    return None, 0


def _spans(context: str) -> list[dict[str, str]]:
    spans: list[dict[str, str]] = []
    for name, fields in _SPAN_RE.findall(context):
        span: dict[str, str] = {"name": name}
        span.update(_field_values(fields))
        spans.append(span)
    return spans


def _is_span_context(context: str, after: str) -> bool:
    # ``name:`` alone is the target; it is a span when it has fields, when spans are chained (``a:b:``), or when a
    # module-path target follows it.
    if "{" in context or context.count(":") > 1:
        return True
    target = _TARGET_RE.match(after)
    return target is not None and "::" in target.group(1)


def parse_text(text: str, error_code_fields: Sequence[str], more: str = "") -> LogRecord:
    """Read one plain-text record: its first line ``text`` (no newline at the end) and ``more``, the lines that
    continue it (joined by newlines, or empty).

    Time, level, thread, spans, target and location are read from the first line only; message and fields from the
    whole text, exactly as if its lines were one.
    """
    if "\x1b" in text:
        text = ANSI_RE.sub("", text)
    if "\x1b" in more:
        more = ANSI_RE.sub("", more)
    ts, position = _timestamp_prefix(text)
    if not position and (uptime := _UPTIME_RE.match(text)) is not None:
        position = uptime.end()  # seconds since the service started: no time of day to read
    rest = text[position:]
    level: str | None = None
    match = _LEVEL_WORD_RE.search(rest, 0, 48) if position or rest[:1] == "[" else None
    if match is None:
        # Without a time only an upper-case level word opens the line ("ERROR: …"); "fatal runtime error: …" is prose.
        match = _LEVEL_WORD_RE.match(rest.lstrip(" ["))
        if match is not None and match.group(1).isupper():
            rest = rest.lstrip(" [")
        else:
            match = None
    if match is not None:
        level = normalize_level(match.group(1))
        rest = rest[match.end():]
    else:
        logfmt = _LOGFMT_LEVEL_RE.search(text)
        if logfmt is not None:
            return _logfmt(f"{text}\n{more}" if more else text, logfmt.group(1), ts, error_code_fields)
    record = LogRecord(level=level or "INFO", message="", ts=ts, format="text", raw=f"{text}\n{more}" if more else text)
    _tracing_tail(record, f"{rest}\n{more}" if more else rest, error_code_fields)
    return record


def _tracing_tail(record: LogRecord, rest: str, error_code_fields: Sequence[str]) -> None:
    """Fill target, spans, location and message from what follows the level."""
    rest = rest.lstrip()
    bracketed = rest.split("]", 1) if record.raw.startswith("[") and "]" in rest else None
    if bracketed is not None and " " not in bracketed[0].strip():  # env_logger: ``[time LEVEL target] message``
        record.target = bracketed[0].strip() or None
        rest = bracketed[1].lstrip(" :-")
    else:
        rest = rest.lstrip(":-| ")
        name = _THREAD_NAME_RE.match(rest)
        if name:  # ``with_thread_names(true)``: the name comes first (and the id after it, when both are on)
            record.thread, rest = name.group(name.lastindex or 1), rest[name.end():]
        thread = _THREAD_RE.match(rest)
        if thread:
            record.thread, rest = record.thread or thread.group(1), rest[thread.end():]
        spans = _SPANS_RE.match(rest)
        if spans and _is_span_context(spans.group(1), rest[spans.end():]):
            record.spans = _spans(spans.group(1))
            rest = rest[spans.end():]
        target = _TARGET_RE.match(rest)
        if target:
            record.target, rest = target.group(1), rest[target.end():]
        location = _FILE_LINE_RE.match(rest)
        if location:
            record.file, record.line = split_location(f"{location.group(1)}:{location.group(2)}")
            rest = rest[location.end():]
    record.message = _without_trailing_fields(rest.strip())
    fields = _field_values(rest) if "=" in rest else {}
    record.fields = dict(fields)
    record.error_code = next((fields[key] for key in error_code_fields if fields.get(key)), None)
    record.request_id = next((fields[key] for key in REQUEST_ID_KEYS if fields.get(key)), None)
    if record.request_id is None:
        for span in reversed(record.spans):
            record.request_id = next((span[key] for key in REQUEST_ID_KEYS if span.get(key)), None)
            if record.request_id:
                break


def _logfmt(text: str, level: str, ts: float | None, error_code_fields: Sequence[str]) -> LogRecord:
    fields = _field_values(text)
    if ts is None:
        found = _LOGFMT_TIME_RE.search(text)
        ts = parse_timestamp(found.group(1)) if found else None
    message = _LOGFMT_MSG_RE.search(text)
    record = LogRecord(level=normalize_level(level) or "INFO", message=text, ts=ts, format="text", raw=text)
    if message is not None:
        value = message.group(1)
        record.message = value[1:-1].replace('\\"', '"') if value.startswith('"') else value
    record.fields = dict(fields)
    record.target = fields.get("target") or fields.get("logger") or fields.get("module")
    record.error_code = next((fields[key] for key in error_code_fields if fields.get(key)), None)
    record.request_id = next((fields[key] for key in REQUEST_ID_KEYS if fields.get(key)), None)
    return record
