"""Parsing: the verbatim samples of tracing JSON, tracing text and Rust panics, and bad input that never crashes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimon.logs.parsing import Malformed, iter_records, parse_line
from aimon.logs.parsing.timestamps import parse_timestamp
from aimon.model import LogRecord
from tests.conftest import REFERENCE

TRACING = REFERENCE / "tracing-json-samples.md"
RUST = REFERENCE / "rust-error-samples.md"


def at(text: str) -> float:
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


def fenced(path: object, heading: str) -> list[str]:
    """The lines of the first fenced block after ``heading`` in a reference file."""
    text = REFERENCE.joinpath(str(path)).read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return block.group(1).splitlines()


def records(text: str) -> list[tuple[int, LogRecord | Malformed]]:
    data = text.encode()
    pairs, offset = [], 0
    for line in data.splitlines(keepends=True):
        pairs.append((offset, line))
        offset += len(line)
    return list(iter_records(pairs))


# --------------------------------------------------------------------------------------------- tracing-subscriber JSON


def test_recorded_fmt_json_example_every_line() -> None:
    lines = fenced("tracing-json-samples.md", "## 1. Recorded output")
    parsed = [parse_line(line) for line in lines]
    assert len(parsed) == 16
    assert [record.level for record in parsed].count("ERROR") == 1
    error = next(record for record in parsed if record.level == "ERROR")
    assert error.message == "failed to shave yak"
    assert error.target == "fmt_json::yak_shave"
    assert error.fields == {"message": "failed to shave yak", "yak": 3, "error": "missing yak"}
    assert error.spans == [{"yaks": 3, "name": "shaving_yaks"}]
    assert error.ts == at("2022-02-15T18:47:10.822041+00:00")
    assert error.format == "json" and error.raw == lines[13]
    # DEBUG events with fields only read as their key=value pairs
    assert parsed[4].level == "DEBUG" and parsed[4].message == "yak=1 shaved=true"
    assert parsed[2].spans == [{"yaks": 3, "name": "shaving_yaks"}, {"yak": 1, "name": "shave"}]


def test_unit_test_strings_span_flatten_line_number() -> None:
    strings = text_blocks(TRACING, "## 2. Expected strings")
    parsed = [parse_line(line) for line in strings]
    assert len(parsed) == 7
    assert all(record.message == "some json test" and record.ts is None for record in parsed)  # "fake time"
    by_name = dict(zip(("json", "line_number", "flattened", "no_current", "no_list", "nested", "no_span"), parsed, strict=False))
    assert by_name["line_number"].line == 42
    assert by_name["flattened"].fields == {"message": "some json test"}
    assert by_name["no_list"].spans == [{"answer": 42, "name": "json_span", "number": 3}]
    assert [span["name"] for span in by_name["nested"].spans] == ["json_span", "nested_json_span"]
    assert by_name["no_span"].spans == []
    assert by_name["json"].spans[0]["slice"] == [97, 98, 99]


def test_hand_written_lenient_variants() -> None:
    lines = [line.strip() for line in text_blocks(TRACING, "## 3. Hand-written")]
    nested, flattened = parse_line(lines[0]), parse_line(lines[2])
    assert (nested.level, nested.target, nested.message, nested.fields["key"]) == ("INFO", "mycrate", "some message", "value")
    assert flattened.message == "some message" and flattened.fields == {"message": "some message", "key": "value"}
    # "Feb 20 11:28:15.096": no year in it, read in the current year
    moment = datetime.fromtimestamp(nested.ts or 0, UTC)
    assert (moment.month, moment.day, moment.hour, moment.minute, moment.second) == (2, 20, 11, 28, 15)


def text_blocks(path: object, heading: str) -> list[str]:
    text = REFERENCE.joinpath(str(path)).read_text(encoding="utf-8")
    section = text[text.index(heading) :].split("\n## ", 1)[0]
    return re.findall(r"```json\n\s*(\{.*\})\n\s*```", section)


def test_prisma_production_lines_with_error_code_alias_and_nul_escapes() -> None:
    raw = fenced("tracing-json-samples.md", "## 4. Real captured output")
    lines = [re.sub(r" \+\d+ms$", "", line.split("stderr  ", 1)[1]) for line in raw]
    parsed = [parse_line(line, error_code_fields=("error_code", "code")) for line in lines]
    assert [record.level for record in parsed] == ["INFO", "INFO", "WARN", "WARN", "INFO", "ERROR"]
    assert parsed[4].message == "Microsoft SQL Server\x00\x00 version 3490119695"
    error = parsed[5]
    assert error.message.startswith('The specified schema name "myschema" either does not exist')
    assert error.error_code == "2760"
    assert error.target == "tiberius::tds::stream::token"
    assert [span["name"] for span in error.spans] == ["DevDiagnostic", "quaint:query"]
    assert error.ts == at("2023-08-18T06:22:23.330369+00:00")


def test_flattened_event_with_location_thread_and_request_id() -> None:
    line = (
        '{"timestamp":"2026-03-01T10:00:00.123456789+02:00","level":"ERROR","message":"payment failed",'
        '"error_code":"PAY_42","order":7,"target":"shop::pay","filename":"src/pay.rs","line_number":88,'
        '"span":{"request_id":"req-9","name":"request"},"spans":[{"request_id":"req-9","name":"request"},{"name":"charge"}],'
        '"threadName":"tokio-runtime-worker","threadId":"ThreadId(3)"}'
    )
    record = parse_line(line)
    assert (record.level, record.message, record.error_code, record.target) == ("ERROR", "payment failed", "PAY_42", "shop::pay")
    assert (record.file, record.line, record.thread, record.request_id) == ("src/pay.rs", 88, "tokio-runtime-worker", "req-9")
    assert record.fields == {"message": "payment failed", "error_code": "PAY_42", "order": 7}
    assert record.ts == pytest.approx(at("2026-03-01T08:00:00.123457+00:00"), abs=1e-6)


def test_error_code_alias_and_event_request_id_win() -> None:
    line = '{"level":"ERROR","fields":{"message":"x","code":"E7","request_id":"evt"},"spans":[{"request_id":"span","name":"r"}]}'
    record = parse_line(line, error_code_fields=("error_code", "code"))
    assert (record.error_code, record.request_id) == ("E7", "evt")
    assert parse_line(line).error_code is None


def test_tracing_panic_event_is_a_panic_at_its_location() -> None:
    line = (
        '{"timestamp":"2026-03-01T10:00:00Z","level":"ERROR","fields":{"message":"A panic occurred",'
        '"panic.payload":"index out of bounds: the len is 3 but the index is 7","panic.location":"src/orders.rs:131:17",'
        '"panic.backtrace":"   0: shop::orders::total\\n             at src/orders.rs:131:17\\n"},"target":"tracing_panic"}'
    )
    record = parse_line(line)
    assert record.is_panic and record.level == "PANIC"
    assert record.message == "index out of bounds: the len is 3 but the index is 7"
    assert (record.file, record.line) == ("src/orders.rs", 131)
    assert record.backtrace == ["0: shop::orders::total", "at src/orders.rs:131:17"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-02-15T18:47:10.821315Z", "2022-02-15T18:47:10.821315+00:00"),
        ("2022-02-15T18:47:10.821315123Z", "2022-02-15T18:47:10.821315+00:00"),
        ("2022-02-15T18:47:10Z", "2022-02-15T18:47:10+00:00"),
        ("2022-02-15T20:47:10.5+02:00", "2022-02-15T18:47:10.5+00:00"),
        ("2022-02-15T13:47:10.5-0500", "2022-02-15T18:47:10.5+00:00"),
        ("2022-02-15 18:47:10,250", "2022-02-15T18:47:10.25+00:00"),
    ],
)
def test_timestamps(text: str, expected: str) -> None:
    assert parse_timestamp(text) == pytest.approx(at(expected), abs=1e-6)


def test_epoch_numbers_and_nonsense() -> None:
    assert parse_timestamp(1_700_000_000) == 1_700_000_000
    assert parse_timestamp(1_700_000_000_123) == pytest.approx(1_700_000_000.123)
    assert parse_timestamp(1_700_000_000_123_456_789) == pytest.approx(1_700_000_000.123456789)
    assert parse_timestamp("fake time") is None
    assert parse_timestamp("2022-13-45T99:00:00Z") is None
    assert parse_timestamp(True) is None


# -------------------------------------------------------------------------------------------------------- plain text


def test_default_tracing_text_format_with_span_context_and_padded_levels() -> None:
    lines = fenced("rust-error-samples.md", "### A2.")
    app_lines = [parse_line(line) for line in fenced_after(RUST, "### A2.", 2)]
    assert [record.level for record in app_lines] == ["DEBUG", "DEBUG", "DEBUG", "INFO"]
    frame = app_lines[2]
    assert frame.spans == [{"name": "Connection", "peer": "Client"}]
    assert frame.target == "h2::codec::framed_read"
    assert frame.message.startswith("received frame=Settings { flags: (0x0)")
    start = app_lines[3]
    assert (start.target, start.message) == ("http2_client", "Start sending requests")
    assert start.ts == at("2023-11-27T13:50:44.033225+00:00")
    # the bare DispatchFailure Debug line has no level: a plain message, not an error group
    assert parse_line(lines[0]).level == "INFO"


def fenced_after(path: object, heading: str, index: int) -> list[str]:
    text = REFERENCE.joinpath(str(path)).read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section, re.DOTALL)
    return blocks[index - 1].splitlines()


def test_tracing_error_line_with_a_huge_debug_dump() -> None:
    line = fenced_after(RUST, "### A1.", 2)[0]
    record = parse_line(line)
    assert (record.level, record.target) == ("ERROR", "rtab")
    assert record.message.startswith("Test route failed: can't make private routes until our node info is valid: PeerInfo {")
    assert record.ts == at("2023-10-10T12:12:26.887523+00:00")


@pytest.mark.parametrize(
    ("line", "level", "target", "message"),
    [
        ("[2024-01-02T03:04:05Z ERROR my_app::db] connection refused", "ERROR", "my_app::db", "connection refused"),
        ("2024-01-02 03:04:05,123 ERROR worker: job 7 failed", "ERROR", "worker", "job 7 failed"),
        ("2024-01-02T03:04:05.000Z  WARN outer{id=1}:inner: app::svc: src/svc.rs:12: slow", "WARN", "app::svc", "slow"),
        ('time=2024-01-02T03:04:05Z level=error msg="db down" error_code=E1', "ERROR", None, "db down"),
        ("\x1b[2m2024-01-02T03:04:05Z\x1b[0m \x1b[31mERROR\x1b[0m app: colored", "ERROR", "app", "colored"),
    ],
)
def test_generic_text_lines(line: str, level: str, target: str | None, message: str) -> None:
    record = parse_line(line)
    assert (record.level, record.target, record.message) == (level, target, message)
    assert record.ts == at("2024-01-02T03:04:05+00:00") or record.ts == pytest.approx(at("2024-01-02T03:04:05.123+00:00"))


def test_text_spans_carry_the_request_id_and_fields_the_error_code() -> None:
    line = "2024-01-02T03:04:05Z ERROR request{method=GET request_id=abc-1}: shop::api: boom error_code=E_SHOP"
    record = parse_line(line)
    assert (record.request_id, record.error_code, record.target) == ("abc-1", "E_SHOP", "shop::api")
    assert (record.message, record.fields) == ("boom", {"error_code": "E_SHOP"})  # fields follow the message
    assert record.spans == [{"name": "request", "method": "GET", "request_id": "abc-1"}]


# ------------------------------------------------------------------------------------------------------------ panics


def test_old_one_line_panic() -> None:
    record = parse_line(fenced("rust-error-samples.md", "### A1.")[0])
    assert record.is_panic and record.thread == "tokio-runtime-worker"
    assert record.message == "join error was not a panic, should not poll after abort"
    assert record.file.endswith("veilid-tools/src/must_join_handle.rs") and record.line == 93


def test_two_line_panic_joined_and_its_note_is_not_a_record() -> None:
    text = "\n".join(fenced("rust-error-samples.md", "### A3.")) + "\n"
    found = records(text)
    panics = [(offset, record) for offset, record in found if isinstance(record, LogRecord) and record.is_panic]
    assert len(panics) == 1
    offset, panic = panics[0]
    assert text[offset:].startswith("thread 'main' panicked at")
    assert panic.message == "cannot poll CpuFuture twice: Canceled"
    assert (panic.file, panic.line, panic.thread) == ("/home/jiacai/grpc-rs-demo/cpufuture/src/lib.rs", 332, "main")
    messages = [record.message for _, record in found]
    assert not any(message.startswith("note:") for message in messages)
    assert messages[-3:] == ["Got msg", "free(): double free detected in tcache 2", "Aborted"]
    assert len(found) == 10  # six lines before, the panic (3 lines), three after


def test_old_panic_with_note_then_fatal_runtime_error() -> None:
    text = "\n".join(fenced("rust-error-samples.md", "### A4.")) + "\n"
    found = [record for _, record in records(text)]
    assert [record.level for record in found] == ["PANIC", "INFO"]
    assert found[0].message == "cannot access a Thread Local Storage value during or after destruction: AccessError"
    assert found[0].line == 422 and found[0].file.endswith("library/std/src/thread/local.rs")
    assert found[1].message == "fatal runtime error: failed to initiate panic, error 5"


def test_panic_with_thread_id_multi_line_message_and_backtrace() -> None:
    text = (
        '{"timestamp":"2026-01-01T00:00:00Z","level":"INFO","fields":{"message":"before"},"target":"app"}\n'
        "thread 'main' (12345) panicked at src/main.rs:5:5:\n"
        "assertion `left == right` failed\n"
        "  left: 1\n"
        " right: 2\n"
        "stack backtrace:\n"
        "   0: rust_begin_unwind\n"
        "             at /rustc/abc/library/std/src/panicking.rs:665:5\n"
        "   1: app::main\n"
        "             at ./src/main.rs:5:5\n"
        "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n"
        '{"timestamp":"2026-01-01T00:00:09Z","level":"INFO","fields":{"message":"after"},"target":"app"}\n'
    )
    found = records(text)
    assert [type(record).__name__ for _, record in found] == ["LogRecord"] * 3
    panic = found[1][1]
    assert isinstance(panic, LogRecord)
    assert panic.message == "assertion `left == right` failed\n  left: 1\n right: 2"
    assert (panic.file, panic.line, panic.thread) == ("src/main.rs", 5, "main")
    assert panic.backtrace == [
        "0: rust_begin_unwind",
        "at /rustc/abc/library/std/src/panicking.rs:665:5",
        "1: app::main",
        "at ./src/main.rs:5:5",
    ]
    assert panic.ts == at("2026-01-01T00:00:00+00:00")  # a panic has no time: the last one seen before it
    assert panic.raw.count("\n") == 9


def test_old_panic_with_a_multi_line_quoted_message() -> None:
    text = "thread 'main' panicked at 'assertion failed: `(left == right)`\n  left: `1`,\n right: `2`', src/main.rs:2:5\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
    (offset, panic), = records(text)
    assert offset == 0 and isinstance(panic, LogRecord)
    assert panic.message == "assertion failed: `(left == right)`\n  left: `1`,\n right: `2`"
    assert (panic.file, panic.line) == ("src/main.rs", 2)


# ------------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"level":"ERROR","fields":{"message":"cut', "invalid JSON"),
        (b"[1, 2, 3]", "JSON array where an object belongs"),
        (b"42", "JSON number where an object belongs"),
        (b'"just a string"', "JSON string where an object belongs"),
        (b"ERROR \xff\xfe broken", "invalid UTF-8"),
        (b"2024-01-02T03:04:05Z ERROR a\x00b", "NUL byte in line"),
        (b"", "empty line"),
        (b"x" * (1 << 20) + b"y", "line longer than 1048576 bytes"),
        # JSON that matches the event format only in part: read as INFO text before, silently
        (b'{"timestamp":"2026-01-01T10:00:00Z","level":"BOGUS","fields":{"message":"x"}}', "JSON event with an unreadable level"),
        (b'{"timestamp":"2026-01-01T10:00:00Z","level":{"name":"ERROR"},"fields":{"message":"x"}}', "JSON event with an unreadable level"),
        (b'{"timestamp":"2026-01-01T10:00:00Z","fields":{"message":"x"},"target":"shop"}', "JSON event without a level"),
    ],
)
def test_malformed_lines_raise_malformed(line: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as caught:
        parse_line(line)
    assert caught.value.reason.startswith(reason)


def test_format_json_refuses_text_and_format_text_never_reads_json() -> None:
    with pytest.raises(Malformed):
        parse_line("2024-01-02T03:04:05Z ERROR app: x", fmt="json")
    assert parse_line('{"level":"ERROR"}', fmt="text").format == "text"


def test_iter_records_reports_malformed_in_place_and_goes_on() -> None:
    text = b'{"level":"ERROR","fields":{"message":"a"}}\n[1]\n\n\xff\n{"level":"ERROR","fields":{"message":"b"}}\n'
    pairs, offset = [], 0
    for line in text.splitlines(keepends=True):
        pairs.append((offset, line))
        offset += len(line)
    found = list(iter_records(pairs))
    assert [(offset, getattr(item, "message", None) or getattr(item, "reason", None)) for offset, item in found] == [
        (0, "a"),
        (43, "JSON array where an object belongs"),
        (48, "invalid UTF-8"),
        (50, "b"),
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_any_bytes_parse_or_are_malformed(data: bytes) -> None:
    for fmt in ("auto", "json", "text"):
        try:
            record = parse_line(data, fmt)
        except Malformed:
            continue
        assert isinstance(record, LogRecord) and record.level in {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "PANIC"}


_PIECES = st.sampled_from(
    [
        b'{"timestamp":"2026-01-01T00:00:00Z","level":"ERROR","fields":{"message":"x 1"},"target":"t"}',
        b"thread 'main' panicked at src/a.rs:1:2:",
        b"thread 'w' panicked at 'boom', src/b.rs:3:4",
        b"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        b"stack backtrace:",
        b"   0: frame",
        b"             at src/c.rs:5:6",
        b"message line",
        b"",
        b"[1,2]",
        b"\xff\x00",
        b"2026-01-01T00:00:00Z ERROR app: text",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES | st.binary(max_size=60).filter(lambda b: b"\n" not in b), max_size=30))
def test_iter_records_never_raises_and_offsets_are_line_starts(lines: list[bytes]) -> None:
    pairs, offset = [], 0
    for line in lines:
        pairs.append((offset, line + b"\n"))
        offset += len(line) + 1
    starts = {start for start, _ in pairs}
    found = list(iter_records(pairs))
    assert all(start in starts for start, _ in found)
    assert [start for start, _ in found] == sorted(start for start, _ in found)
    assert all(isinstance(item, LogRecord | Malformed) for _, item in found)


def test_a_json_event_after_the_test_harness_output_on_its_line_is_read_as_the_event() -> None:
    """libtest prints ``test name ... `` and a test's tracing JSON can land on the same line: the event is still read."""
    event = '{"timestamp":"2026-01-01T10:00:00Z","level":"ERROR","fields":{"message":"charge failed","error_code":"PAY_502"},"target":"shop::pay"}'
    for prefix in ("test api::tests::charge ... ", "running 2 tests", "   Compiling shop v0.1.0 "):
        record = parse_line(prefix + event)
        assert (record.level, record.message, record.error_code, record.target, record.format) == (
            "ERROR", "charge failed", "PAY_502", "shop::pay", "json")
    text = parse_line('2026-01-01T10:00:01Z ERROR shop: bad body {"level":"x"}')  # a text event whose message ends in JSON
    assert (text.level, text.format, text.message) == ("ERROR", "text", 'bad body {"level":"x"}')


def test_a_prefixed_json_event_is_found_by_the_scan(cli, isolated) -> None:  # type: ignore[no-untyped-def]
    log = isolated / "test-output.log"
    log.write_text('running 1 test\ntest api::x ... {"timestamp":"2026-01-01T10:00:00Z","level":"ERROR",'
                   '"fields":{"message":"charge failed"},"target":"shop"}\ntest api::x ... ok\n')
    groups = cli("scan", str(log), "--json").json()["groups"]
    assert [(group["level"], group["template"]) for group in groups] == [("ERROR", "charge failed")]


def test_the_test_harness_lines_end_a_panic_and_belong_to_no_record_before_them() -> None:
    """Under ``cargo test -- --nocapture`` only the first panic of a process gets the RUST_BACKTRACE note: the next
    one is followed straight by libtest's report, which is no part of its message."""
    text = (
        "2026-12-02T20:17:25.245115Z ERROR shop: query failed error_code=\"DB\"\n"
        "test tests::queries ... ok\n"
        "thread 'tests::total_overflows' panicked at src/cart.rs:88:17:\n"
        "attempt to add with overflow\n"
        "test tests::total_overflows - should panic ... ok\n"
        "running 2 tests\n"
        "test result: ok. 2 passed; 0 failed\n"
    )
    found = [item for _, item in records(text)]
    assert all(isinstance(item, LogRecord) for item in found)
    error, harness, panic, *rest = found
    assert (error.level, error.message) == ("ERROR", "query failed")  # type: ignore[union-attr]
    assert (panic.level, panic.message, panic.thread) == ("PANIC", "attempt to add with overflow", "tests::total_overflows")  # type: ignore[union-attr]
    assert [item.message for item in [harness, *rest]] == [  # type: ignore[union-attr]
        "test tests::queries ... ok", "test tests::total_overflows - should panic ... ok", "running 2 tests",
        "test result: ok. 2 passed; 0 failed"]


@pytest.mark.parametrize(("line", "level"), [
    ('{"level":null,"severity":"ERROR","message":"x"}', "ERROR"),  # severity beside an empty level
    ('{"level":"dpanic","msg":"x"}', "ERROR"),  # zap logs dpanic at error level in production
    ('{"level":"E","fields":{"message":"x"}}', "ERROR"),
    ('{"lvl":"warn","fields":{"message":"x"}}', "WARN"),
])
def test_levels_other_loggers_write_are_read_not_malformed(line: str, level: str) -> None:
    assert parse_line(line).level == level


def test_a_panic_header_on_the_harness_line_is_a_panic() -> None:
    """``cargo test -- --test-threads=1`` prints ``test x ... `` before running the test: its panic shares the line."""
    text = ("test tests::total - should panic ... thread 'tests::total' panicked at src/cart.rs:88:17:\n"
            "attempt to add with overflow\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
            "ok\n")
    panic, ok = [item for _, item in records(text)]
    assert (panic.level, panic.message, panic.file, panic.line, panic.thread) == (  # type: ignore[union-attr]
        "PANIC", "attempt to add with overflow", "src/cart.rs", 88, "tests::total")
    assert ok.message == "ok"  # type: ignore[union-attr]


def test_only_the_harness_own_lines_end_a_record() -> None:
    """Lines that merely start like the harness's (``failures:`` in a message, ``test users_table ... missing``) stay
    part of the record before them."""
    text = ("thread 'main' panicked at src/main.rs:3:5:\nvalidation errors\nfailures:\n  - name is empty\n"
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
            "2026-12-02T20:17:25Z ERROR shop: migration check failed\ntest users_table ... missing column\n")
    panic, error = [item for _, item in records(text)]
    assert panic.message == "validation errors\nfailures:\n  - name is empty"  # type: ignore[union-attr]
    assert error.message == "migration check failed\ntest users_table ... missing column"  # type: ignore[union-attr]

