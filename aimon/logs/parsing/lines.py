"""One log line → :class:`~aimon.model.LogRecord`, or :class:`Malformed` saying why it cannot be read."""

from __future__ import annotations

import re
from collections.abc import Sequence

import orjson

from aimon.logs.parsing.jsonlog import CANONICAL_LEVELS, normalize_level, record_from_json
from aimon.logs.parsing.panics import parse_header
from aimon.logs.parsing.starts import is_harness_line, starts_record
from aimon.logs.parsing.textlog import parse_text
from aimon.model import LogRecord

MAX_LINE_BYTES = 1 << 20  # longer lines are malformed (a sane logger never writes one)
FORMATS = ("auto", "json", "text")
_JSON_SCALAR_START = frozenset("-0123456789\"")


class Malformed(Exception):
    """A line that cannot be read as a log record; ``reason`` says why (it never carries the line's text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Malformed) and other.reason == self.reason

    def __hash__(self) -> int:
        return hash(self.reason)


def decode(line: bytes | bytearray | str) -> str:
    """The text of one line without its line ending; :class:`Malformed` for NUL bytes or invalid UTF-8."""
    if isinstance(line, bytes | bytearray | memoryview):
        data = bytes(line)
        if len(data) > MAX_LINE_BYTES:
            raise Malformed(f"line longer than {MAX_LINE_BYTES} bytes")
        if b"\x00" in data:
            raise Malformed("NUL byte in line")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("invalid UTF-8") from None
    else:
        text = line
        if len(text) > MAX_LINE_BYTES:
            raise Malformed(f"line longer than {MAX_LINE_BYTES} bytes")
        if "\x00" in text:
            raise Malformed("NUL byte in line")
    return text.rstrip("\r\n")


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"


def _parse_json(text: str, error_code_fields: Sequence[str]) -> LogRecord:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Malformed(f"invalid JSON ({str(exc).split(':')[0]})") from None
    if not isinstance(value, dict):
        raise Malformed(f"JSON {_json_kind(value)} where an object belongs")
    check_event(value)
    return record_from_json(value, text, error_code_fields)


def check_event(event: dict[str, object]) -> None:
    """A JSON event that matches the log format only in part is malformed, not an INFO line: a ``level`` that is no
    level, or tracing's ``fields`` with no level beside them."""
    level = event.get("level")
    if level is not None:
        if level.__class__ is str and level in CANONICAL_LEVELS:
            return  # tracing's own spelling: the usual case, without normalising it
        if normalize_level(level) is None:
            raise Malformed("JSON event with an unreadable level")
    elif isinstance(event.get("fields"), dict) and normalize_level(event.get("severity", event.get("lvl"))) is None:
        raise Malformed("JSON event without a level")


def _looks_like_json_value(stripped: str) -> bool:
    # `[1,2]`, `42`, `"x"`, `null`: JSON that is not an event. `[2024-… ERROR x] msg` (env_logger) is text.
    if stripped[0] == "[":
        return stripped.endswith("]")
    return stripped[0] in _JSON_SCALAR_START or stripped in ("true", "false", "null")


def parse_line(line: bytes | str, fmt: str = "auto", error_code_fields: Sequence[str] = ("error_code",)) -> LogRecord:
    """Read one log line (a panic header alone gives a ``PANIC`` record without its message lines).

    Raises :class:`Malformed` when the line cannot be read; an empty line is malformed too (``iter_records`` skips
    empty lines instead).
    """
    return parse_decoded(decode(line), fmt, error_code_fields)


def parse_decoded(text: str, fmt: str, error_code_fields: Sequence[str]) -> LogRecord:
    """:func:`parse_line` of a line already decoded (no line ending)."""
    if text[:1] == "{" and text[-1:] == "}" and fmt != "text":  # the usual tracing JSON line: no copies
        return _parse_json(text, error_code_fields)
    stripped = text.strip()
    if not stripped:
        raise Malformed("empty line")
    if fmt == "json" or stripped[0] == "{":
        if fmt == "text":
            return parse_text(text, error_code_fields)
        return _parse_json(stripped, error_code_fields)
    if fmt == "auto" and _looks_like_json_value(stripped):
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
        else:
            raise Malformed(f"JSON {_json_kind(value)} where an object belongs")
    block = parse_header(text) if "panicked at" in text else None
    if block is not None:
        return block.finish()
    if fmt == "auto" and stripped[-1:] == "}":
        prefixed = _prefixed_json(stripped, error_code_fields)
        if prefixed is not None:
            return prefixed
    return parse_text(text, error_code_fields)


_JSON_EVENT_START = re.compile(r'\{"(?:timestamp|level)":')


def _prefixed_json(text: str, error_code_fields: Sequence[str]) -> LogRecord | None:
    """A JSON event printed after other output on the same line (libtest's ``test x ... `` or cargo's progress, when
    a test's log line and the harness's own text share a line); None when the line is not one."""
    found = _JSON_EVENT_START.search(text, 1)
    if found is None:
        return None
    before = text[: found.start()]
    if starts_record(before + " x", None) and not is_harness_line(before):
        return None  # a text record of its own whose message ends in JSON
    try:
        return _parse_json(text[found.start():], error_code_fields)
    except Malformed:
        return None


__all__ = ["FORMATS", "MAX_LINE_BYTES", "Malformed", "check_event", "decode", "parse_decoded", "parse_line"]
