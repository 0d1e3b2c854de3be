"""Log lines → :class:`~aimon.model.LogRecord`, whatever the format.

``parse_line`` reads one line; ``iter_records`` reads a stream of ``(offset, line)`` pairs and joins what belongs
together: a Rust panic's header, message and backtrace, and a text event whose message or fields span lines (its
continuation lines are the ones that do not start a record, see :mod:`aimon.logs.parsing.starts`). Lines that cannot
be read (invalid JSON, invalid UTF-8, NUL bytes, a JSON value that is not an object, an over-long line) are
:class:`Malformed`: ``parse_line`` raises it, ``iter_records`` yields it in the record's place so a scan can count it
and go on.

Formats (``fmt``): ``json`` (tracing-subscriber JSON), ``text`` (the tracing text format and generic ``TIME LEVEL``
lines), ``auto`` (per line: a line that starts with ``{`` is JSON, anything else is text).
"""

from __future__ import annotations

from aimon.logs.parsing.assembler import Item, RecordAssembler, iter_records
from aimon.logs.parsing.lines import FORMATS, MAX_LINE_BYTES, Malformed, decode, parse_line

__all__ = ["FORMATS", "MAX_LINE_BYTES", "Item", "Malformed", "RecordAssembler", "decode", "iter_records", "parse_line"]
