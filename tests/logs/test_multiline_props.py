"""Properties of multi-line text records (hypothesis): a record split over lines reads as its one-line form, there are
as many records as record starts, and a scan that parses only candidate lines, cut into chunks anywhere, reads the
same errors as a full parse."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aimon.logs.parsing.chunks as chunks_module
from aimon.logs.parsing import iter_records, parse_line
from aimon.model import LogRecord
from tests.logs.test_multiline import candidate_scan, full_parse, pairs_of, wanted

# Words of messages and field values, none of which starts a record at the start of a line (no date, no whole
# `{…}` object, no panic header); level words are among them: in a dated log they start nothing.
# fmt: off
WORDS = [
    "query", "failed", "retry", "scheduled", "HINT:", "ERROR:", "ERROR", "WARN", "INFO", "<html>", "</html>", "<body>",
    "SELECT", "*", "FROM", "orders", "WHERE", "id", "=", "$1", "503", "Bad", "Gateway", "Order", "}", "},", "[", "]",
    "id:", "7,", "…", "zoë", '"quoted"', "note:", "a.b", "x=1", "(email)=(a@b.io)", "12ms", "req-7f3a",
]
FIELDS = ['error_code="DB_UNIQUE"', "status=502", "elapsed_ms=912", "error=timed", 'body="a b"', "attempt=2"]
LEVELS = ["TRACE", "DEBUG", " INFO", " WARN", "ERROR"]
TARGETS = ["shop", "shop::db", "shop::api::v2"]
PREFIXES = ["", "request{method=\"GET\" request_id=req-1}: ", "request{request_id=req-2}:charge{attempt=1}: ",
            "main ThreadId(01) ", "tokio-runtime-worker ThreadId(07) request{request_id=req-3}: "]
# fmt: on


@st.composite
def text_record(draw: st.DrawFn, second: int = 0) -> tuple[str, str]:
    """``(one_line, split)``: a tracing text event on one line, and the same event with some spaces made newlines."""
    head = f"2026-05-04T08:12:{second % 60:02d}.{second:06d}Z {draw(st.sampled_from(LEVELS))} "
    head += draw(st.sampled_from(PREFIXES)) + draw(st.sampled_from(TARGETS)) + ":"
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
    words += draw(st.lists(st.sampled_from(FIELDS), max_size=3))
    breaks = draw(st.lists(st.booleans(), min_size=len(words), max_size=len(words)))
    # A line that opens like a WARN or ERROR event starts a record of its own (an error is never hidden in the event
    # before it), so a split never puts such a word first with a word after it (starts.py says why).
    for index in range(1, len(words)):
        if words[index - 1] in ("ERROR", "WARN") and breaks[index - 1] and words[index][:1].isalpha():
            breaks[index - 1] = False
    one_line = head + "".join(f" {word}" for word in words)
    split = head + "".join(f"{chr(10) if cut else ' '}{word}" for word, cut in zip(words, breaks, strict=True))
    return one_line, split


def same_record(joined: LogRecord, one: LogRecord) -> None:
    assert joined.message.replace("\n", " ") == one.message
    assert {key: str(value).replace("\n", " ") for key, value in joined.fields.items()} == one.fields
    for name in ("level", "ts", "target", "spans", "thread", "file", "line", "error_code", "request_id", "format"):
        assert getattr(joined, name) == getattr(one, name), name
    assert joined.raw.replace("\n", " ") == one.raw


@settings(max_examples=300, deadline=None)
@given(text_record())
def test_a_record_split_over_lines_reads_as_its_one_line_form(record: tuple[str, str]) -> None:
    one_line, split = record
    (offset, joined), = iter_records(pairs_of(split.encode() + b"\n"))
    assert offset == 0 and isinstance(joined, LogRecord)
    same_record(joined, parse_line(one_line))


JSON_EVENT = json.dumps({"timestamp": "2026-05-04T08:13:00Z", "level": "ERROR",
                         "fields": {"message": "json event", "error_code": "E_JSON"}, "target": "shop"})
PANIC = "thread 'tokio-runtime-worker' (20417) panicked at src/payments.rs:171:13:\ncalled `Option::unwrap()` on a `None` value"


@st.composite
def log(draw: st.DrawFn) -> tuple[list[str], str]:
    """``(one-line forms, the log)``: text events (split or not), JSON events and panics, in any order."""
    ones: list[str] = []
    parts: list[str] = []
    for index in range(draw(st.integers(min_value=1, max_value=12))):
        kind = draw(st.sampled_from(["text", "text", "text", "json", "panic"]))
        if kind == "text":
            one_line, split = draw(text_record(index))
            ones.append(one_line)
            parts.append(split)
        else:
            ones.append(JSON_EVENT if kind == "json" else PANIC)
            parts.append(ones[-1])
    return ones, "".join(f"{part}\n" for part in parts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log(), st.lists(st.integers(min_value=1, max_value=200), max_size=4))
def test_as_many_records_as_record_starts_and_a_candidate_scan_agrees(
    monkeypatch: pytest.MonkeyPatch, drawn: tuple[list[str], str], cuts: list[int]
) -> None:
    monkeypatch.setattr(chunks_module, "SNIFF_BYTES", 0)
    ones, text = drawn
    data = text.encode()
    found = full_parse(data)
    assert len(found) == len(ones)
    for (_offset, joined), one_line in zip(found, ones, strict=True):
        assert isinstance(joined, LogRecord)
        if one_line is PANIC:
            assert (joined.level, joined.message) == ("PANIC", "called `Option::unwrap()` on a `None` value")
        else:
            same_record(joined, parse_line(one_line))
    assert wanted(candidate_scan(data, cuts)) == wanted(found)
