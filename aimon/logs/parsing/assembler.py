"""Lines → records: a Rust panic's header, message and backtrace, and a text event's continuation lines, joined.

:class:`RecordAssembler` takes lines one at a time and emits finished records, each with the offset of its first line.
A panic block stays open until a line that is not part of it (:mod:`aimon.logs.parsing.panics`); a text record that
opened with a known start (:mod:`aimon.logs.parsing.starts`) stays open until the next line that starts a record, and
takes the lines before it as the rest of its message and fields. Its level, time, target, spans and location come
from its first line only, so a continuation line can neither change what kind of record it is nor make a candidate
error of an INFO event; its message and fields are read from the whole text, as if the lines were one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import orjson

from aimon.logs.parsing.jsonlog import record_from_json
from aimon.logs.parsing.lines import MAX_LINE_BYTES, Malformed, check_event, decode, parse_decoded
from aimon.logs.parsing.panics import HEADER_RE, PanicBlock, parse_header
from aimon.logs.parsing.starts import MAX_CONTINUATION_LINES, MAX_RECORD_BYTES, starts_record, text_shape
from aimon.logs.parsing.textlog import parse_text
from aimon.model import LogRecord

_BOILERPLATE = ("note: run with `RUST_BACKTRACE", "note: Some details are omitted", "stack backtrace:")

Item = tuple[int, LogRecord | Malformed]


@dataclass
class TextBlock:
    """A text record still open: its first line and the continuation lines seen so far, read when it closes (so a
    record is parsed once, whole, however many lines it has).

    The kept text is bounded by :data:`MAX_RECORD_BYTES`: past it the middle is dropped (marked ``…``) and the last
    line is kept, since tracing writes an event's fields after its message.
    """

    offset: int
    first: str
    more: list[str] = field(default_factory=list)
    lines: int = 0
    size: int = 0
    last: str | None = None

    def absorb(self, text: str) -> bool:
        """Take the next line as part of this record; ``False`` once the record has all the lines it may take."""
        if self.lines >= MAX_CONTINUATION_LINES:
            return False
        self.lines += 1
        if self.last is None and self.size + len(text) < MAX_RECORD_BYTES:
            self.more.append(text)
            self.size += len(text) + 1
        else:
            self.last = text
        return True

    def finish(self, error_code_fields: Sequence[str]) -> LogRecord:
        """The record, read from its whole text."""
        more = self.more if self.last is None else [*self.more, "…", self.last]
        while more and not more[-1].strip():
            more = more[:-1]  # blank lines between two records belong to neither
        return parse_text(self.first, error_code_fields, "\n".join(more))


class RecordAssembler:
    """Feeds lines one at a time and emits finished records; holds an open panic block or text record across lines.

    ``pending_offset`` is the offset of a panic block still open (its end has not been seen): a reader that stops at
    end of file keeps its checkpoint before it, so the block is read whole on the next tick. Panic records carry no
    time of their own: they get the time of the last record seen before them (``last_ts``). ``shape`` is the file's
    text shape (``dated``, ``level``), taken from the first text record that opened with a known start.
    """

    def __init__(self, fmt: str = "auto", error_code_fields: Sequence[str] = ("error_code",)) -> None:
        self.fmt = fmt
        self.error_code_fields = tuple(error_code_fields)
        self.last_ts: float | None = None
        self.shape: str | None = None
        self._block: PanicBlock | None = None
        self._block_offset = 0
        self._text: TextBlock | None = None

    @property
    def pending_offset(self) -> int | None:
        return self._block_offset if self._block is not None else None

    @property
    def in_panic(self) -> bool:
        return self._block is not None

    @property
    def in_text(self) -> bool:
        """Is a text record open (it takes the lines that follow until one starts a record)?"""
        return self._text is not None

    @property
    def pending_lines(self) -> int:
        """How many lines the open panic block holds (0 when none is open)."""
        return self._block.lines if self._block is not None else 0

    def starts(self, line: bytes | bytearray | str) -> bool:
        """Does ``line`` start a record in this file's shape (rather than continue the one before it)?"""
        return starts_record(line, self.shape)

    def drop_pending(self) -> None:
        """Forget an open panic block (its lines will be read again on the next tick)."""
        self._block = None

    def feed(self, offset: int, line: bytes | bytearray | str) -> list[Item]:
        """Take one line (with or without its newline); return the records it finished."""
        out: list[Item] = []
        if self._text is not None:
            if not starts_record(line, self.shape) and self._text.absorb(_lenient(line)):
                return out
            out.extend(self.close_text())
        if self._block is None and line[:1] == b"{" and self.fmt != "text" and len(line) <= MAX_LINE_BYTES:
            record = self._fast_json(line)  # type: ignore[arg-type]
            if record is not None:
                out.append((offset, record))
                return out
        if self._block is not None:
            if self._block.absorb(_lenient(line)):
                return out
            out.append(self._close())
        try:
            text = decode(line)
        except Malformed as exc:
            out.append((offset, exc))  # and its continuation lines, if any, stand alone: nothing is read into it
            return out
        if text[:1] != "{" and (not text.strip() or text.startswith(_BOILERPLATE)):
            return out  # blank lines and orphan panic boilerplate are not records
        if text[:1] != "{" and "panicked at" in text and HEADER_RE.match(text):  # panics, whatever the format
            block = parse_header(text)
            if block is not None:
                self._block, self._block_offset = block, offset
                return out
        if self.fmt != "json" and text[:1] != "{":  # in a JSON log every line is an event: nothing continues
            shape = text_shape(line, self.shape)
            if shape is not None:  # a text record that takes the lines after it until the next record starts
                self.shape = self.shape or shape
                self._text = TextBlock(offset, text)
                return out
        try:
            record = parse_decoded(text, self.fmt, self.error_code_fields)
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
        try:
            check_event(value)
        except Malformed:
            return None
        record = record_from_json(value, line.decode("utf-8").rstrip("\r\n"), self.error_code_fields)
        if record.ts is not None:
            self.last_ts = record.ts
        return record

    def close_text(self) -> list[Item]:
        """Finish the open text record (the next line starts a record, or the input ends)."""
        block, self._text = self._text, None
        if block is None:
            return []
        record = block.finish(self.error_code_fields)
        if record.ts is not None:
            self.last_ts = record.ts
        return [(block.offset, record)]

    def flush(self) -> list[Item]:
        """Finish an open panic block or text record (end of input)."""
        if self._block is not None:
            return [self._close()]
        return self.close_text()

    def _close(self) -> Item:
        assert self._block is not None
        record = self._block.finish()
        if record.ts is None:
            record.ts = self.last_ts
        item = (self._block_offset, record)
        self._block = None
        return item


def _lenient(line: bytes | bytearray | str) -> str:
    # A line inside a record is kept even when it could not be read on its own: bad bytes become U+FFFD.
    text = line[:MAX_LINE_BYTES] if isinstance(line, str) else bytes(line[:MAX_LINE_BYTES]).decode("utf-8", "replace")
    return text.rstrip("\r\n").replace("\x00", "\ufffd")


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


__all__ = ["Item", "RecordAssembler", "TextBlock", "iter_records"]
