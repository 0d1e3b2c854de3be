"""Log lines → :class:`~aimon.model.LogRecord`, whatever the format.

``parse_line`` reads one line; ``iter_records`` reads a stream of ``(offset, line)`` pairs and joins a Rust panic's
header, message and backtrace into one record. Lines that cannot be read (invalid JSON, invalid UTF-8, NUL bytes, a
JSON value that is not an object, an over-long line) are :class:`Malformed`: ``parse_line`` raises it,
``iter_records`` yields it in the record's place so a scan can count it and go on.

Formats (``fmt``): ``json`` (tracing-subscriber JSON), ``text`` (the tracing text format and generic ``TIME LEVEL``
lines), ``auto`` (per line: a line that starts with ``{`` is JSON, anything else is text).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import orjson

from aimon.logs.parsing.jsonlog import record_from_json
from aimon.logs.parsing.panics import HEADER_RE, PanicBlock, parse_header
from aimon.logs.parsing.textlog import parse_text
from aimon.model import LogRecord

MAX_LINE_BYTES = 1 << 20  # longer lines are malformed (a sane logger never writes one)
FORMATS = ("auto", "json", "text")
_BOILERPLATE = ("note: run with `RUST_BACKTRACE", "note: Some details are omitted", "stack backtrace:")
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
    return record_from_json(value, text, error_code_fields)


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
    return _parse_decoded(decode(line), fmt, error_code_fields)


def _parse_decoded(text: str, fmt: str, error_code_fields: Sequence[str]) -> LogRecord:
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
    return parse_text(text, error_code_fields)


Item = tuple[int, LogRecord | Malformed]


class RecordAssembler:
    """Feeds lines one at a time and emits finished records; holds an open panic block across lines.

    ``pending_offset`` is the offset of a panic block still open (its end has not been seen): a reader that stops at
    end of file keeps its checkpoint before it, so the block is read whole on the next tick. Panic records carry no
    time of their own: they get the time of the last record seen before them (``last_ts``).
    """

    def __init__(self, fmt: str = "auto", error_code_fields: Sequence[str] = ("error_code",)) -> None:
        self.fmt = fmt
        self.error_code_fields = tuple(error_code_fields)
        self.last_ts: float | None = None
        self._block: PanicBlock | None = None
        self._block_offset = 0

    @property
    def pending_offset(self) -> int | None:
        return self._block_offset if self._block is not None else None

    @property
    def in_panic(self) -> bool:
        return self._block is not None

    @property
    def pending_lines(self) -> int:
        """How many lines the open panic block holds (0 when none is open)."""
        return self._block.lines if self._block is not None else 0

    def drop_pending(self) -> None:
        """Forget an open panic block (its lines will be read again on the next tick)."""
        self._block = None

    def feed(self, offset: int, line: bytes | bytearray | str) -> list[Item]:
        """Take one line (with or without its newline); return the records it finished."""
        if self._block is None and line[:1] == b"{" and self.fmt != "text" and len(line) <= MAX_LINE_BYTES:
            record = self._fast_json(line)  # type: ignore[arg-type]
            if record is not None:
                return [(offset, record)]
        out: list[Item] = []
        if self._block is not None:
            text = _lenient(line)
            if self._block.absorb(text):
                return out
            out.append(self._close())
        try:
            text = decode(line)
        except Malformed as exc:
            out.append((offset, exc))
            return out
        if text[:1] != "{" and (not text.strip() or text.startswith(_BOILERPLATE)):
            return out  # blank lines and orphan panic boilerplate are not records
        if text[:1] != "{" and "panicked at" in text and HEADER_RE.match(text):  # panics, whatever the format
            block = parse_header(text)
            if block is not None:
                self._block, self._block_offset = block, offset
                return out
        try:
            record = _parse_decoded(text, self.fmt, self.error_code_fields)
        except Malformed as exc:
            out.append((offset, exc))
            return out
        if record.ts is not None:
            self.last_ts = record.ts
        elif record.is_panic:
            record.ts = self.last_ts
        out.append((offset, record))
        return out

    def _fast_json(self, line: bytes | bytearray) -> LogRecord | None:
        # The usual line of a tracing JSON log: orjson checks the UTF-8 (and refuses NUL bytes) itself, so the line is
        # decoded once, only to keep its text. Anything unusual takes the general path, which says what is wrong.
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(value, dict):
            return None
        record = record_from_json(value, line.decode("utf-8").rstrip("\r\n"), self.error_code_fields)
        if record.ts is not None:
            self.last_ts = record.ts
        return record

    def flush(self) -> list[Item]:
        """Finish an open panic block (end of input)."""
        return [self._close()] if self._block is not None else []

    def _close(self) -> Item:
        assert self._block is not None
        record = self._block.finish()
        if record.ts is None:
            record.ts = self.last_ts
        item = (self._block_offset, record)
        self._block = None
        return item


def _lenient(line: bytes | bytearray | str) -> str:
    if isinstance(line, str):
        return line.rstrip("\r\n")
    return bytes(line[: MAX_LINE_BYTES]).decode("utf-8", "replace").rstrip("\r\n")


def iter_records(
    lines: Iterable[tuple[int, bytes]], fmt: str = "auto", error_code_fields: Sequence[str] = ("error_code",)
) -> Iterator[Item]:
    """Records (or :class:`Malformed`) of a stream of ``(offset, line)``, each with the offset of its first line.

    Never raises for bad input: every line ends up in a record, a panic block, a ``Malformed`` item, or is skipped as
    blank or panic boilerplate.
    """
    assembler = RecordAssembler(fmt, error_code_fields)
    for offset, line in lines:
        yield from assembler.feed(offset, line)
    yield from assembler.flush()


__all__ = ["FORMATS", "MAX_LINE_BYTES", "Malformed", "RecordAssembler", "decode", "iter_records", "parse_line"]
