"""``aimon fingerprint``: the fingerprint and template of every input line, to debug grouping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from aimon.config import Settings
from aimon.grouping.fingerprint import Fingerprint, Fingerprinter, context_of
from aimon.grouping.learned import generalize
from aimon.logs.parsing import Malformed, parse_line
from aimon.model import LogRecord


def fingerprint_stream(stream: BinaryIO, fmt: str, settings: Settings) -> Iterator[dict[str, Any]]:
    """One dict per input line, in order: ``line``, ``fingerprint``, ``template`` (and more; see below).

    ``fmt`` ``text`` takes each line as a plain message; ``auto``/``json`` parse it, and a line that cannot be parsed
    is fingerprinted as plain text with ``malformed`` saying why. All lines are read first so that grouping learns
    from all of them: lines it merges get the fingerprint of the group's first line, their own in ``alias``.
    """
    fingerprinter = Fingerprinter(settings.fingerprint_rules)
    code_fields = tuple(settings.sources.error_code_fields)
    rows: list[tuple[int, dict[str, Any], tuple[str, ...], Fingerprint]] = []
    for number, raw in enumerate(stream, start=1):
        record, extra = _read_line(raw, fmt, code_fields)
        rows.append((number, extra, context_of(record), fingerprinter.of(record)))
    templates: dict[tuple[str, ...], set[str]] = {}
    for _number, _extra, context, found in rows:
        templates.setdefault(context, set()).add(found.template)
    learned = {context: generalize(found - fingerprinter.fixed_templates) for context, found in templates.items()}
    first_of_group: dict[tuple[tuple[str, ...], str], str] = {}
    for number, extra, context, found in rows:
        template = learned[context].get(found.template, found.template)
        group = first_of_group.setdefault((context, template), found.id)
        row: dict[str, Any] = {"line": number, "fingerprint": group, "template": template}
        if group != found.id:
            row["alias"] = found.id
        row.update(extra)
        yield row


def _read_line(raw: bytes, fmt: str, code_fields: tuple[str, ...]) -> tuple[LogRecord, dict[str, Any]]:
    line = raw.rstrip(b"\r\n")
    text = line.decode("utf-8", "replace")
    if fmt == "text":
        return LogRecord(level="ERROR", message=text, raw=text), {}
    try:
        record = parse_line(line, fmt, code_fields)
    except Malformed as exc:
        return LogRecord(level="ERROR", message=text, raw=text), {"malformed": exc.reason}
    row: dict[str, Any] = {"level": record.level}
    if record.error_code:
        row["error_code"] = record.error_code
    if record.target:
        row["target"] = record.target
    return record, row
