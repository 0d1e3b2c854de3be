"""Rust panics written to stderr: one header line, the message, and an optional ``stack backtrace:`` block.

Three header shapes exist:

* before Rust 1.73, one line: ``thread 'main' panicked at 'MSG', src/main.rs:10:5`` (a multi-line message spreads
  the quoted part over several lines);
* since 1.73, two lines: ``thread 'main' panicked at src/main.rs:10:5:`` then ``MSG`` (possibly several lines);
* since 1.89 the thread id follows the name: ``thread 'main' (12345) panicked at src/main.rs:10:5:``.

After the message come, optionally, ``note: run with `RUST_BACKTRACE=1` …`` (boilerplate, absorbed, never its own
record) or a ``stack backtrace:`` block of numbered frames and ``at file:line`` lines, closed by a ``note: Some details
are omitted …`` line. :class:`PanicBlock` collects those lines into one ``PANIC`` record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aimon.logs.parsing.jsonlog import split_location
from aimon.logs.parsing.starts import LIBTEST_LINE
from aimon.logs.parsing.timestamps import DATED_START
from aimon.model import LogRecord

# Under ``cargo test -- --test-threads=1`` the harness prints ``test x ... `` before it runs the test, so the panic's
# header lands on that line.
HEADER_RE = re.compile(
    r"^(?:test \S+ (?:- should panic )?\.\.\. )?\s*thread '(?P<thread>[^']*)'(?: \((?P<tid>\d+)\))? panicked at (?P<rest>.*)$"
)
_OLD_RE = re.compile(r"^'(?P<msg>.*)', (?P<file>.+?):(?P<line>\d+)(?::\d+)?$", re.DOTALL)
_NEW_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?:$")
_FRAME_RE = re.compile(r"^\s+(?:\d+:\s|at\s)")
_NOTE_PREFIX = "note: "
_BACKTRACE_HEADER = "stack backtrace:"
# Lines that start something else: a JSON event, a timestamped line, another panic, the test harness's report.
_NEXT_RECORD_RE = re.compile(
    rf"^\s*(?:\{{|{DATED_START}\d{{2}}:|thread '[^']*'(?: \(\d+\))? panicked at )|^{LIBTEST_LINE}"
)
MAX_BLOCK_LINES = 400
MAX_MESSAGE_LINES = 64


@dataclass
class PanicBlock:
    """A panic being read: feed it the lines that follow its header until :meth:`absorb` says no."""

    record: LogRecord
    phase: str  # "quoted" (old shape, message not closed), "message", "backtrace", "done"
    message_lines: list[str] = field(default_factory=list)
    raw_lines: list[str] = field(default_factory=list)
    lines: int = 1

    @property
    def has_message(self) -> bool:
        return self.phase != "quoted" and (bool(self.message_lines) or bool(self.record.message))

    def absorb(self, text: str) -> bool:
        """Take ``text`` (the next line, no newline) into the block; ``False`` when it is not part of it."""
        if self.phase == "done" or self.lines >= MAX_BLOCK_LINES:
            return False
        stripped = text.rstrip("\r")
        if self.phase == "quoted":
            return self._absorb_quoted(stripped)
        if stripped.startswith(_NOTE_PREFIX) and self.has_message:
            # The RUST_BACKTRACE hint, or the "Some details are omitted" line that closes a backtrace.
            self.phase = "done"
            return self._take(stripped)
        if stripped.strip() == _BACKTRACE_HEADER:
            self.phase = "backtrace"
            return self._take(stripped)
        if self.phase == "backtrace":
            if _FRAME_RE.match(stripped):
                self.record.backtrace.append(stripped.strip())
                return self._take(stripped)
            return False
        if _NEXT_RECORD_RE.match(stripped):
            return False
        if self.record.message or len(self.message_lines) >= MAX_MESSAGE_LINES:
            return False  # the old shape has its message in the header; a new shape's message is bounded
        if not stripped.strip() and not self.message_lines:
            return False
        self.message_lines.append(stripped)
        return self._take(stripped)

    def _absorb_quoted(self, text: str) -> bool:
        if _NEXT_RECORD_RE.match(text) or len(self.message_lines) >= MAX_MESSAGE_LINES:
            self.phase = "message"  # never closed: keep what the header said
            return False
        self.message_lines.append(text)
        joined = "\n".join(self.message_lines)
        closed = _OLD_RE.match(joined)
        if closed:
            self._set_old(closed)
            self.message_lines = []
            self.phase = "message"
        return self._take(text)

    def _take(self, text: str) -> bool:
        self.lines += 1
        self.raw_lines.append(text)
        return True

    def _set_old(self, match: re.Match[str]) -> None:
        self.record.message = match.group("msg")
        self.record.file, self.record.line = match.group("file"), int(match.group("line"))

    def finish(self) -> LogRecord:
        """The finished record: message joined, raw text rebuilt."""
        record = self.record
        if self.message_lines and not record.message:
            record.message = "\n".join(line for line in self.message_lines).strip()
        if self.phase == "quoted" and not record.message:
            record.message = "\n".join(self.message_lines).strip()
        self.phase = "done"
        if self.raw_lines:
            record.raw = "\n".join([record.raw, *self.raw_lines])
            self.raw_lines = []
        return record


def parse_header(text: str) -> PanicBlock | None:
    """A :class:`PanicBlock` when ``text`` is a panic header line, else ``None``."""
    match = HEADER_RE.match(text)
    if match is None:
        return None
    rest = match.group("rest").rstrip("\r")
    record = LogRecord(level="PANIC", message="", thread=match.group("thread"), format="panic", raw=text)
    block = PanicBlock(record=record, phase="message")
    new = _NEW_RE.match(rest)
    old = _OLD_RE.match(rest)
    if old is not None:
        block._set_old(old)
    elif new is not None:
        record.file, record.line = new.group("file"), int(new.group("line"))
    elif rest.startswith("'"):
        block.phase = "quoted"
        block.message_lines = [rest]
    else:  # an unknown shape: keep the text, locate it if it ends with a location
        record.message = rest
        record.file, record.line = split_location(rest) if re.search(r":\d+(?::\d+)?$", rest) else (None, None)
    return block
