"""Reading big byte chunks fast: count every line, parse only the lines that can matter.

A scan is dominated by lines nobody needs (INFO, DEBUG). For each chunk of complete lines the scanner counts lines
and finds *candidate* lines by a search of a few literal markers (:mod:`aimon.logs.parsing.search`, SIMD when it
can): the upper-case level names at or above the minimum level (``ERROR``; ``WARN`` too when the minimum is WARN)
and ``panicked at``. Only those lines are decoded and parsed; a Rust panic header pulls in the lines after it (message, backtrace), and a text record
its continuation lines (the lines up to the next record start), even though they carry no marker. A candidate line
that does not start a record continues the record before it: when that record is not a candidate the line is not
parsed either (``ERROR:`` inside an INFO event's SQL dump is no error). Lines that are not candidates are counted but
not parsed, so a malformed INFO line is not noticed.

Why one pass per literal and not one alternation regex: CPython's ``re`` has no multi-literal search;
``ERROR|panicked at`` runs at ~0.2 GB/s, while one literal is found at memory speed. A JSON event line (``{…}``) is
known to start a record without running the start patterns on it.

The first :data:`SNIFF_BYTES` of every read are parsed in full. If that sample holds a line at or above the minimum
level that no marker would have found (``"level":"error"``, ``level=fatal``, ``CRITICAL``, bunyan's ``50``), the
rest of the read is parsed in full too: correctness first. Small reads (a cron tick's few new lines) are therefore
always read exactly, malformed lines included.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence

from aimon.logs.parsing.assembler import Item, RecordAssembler
from aimon.logs.parsing.lines import Malformed, decode
from aimon.logs.parsing.search import count_lines, marker_lines
from aimon.logs.parsing.starts import DATED, LEVEL, MAX_CONTINUATION_LINES, text_shape
from aimon.logs.parsing.timestamps import ISO_RE, from_iso_match
from aimon.model import LEVEL_RANK, LogRecord

SNIFF_BYTES = 256 * 1024
PANIC_MARKER = b"panicked at"
# Found with the shorter ``ked at`` (its rare first letter makes the search faster, and it covers the ``(tid)``
# shape); lines without ``panicked at`` are then dropped before parsing.
_PANIC_SEARCH = b"ked at"


def markers_for(min_level: str) -> tuple[bytes, ...] | None:
    """The literal markers of candidate lines for a minimum level, or ``None`` when every line must be parsed."""
    floor = LEVEL_RANK.get(min_level, LEVEL_RANK["ERROR"])
    if floor < LEVEL_RANK["WARN"]:
        return None  # INFO and below are most lines: parsing everything is simpler and not slower
    names = [name.encode() for name in ("WARN", "ERROR") if LEVEL_RANK[name] >= floor]
    return (*names, PANIC_MARKER)


def wanted(record: LogRecord, min_rank: int) -> bool:
    """Is this record an error group candidate (at or above the minimum level, or a panic)?"""
    return record.is_panic or record.rank >= min_rank


class LineScanner:
    """Turns chunks of complete lines into records, counting every line.

    Feed it consecutive chunks with :meth:`scan`; ``lines`` counts the lines seen; records and :class:`Malformed`
    items come out with the file offset of their first line. The :class:`RecordAssembler` it holds keeps a panic
    block or a text record open across chunks (``assembler.pending_offset``). Whatever lines it parses, the records
    at or above the minimum level are the ones a full parse gives.
    """

    def __init__(
        self, fmt: str, error_code_fields: Sequence[str], min_level: str, *, full: bool = False
    ) -> None:
        self.assembler = RecordAssembler(fmt, error_code_fields)
        self.min_rank = LEVEL_RANK.get(min_level, LEVEL_RANK["ERROR"])
        self.markers = markers_for(min_level)
        self._needles = [_PANIC_SEARCH if marker == PANIC_MARKER else marker for marker in self.markers or ()]
        self.full = full or self.markers is None or fmt not in ("auto", "json", "text")
        self._levels = [marker for marker in self.markers or () if marker != PANIC_MARKER]
        self.lines = 0
        self.parsed_bytes = 0  # how much has been parsed in full so far (the sniff sample)
        self._sniffed = False
        # Which record the first line of the next chunk would continue: (opens text, lines since its start).
        self._carry: tuple[bool, int] = (False, MAX_CONTINUATION_LINES + 1)
        self._tail_ts: float | None = None  # the time of the last timed line of the previous chunk

    def scan(self, buf: bytes | bytearray, end: int, base: int) -> Iterator[Item]:
        """Records of ``buf[:end]`` (which ends right after a newline); ``base`` is the file offset of ``buf[0]``."""
        self.lines += count_lines(buf, 0, end)
        pos = 0
        if self.assembler.in_panic or self.assembler.in_text:
            pos = yield from self._follow(buf, pos, end, base)
        if not self._sniffed:
            sample_end = _line_end(buf, min(end, pos + SNIFF_BYTES - self.parsed_bytes), end)
            pos = yield from self._sniff(buf, pos, sample_end, base)
            if not self.full:
                pos = yield from self._follow(buf, pos, end, base)
        if self.full:
            yield from self._feed_lines(buf, pos, end, base)
        else:
            yield from self._candidates(buf, pos, end, base)
        if not self.full:
            self._carry = self._owner(buf, end)
            self._tail_ts = self._time_before(buf, end)

    def _sniff(self, buf: bytes | bytearray, pos: int, end: int, base: int) -> Generator[Item, None, int]:
        for item in self._feed_lines(buf, pos, end, base):
            record = item[1]
            # A candidate is found by its first line: the markers must be there, not in a continuation line.
            if not self.full and isinstance(record, LogRecord) and wanted(record, self.min_rank) and not any(
                marker in record.raw.split("\n", 1)[0].encode("utf-8", "replace") for marker in self.markers or ()
            ):
                self.full = True  # this log spells levels in a way the markers miss
            yield item
        self.parsed_bytes += end - pos
        if self.parsed_bytes >= SNIFF_BYTES:
            self._sniffed = True
        return end

    def _feed_lines(self, buf: bytes | bytearray, pos: int, end: int, base: int) -> Generator[Item, None, int]:
        feed = self.assembler.feed
        while pos < end:
            newline = buf.find(b"\n", pos, end)
            stop = end if newline < 0 else newline + 1
            line = buf[pos:stop]
            if PANIC_MARKER in line and not self.assembler.in_panic:
                self._time_hint(buf, pos)
            yield from feed(base + pos, line)
            pos = stop
        return pos

    def _follow(self, buf: bytes | bytearray, pos: int, end: int, base: int) -> Generator[Item, None, int]:
        """Feed the lines after a panic header or a text record's first line until the record closes."""
        assembler = self.assembler
        feed = assembler.feed
        while pos < end and (assembler.in_panic or assembler.in_text):
            newline = buf.find(b"\n", pos, end)
            stop = end if newline < 0 else newline + 1
            line = bytes(buf[pos:stop])
            if assembler.in_text and assembler.starts(line):
                yield from assembler.close_text()  # the next record: a candidate or not, it is the caller's to read
                break
            yield from feed(base + pos, line)
            pos = stop
        return pos

    def _owner(self, buf: bytes | bytearray, at: int) -> tuple[bool, int]:
        """The record a line at ``at`` would continue: does it open with a text start, and how many lines after it
        is ``at`` (more than :data:`MAX_CONTINUATION_LINES`: none; the line then stands alone)."""
        assembler = self.assembler
        stop, steps = at, 0
        while stop > 0:
            steps += 1
            if steps > MAX_CONTINUATION_LINES:
                return False, steps
            begin = buf.rfind(b"\n", 0, stop - 1) + 1
            line = buf[begin:stop]
            if assembler.starts(line):
                return _opens_text(assembler, line), steps
            stop = begin
        opens, since = self._carry  # the start of the buffer: the record the last chunk ended in
        return opens, since + steps

    def _continues_other(self, buf: bytes | bytearray, start: int, line: bytes | bytearray) -> bool:
        """Is this candidate line the continuation of a record that is not a candidate (so not to be parsed)?"""
        assembler = self.assembler
        if assembler.shape is None and text_shape(line, None) == LEVEL:
            self._learn_shape(buf, start)  # `ERROR …` starts a record in a log without times, not in a dated one
        if assembler.starts(line):
            return False
        opens, since = self._owner(buf, start)
        return opens and since <= MAX_CONTINUATION_LINES

    def _candidates(self, buf: bytes | bytearray, pos: int, end: int, base: int) -> Iterator[Item]:
        starts: set[int] = set()
        for needle in self._needles:
            starts.update(marker_lines(buf, needle, pos, end))
        assembler = self.assembler
        feed = assembler.feed
        for start in sorted(starts):
            if start < pos:
                continue  # already read as part of a panic block
            newline = buf.find(b"\n", start, end)
            stop = end if newline < 0 else newline + 1
            line = buf[start:stop]
            if PANIC_MARKER in line:
                self._time_hint(buf, start)
            elif b"ked at" in line and not any(marker in line for marker in self._levels):
                continue  # "locked at …": found by the short panic search, not a candidate
            if self._continues_other(buf, start, line):
                continue  # a candidate record would have taken this line already: it belongs to one that is not
            yield from feed(base + start, line)
            pos = stop
            if assembler.in_text:
                following = buf.find(b"\n", stop, end)
                if following >= 0 and assembler.starts(buf[stop : following + 1]):
                    yield from assembler.close_text()  # the usual case: the next line starts a record
                    continue
            if assembler.in_panic or assembler.in_text:
                pos = yield from self._follow(buf, pos, end, base)

    def _learn_shape(self, buf: bytes | bytearray, start: int) -> None:
        """No text record has been read yet (the part parsed in full had none): take the file's shape from the text
        record starts before ``start``, dated if one of them is (a full parse takes it from the first one)."""
        stop, found = start, None
        for _ in range(MAX_CONTINUATION_LINES + 1):
            if stop <= 0:
                break
            begin = buf.rfind(b"\n", 0, stop - 1) + 1
            shape = text_shape(buf[begin:stop], None)
            if shape == DATED:
                found = shape
                break
            found = found or shape
            stop = begin
        if found is not None:
            self.assembler.shape = found

    def _time_hint(self, buf: bytes | bytearray, start: int) -> None:
        # A panic carries no time: take the time of the nearest line before it that has one.
        ts = self._time_before(buf, start)
        if ts is not None:
            self.assembler.last_ts = ts

    def _time_before(self, buf: bytes | bytearray, start: int) -> float | None:
        """The time of the nearest of the 8 record starts before ``start`` that has one (the previous chunk's, at the
        start of the buffer). Continuation lines are passed over: a date inside a SQL statement is not the time."""
        stop, starts = start, 0
        for _ in range(MAX_CONTINUATION_LINES + 8):
            if stop <= 0:
                return self._tail_ts
            begin = buf.rfind(b"\n", 0, stop - 1) + 1
            line = buf[begin:stop]
            stop = begin
            if not self.assembler.starts(line):
                continue
            match = ISO_RE.search(bytes(line[:512]).decode("utf-8", "replace"))
            ts = from_iso_match(match) if match else None
            if ts is not None:
                return ts
            starts += 1
            if starts >= 8:
                break
        return None


def _opens_text(assembler: RecordAssembler, line: bytes | bytearray) -> bool:
    """Does this record start open a text record (one that takes continuation lines)? Not when it is malformed."""
    if assembler.fmt == "json" or text_shape(line, assembler.shape) is None:
        return False
    try:
        decode(line)
    except Malformed:
        return False
    return True


def _line_end(buf: bytes | bytearray, at: int, end: int) -> int:
    """The end of the line that contains ``at`` (just past its newline), at most ``end``."""
    if at >= end:
        return end
    newline = buf.find(b"\n", at, end)
    return end if newline < 0 else newline + 1


__all__ = ["PANIC_MARKER", "SNIFF_BYTES", "LineScanner", "Malformed", "markers_for", "wanted"]
