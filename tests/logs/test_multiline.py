"""Text events whose message or fields span lines are one record: in a full parse, in a scan that parses only
candidate lines, at any chunk boundary, and in ``aimon scan``'s groups."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import aimon.logs.parsing.chunks as chunks_module
from aimon.logs.parsing import Malformed, iter_records
from aimon.logs.parsing.chunks import LineScanner
from aimon.logs.parsing.starts import MAX_CONTINUATION_LINES, MAX_RECORD_BYTES
from aimon.model import LEVEL_RANK, LogRecord

SHAPES = Path(__file__).resolve().parent.parent / "data" / "shapes"


def pairs_of(data: bytes) -> list[tuple[int, bytes]]:
    pairs, offset = [], 0
    for line in data.splitlines(keepends=True):
        pairs.append((offset, line))
        offset += len(line)
    return pairs


def full_parse(data: bytes, fmt: str = "auto") -> list[tuple[int, LogRecord | Malformed]]:
    return list(iter_records(pairs_of(data), fmt))


def candidate_scan(data: bytes, cuts: Sequence[int] = (), fmt: str = "auto") -> list[tuple[int, LogRecord | Malformed]]:
    """What a scan that parses only candidate lines reads, with the input cut into chunks after the given lines."""
    scanner = LineScanner(fmt, ("error_code",), "ERROR")
    lines = data.splitlines(keepends=True)
    bounds = [0, *sorted({cut for cut in cuts if 0 < cut < len(lines)}), len(lines)]
    found: list[tuple[int, LogRecord | Malformed]] = []
    base = 0
    for first, last in itertools.pairwise(bounds):
        chunk = b"".join(lines[first:last])
        found.extend(scanner.scan(chunk, len(chunk), base))
        base += len(chunk)
    found.extend(scanner.assembler.flush())
    return found


def wanted(items: list[tuple[int, LogRecord | Malformed]]) -> list[tuple[int, dict[str, Any]]]:
    return [(offset, item.to_dict()) for offset, item in items
            if isinstance(item, LogRecord) and (item.is_panic or item.rank >= LEVEL_RANK["ERROR"])]


def row(data: bytes, offset: int, record: LogRecord | Malformed) -> tuple[Any, ...]:
    line = data.count(b"\n", 0, offset) + 1
    if isinstance(record, Malformed):
        return (line, "malformed", record.reason)
    return (line, record.level, record.target, record.error_code, record.message.split("\n")[-1])


@pytest.fixture(autouse=True)
def no_sniff(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first 256 KB of a read are parsed in full; these samples are small, so without this the candidate path
    # (the one a big scan takes) would never run.
    monkeypatch.setattr(chunks_module, "SNIFF_BYTES", 0)


# ------------------------------------------------------------------------------------------------ real-shaped samples


def test_tracing_full_format_events_spanning_lines_are_whole() -> None:
    data = (SHAPES / "text-full.log").read_bytes()
    found = full_parse(data)
    assert [row(data, offset, record) for offset, record in found] == [
        (1, "INFO", "shop", None, "listening"),
        (2, "INFO", "shop::api", None, "started processing request"),
        (3, "ERROR", "shop::upstream", "UPSTREAM_5XX", "</html>"),
        (10, "INFO", "shop::api", None, "finished processing request"),
        (11, "INFO", "shop::db", None, "ON CONFLICT (id) DO NOTHING"),
        (14, "ERROR", "shop::db", "DB_UNIQUE", "HINT: retry the insert with a new order id"),
        (16, "WARN", "shop::cache", None, "slow cache response from redis"),
        (17, "INFO", "shop::db", None, "-- ERROR: a comment in the statement, not an error"),
        (20, "ERROR", "shop::payments", None, "retry scheduled"),
        (22, "ERROR", "shop::upstream", "UPSTREAM_5XX", "</html>"),
        (29, "ERROR", "shop::orders", "ORDER_INVALID", "}"),
        (39, "ERROR", "shop::db", "DB_UNIQUE", "HINT: retry the insert with a new order id"),
        (41, "PANIC", None, None, "called `Option::unwrap()` on a `None` value"),
        (51, "ERROR", "shop::api", "WORKER_PANIC", "worker thread panicked; shutting down"),
    ]
    upstream = found[2][1]
    assert isinstance(upstream, LogRecord)
    assert upstream.fields == {"status": "503", "body": "<html>", "error_code": "UPSTREAM_5XX"}
    assert upstream.message.startswith("upstream returned an error status=503 body=<html>\n<head><title>503 Service")
    assert upstream.raw.count("\n") == 6 and upstream.raw.endswith('</html> error_code="UPSTREAM_5XX"')
    assert (upstream.thread, upstream.file, upstream.line, upstream.request_id) == (
        "tokio-runtime-worker", "src/upstream.rs", 77, "req-7f3a01")
    assert upstream.spans == [
        {"name": "request", "method": "GET", "uri": "/api/cart", "request_id": "req-7f3a01"},
        {"name": "pricing", "provider": "prices.example"},
    ]
    payment = found[8][1]
    assert isinstance(payment, LogRecord)
    assert payment.message == "payment provider request failed with status 502 Bad Gateway for order 1183\nretry scheduled"
    assert payment.fields == {"status": "502"}  # the span fields stay with their spans


def test_the_same_event_reads_the_same_from_json_and_from_text() -> None:
    text = dict(enumerate(record for _offset, record in full_parse((SHAPES / "text-default.log").read_bytes())))
    json = dict(enumerate(record for _offset, record in full_parse((SHAPES / "json-with-stderr.log").read_bytes())))
    from_text, from_json = text[1], json[1]
    assert isinstance(from_text, LogRecord) and isinstance(from_json, LogRecord)
    assert from_text.message == from_json.message == (
        "payment provider request failed with status 502 Bad Gateway for order 77\nretry scheduled")
    assert (from_text.level, from_text.target, from_text.fields) == (from_json.level, from_json.target, {"status": "502"})
    assert from_json.fields["status"] == 502


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("text-ansi.log", [(1, "INFO", "shop::api", None, "started processing request"),
                           (2, "ERROR", "shop::db", "DB_UNIQUE", "HINT: retry the insert with a new order id"),
                           (4, "WARN", "shop::cache", None, "slow cache response from redis"),
                           (5, "ERROR", "shop::db", "DB_UNIQUE", "HINT: retry the insert with a new order id")]),
        ("text-default.log", [(1, "INFO", "shop", None, "listening"),
                              (2, "ERROR", "shop::payments", None, "retry scheduled"),
                              (4, "INFO", "shop::api", None, "started processing request"),
                              (5, "ERROR", "shop::payments", None, "retry scheduled"),
                              (7, "PANIC", None, None, "called `Option::unwrap()` on a `None` value"),
                              (10, "WARN", "shop::cache", None, "slow cache response from redis"),
                              (11, "PANIC", None, None, "config file /etc/shop.toml missing")]),
        ("text-without-time.log", [(1, "INFO", "shop", None, "listening"),
                                   (2, "ERROR", "shop::upstream", "UPSTREAM_5XX", "</html>"),
                                   (5, "WARN", "shop::cache", None, "slow cache response from redis"),
                                   (6, "INFO", "shop::db", None, "WHERE order_id = $1"),
                                   (8, "ERROR", "shop::db", "DB_UNIQUE", "HINT: retry the insert with a new order id"),
                                   (10, "ERROR", "shop::upstream", "UPSTREAM_5XX", "</html>")]),
    ],
)
def test_every_text_shape_keeps_its_events_whole(name: str, expected: list[tuple[Any, ...]]) -> None:
    data = (SHAPES / name).read_bytes()
    assert [row(data, offset, record) for offset, record in full_parse(data)] == expected


@pytest.mark.parametrize("name", sorted(path.name for path in SHAPES.glob("*.log")))
def test_a_candidate_only_scan_reads_the_errors_a_full_parse_reads(name: str) -> None:
    data = (SHAPES / name).read_bytes()
    expected = wanted(full_parse(data))
    assert expected
    lines = data.count(b"\n")
    assert wanted(candidate_scan(data)) == expected
    for cut in range(1, lines):  # a chunk boundary after every line in turn
        assert wanted(candidate_scan(data, [cut])) == expected, cut


def test_a_continuation_of_an_info_event_never_becomes_an_error() -> None:
    data = (
        b"2026-05-04T08:12:05.002114Z  INFO shop::db: running statement sql=SELECT 1\n"
        b"ERROR: not an error line, a line of the statement\n"
        b"[ERROR] nor this one\n"
        b"2026-05-04T08:12:05.002115Z  INFO shop::db: done\n"
    )
    assert wanted(full_parse(data)) == wanted(candidate_scan(data)) == []
    (_, record), (_, done) = full_parse(data)
    assert isinstance(record, LogRecord) and isinstance(done, LogRecord)
    assert record.level == "INFO" and record.message.endswith("\n[ERROR] nor this one")


def test_lines_that_start_nothing_in_a_log_without_times_stay_records_of_their_own() -> None:
    # No timestamps and no level words: free-form output (a panic's stderr neighbours) is one record per line.
    data = b"Got msg\nGot msg done\nPoll err:Canceled\n"
    assert [record.message for _offset, record in full_parse(data)] == ["Got msg", "Got msg done", "Poll err:Canceled"]


def test_a_pretty_printed_json_body_continues_its_event_and_a_json_event_starts_one() -> None:
    data = (
        b'2026-05-04T08:12:05Z ERROR shop::api: bad response body={\n  "error": "busy"\n}\n'
        b'{"timestamp":"2026-05-04T08:12:06Z","level":"ERROR","fields":{"message":"json event"},"target":"shop"}\n'
    )
    (_, first), (_, second) = full_parse(data)
    assert isinstance(first, LogRecord) and isinstance(second, LogRecord)
    assert first.message == 'bad response body={\n  "error": "busy"\n}'
    assert (second.format, second.message) == ("json", "json event")


def test_a_malformed_first_line_takes_no_continuation_lines() -> None:
    data = b"2026-05-04T08:12:05Z ERROR shop: bad \xff bytes\n[1,2]\n2026-05-04T08:12:06Z ERROR shop: next\n"
    assert [row(data, offset, item) for offset, item in full_parse(data)] == [
        (1, "malformed", "invalid UTF-8"),
        (2, "malformed", "JSON array where an object belongs"),
        (3, "ERROR", "shop", None, "next"),
    ]


def test_format_json_joins_nothing() -> None:
    data = b"2026-05-04T08:12:05Z ERROR shop: one\ntwo\n"
    assert [row(data, offset, item)[1] for offset, item in full_parse(data, "json")] == ["malformed", "malformed"]


# --------------------------------------------------------------------------------------------------------- bounds


def test_a_record_takes_a_bounded_number_of_lines_and_the_rest_stand_alone() -> None:
    head = b"2026-05-04T08:12:05Z ERROR shop: dump follows\n"
    body = b"".join(b"row %d\n" % index for index in range(MAX_CONTINUATION_LINES))
    extra = b"ERROR: past the bound\nrow tail\n"
    data = head + body + extra
    found = full_parse(data)
    assert [row(data, offset, item) for offset, item in found] == [
        (1, "ERROR", "shop", None, f"row {MAX_CONTINUATION_LINES - 1}"),
        (MAX_CONTINUATION_LINES + 2, "ERROR", None, None, "past the bound"),
        (MAX_CONTINUATION_LINES + 3, "INFO", None, None, "row tail"),
    ]
    assert wanted(candidate_scan(data)) == wanted(found)
    assert wanted(candidate_scan(data, [1, 50, MAX_CONTINUATION_LINES])) == wanted(found)


def test_a_huge_record_keeps_its_head_and_its_last_line_with_the_trailing_fields() -> None:
    filler = b"x" * 1000
    data = (b"2026-05-04T08:12:05Z ERROR shop: body follows\n" + (filler + b"\n") * 150
            + b'</html> error_code="UPSTREAM_5XX"\n')
    ((offset, record),) = full_parse(data)
    assert isinstance(record, LogRecord) and offset == 0
    assert record.error_code == "UPSTREAM_5XX"
    assert len(record.raw) < MAX_RECORD_BYTES + 2000
    assert record.message.endswith("\n…\n</html>") and record.message.startswith("body follows\nxxx")


# ----------------------------------------------------------------------------------------------- through aimon scan


def test_scan_groups_a_multi_line_error_once_with_its_trailing_error_code(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes((SHAPES / "text-full.log").read_bytes())
    result = cli("scan", str(log), "--db", str(tmp_path / "x.db"), "--json")
    assert result.exit_code == 0, result.stderr
    groups = {(group["level"], group["error_code"], group["template"]): group["count"] for group in result.json()["groups"]}
    assert groups == {
        ("ERROR", "UPSTREAM_5XX",
         "upstream returned an error status=<*> body=<html> <head><title><*> Service Temporarily Unavailable</title></head> "
         "<body> <center><<*>><*> Service Temporarily Unavailable</<*>></center> <hr><center>nginx/<*></center> </body> "
         "</html>"): 2,
        ("ERROR", "DB_UNIQUE", 'insert failed: error returned from database: duplicate key value violates unique '
                               'constraint "<*>" HINT: retry the insert with a new order id'): 2,
        ("ERROR", None, "payment provider request failed with status <*> Bad Gateway for order <*> retry scheduled"): 1,
        ("ERROR", "ORDER_INVALID",
         'order rejected reason=Order { id: <*>, user_id: <*>, items: [ Item { sku: "<*>", quantity: <*>, … } }'): 1,
        ("PANIC", None, "called `Option::unwrap()` on a `None` value"): 1,
        ("ERROR", "WORKER_PANIC", "worker thread panicked; shutting down"): 1,
    }


def test_a_parallel_read_is_cut_only_where_a_record_starts(tmp_path: Path) -> None:
    from aimon.logs.parsing.starts import starts_record
    from aimon.logs.reader import split_points

    record = (b'\x1b[2m2026-05-04T08:12:05Z\x1b[0m \x1b[31mERROR\x1b[0m shop: bad response body={\n'
              + b'  "error": "busy"\n' * 40 + b"}\n" + b'{"level":"INFO","fields":{"message":"json"}}\n')
    log = tmp_path / "app.log"
    log.write_bytes(record * 50)
    data = log.read_bytes()
    cuts = split_points(log, 0, len(data), 16)
    assert len(cuts) >= 8
    for cut in cuts:
        assert data[cut - 1 : cut] == b"\n"
        assert starts_record(data[cut : data.index(b"\n", cut) + 1], "dated")


def test_an_error_spelled_in_lower_case_with_a_marker_only_in_its_continuation_is_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chunks_module, "SNIFF_BYTES", 256 * 1024)  # the sniff sees this shape and parses in full
    first = b"2026-05-04T08:12:05Z error shop: insert failed\nERROR:  duplicate key error_code=DB_UNIQUE\n"
    data = first + b"2026-05-04T08:12:06Z info shop: fine\n" * 20000 + first
    found = wanted(candidate_scan(data, [5000, 30000]))
    assert [(offset, record["error_code"]) for offset, record in found] == [(0, "DB_UNIQUE"), (len(data) - len(first), "DB_UNIQUE")]


def test_an_error_line_without_a_time_in_a_dated_log_is_a_record_not_a_continuation() -> None:
    """stderr of a child process, or a second subscriber set up ``.without_time()``, in a dated log: its ERROR line is
    an error of its own, never hidden inside the INFO event before it."""
    data = b"2026-01-01T00:00:00.000000Z  INFO shop: starting\nERROR r2d2: connection refused\n"
    records = [item for _offset, item in iter_records(pairs_of(data))]
    assert [(r.level, r.target, r.message) for r in records if isinstance(r, LogRecord)] == [
        ("INFO", "shop", "starting"), ("ERROR", "r2d2", "connection refused"),
    ]
