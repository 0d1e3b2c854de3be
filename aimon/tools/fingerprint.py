"""``aimon fingerprint``: the fingerprint and template of every record of a log, to debug grouping.

It reads its input the way ``aimon scan`` reads a file: the same chunked reader, line scanner and record assembler
(:func:`aimon.logs.reader.read_stream`, parsing every line rather than only candidate ones), so a panic header and its
message, or a text event and its continuation lines, are one record here as there, and the same fingerprinter.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO

from aimon.config import Settings
from aimon.grouping.fingerprint import Fingerprint, Fingerprinter, context_of
from aimon.grouping.learned import generalize
from aimon.logs.parsing import Malformed
from aimon.logs.parsing.chunks import LineScanner
from aimon.logs.reader import ReadOutcome, read_stream
from aimon.model import LEVEL_RANK, LogRecord

Row = tuple[int, LogRecord, dict[str, Any]]


def fingerprint_stream(stream: BinaryIO, fmt: str, settings: Settings) -> Iterator[dict[str, Any]]:
    """One dict per record, in order: ``line``, ``fingerprint``, ``template`` (and more; see below).

    ``line`` is the number of the record's first line: a record that spans lines (a panic with its message and
    backtrace, a text event whose message or fields go on over several lines) is one row, and blank lines and a
    panic's boilerplate are none. ``fmt`` ``text`` takes each line as a plain message (one row per line); ``auto`` and
    ``json`` read records as ``scan`` does, and a line that cannot be read is fingerprinted as plain text with
    ``malformed`` saying why. All records are read first so that grouping learns from all of them: records it merges
    get the fingerprint of the group's first record, their own in ``alias``.
    """
    fingerprinter = Fingerprinter(settings.fingerprint_rules)
    found_rows = _plain_lines(stream) if fmt == "text" else _records(stream, fmt, settings)
    min_rank = LEVEL_RANK.get(settings.sources.min_level, LEVEL_RANK["ERROR"])
    rows: list[tuple[int, dict[str, Any], tuple[str, ...], Fingerprint, bool]] = [
        (number, extra, context_of(record), fingerprinter.of(record), record.is_panic or record.rank >= min_rank)
        for number, record, extra in found_rows
    ]
    # Grouping learns from the records a scan groups (errors, warnings, panics): INFO traffic never moves them.
    templates: dict[tuple[str, ...], set[str]] = {}
    for _number, _extra, context, found, matters in rows:
        if matters:
            templates.setdefault(context, set()).add(found.template)
    learned = {context: generalize(found - fingerprinter.fixed_templates) for context, found in templates.items()}
    first_of_group: dict[tuple[tuple[str, ...], str], str] = {}
    for number, extra, context, found, matters in rows:
        template = learned[context].get(found.template, found.template) if matters else found.template
        group = first_of_group.setdefault((context, template), found.id)
        row: dict[str, Any] = {"line": number, "fingerprint": group, "template": template}
        if group != found.id:
            row["alias"] = found.id
        row.update(extra)
        yield row


def _plain_lines(stream: BinaryIO) -> Iterator[Row]:
    for number, raw in enumerate(stream, start=1):
        text = raw.rstrip(b"\r\n").decode("utf-8", "replace")
        yield number, LogRecord(level="ERROR", message=text, raw=text), {}


def _records(stream: BinaryIO, fmt: str, settings: Settings) -> Iterator[Row]:
    data = stream.read()
    if data and not data.endswith(b"\n"):
        data += b"\n"  # the reader takes complete lines only; here the input is over, so its last line is whole
    sources = settings.sources
    scanner = LineScanner(fmt, sources.error_code_fields, sources.min_level, full=True)
    number, counted = 1, 0
    for offset, item in read_stream(io.BytesIO(data), scanner, ReadOutcome(0)):
        number += data.count(b"\n", counted, offset)
        counted = offset
        if isinstance(item, Malformed):
            end = data.find(b"\n", offset)
            text = data[offset:end].rstrip(b"\r").decode("utf-8", "replace")
            yield number, LogRecord(level="ERROR", message=text, raw=text), {"malformed": item.reason}
            continue
        row: dict[str, Any] = {"level": item.level}
        if item.error_code:
            row["error_code"] = item.error_code
        if item.target:
            row["target"] = item.target
        yield number, item, row
