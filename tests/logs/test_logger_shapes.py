"""Every set-up of ``tracing-subscriber``'s ``fmt`` layer reads as the same event.

A service picks its formatter options once (thread names and ids, file and line, span context, target, ANSI, the
timer or none; for JSON ``flatten_event``, ``with_current_span``, ``with_span_list``), and production set-ups rarely
keep the defaults. Whatever the options, one event must give the same level, target, message, location and error
code, so that events from different worker threads stay one group and the diagnosis gets its location. The lines are
written the way tracing-subscriber 0.3 writes them (compare ``tests/data/shapes`` and the captured reference output).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import assume, given
from hypothesis import strategies as st

from aimon.grouping.fingerprint import context_of
from aimon.logs.parsing import parse_line
from aimon.model import LogRecord

START = datetime(2026, 12, 2, 20, 17, 25, 245115, tzinfo=UTC)
COLOURS = {"TRACE": 35, "DEBUG": 34, "INFO": 32, "WARN": 33, "ERROR": 31}


@dataclass(frozen=True)
class Event:
    level: str
    target: str
    message: str
    error_code: str | None
    error: str | None  # an ``error = %e`` field: Display, written bare in text
    request_id: str | None  # the ``request`` span's field, when the event is inside one
    file: str
    line: int
    thread_name: str
    thread_id: int


@dataclass(frozen=True)
class TextSetup:
    timer: str  # "utc" (the default), "local" (an offset), "none" (without_time), "uptime"
    thread_names: bool
    thread_ids: bool
    file_line: bool
    target: bool
    ansi: bool


@dataclass(frozen=True)
class JsonSetup:
    flatten: bool
    current_span: bool
    span_list: bool
    file_line: bool
    thread_names: bool
    thread_ids: bool


def _style(text: str, code: str, ansi: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if ansi else text


def _timestamp(timer: str) -> str | None:
    if timer == "utc":
        return START.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if timer == "local":
        return START.astimezone(timezone(timedelta(hours=1))).isoformat(timespec="microseconds")
    if timer == "uptime":
        return f"{3:4}.{123456789:09}s"
    return None


def as_text(event: Event, setup: TextSetup) -> str:
    ansi = setup.ansi
    parts = []
    stamp = _timestamp(setup.timer)
    if stamp is not None:
        parts.append(_style(stamp, "2", ansi))
    parts.append(_style(f"{event.level:>5}", str(COLOURS[event.level]), ansi))
    if setup.thread_names:
        parts.append(event.thread_name)
    if setup.thread_ids:
        parts.append(f"ThreadId({event.thread_id:02d})")
    if event.request_id is not None:
        fields = (f'{_style("method", "3", ansi)}{_style("=", "2", ansi)}"POST" '
                  f'{_style("request_id", "3", ansi)}{_style("=", "2", ansi)}{event.request_id}')
        parts.append(f"{_style('request', '1', ansi)}{_style('{', '1', ansi)}{fields}{_style('}', '1', ansi)}"
                     f"{_style(':', '2', ansi)}")
    if setup.target:
        parts.append(f"{_style(event.target, '2', ansi)}{_style(':', '2', ansi)}")
    if setup.file_line:
        parts.append(f"{_style(event.file, '2', ansi)}{_style(':', '2', ansi)}{_style(f'{event.line}:', '2', ansi)}")
    line = " ".join(parts) + " " + event.message
    if event.error is not None:
        line += f" {_style('error', '3', ansi)}{_style('=', '2', ansi)}{event.error}"
    if event.error_code is not None:
        line += f' {_style("error_code", "3", ansi)}{_style("=", "2", ansi)}"{event.error_code}"'
    return line


def as_json(event: Event, setup: JsonSetup) -> str:
    body: dict[str, object] = {"message": event.message}
    if event.error is not None:
        body["error"] = event.error
    if event.error_code is not None:
        body["error_code"] = event.error_code
    obj: dict[str, object] = {"timestamp": _timestamp("utc"), "level": event.level}
    if setup.flatten:
        obj.update(body)
    else:
        obj["fields"] = body
    obj["target"] = event.target
    if setup.file_line:
        obj["filename"], obj["line_number"] = event.file, event.line
    if event.request_id is not None:
        span = {"method": "POST", "request_id": event.request_id, "name": "request"}
        if setup.current_span:
            obj["span"] = span
        if setup.span_list:
            obj["spans"] = [span]
    if setup.thread_names:
        obj["threadName"] = event.thread_name
    if setup.thread_ids:
        obj["threadId"] = f"ThreadId({event.thread_id})"
    return json.dumps(obj, separators=(",", ":"))


words = st.sampled_from(["query", "failed", "insert", "timed", "out", "upstream", "returned", "payment", "order",
                         "not", "found", "invalid", "token", "for", "user"])
events = st.builds(
    Event,
    level=st.sampled_from(["ERROR", "WARN", "INFO"]),
    target=st.sampled_from(["shop", "shop::db", "shop::http::orders", "tower_http::trace::on_failure"]),
    message=st.lists(words, min_size=1, max_size=6).map(" ".join),
    error_code=st.none() | st.sampled_from(["DB_POOL_TIMEOUT", "UPSTREAM_502", "E_AUTH"]),
    error=st.none() | st.sampled_from(["timed out waiting for a connection from pool after 5000ms",
                                       "connection refused (os error 111)", "Io(Kind(BrokenPipe))"]),
    request_id=st.none() | st.sampled_from(["req-0000000000000000", "req-9e3779b97f4a7c15"]),
    file=st.sampled_from(["src/main.rs", "src/db/pool.rs", "crates/api/src/handlers.rs"]),
    line=st.integers(min_value=1, max_value=9999),
    thread_name=st.sampled_from(["tokio-runtime-worker", "main", "actix-rt|system:0|arbiter:1"]),
    thread_id=st.integers(min_value=1, max_value=64),
)
text_setups = st.builds(TextSetup, timer=st.sampled_from(["utc", "local", "none", "uptime"]), thread_names=st.booleans(),
                        thread_ids=st.booleans(), file_line=st.booleans(), target=st.booleans(), ansi=st.booleans())


def ambiguous(event: Event, setup: TextSetup) -> bool:
    """A thread name alone, with no span after it, before a one-word target or none: ``ERROR main shop: x`` cannot be
    told from a generic log's ``ERROR payment-service timeout: x``, so the words are read as the message."""
    return (setup.thread_names and not setup.thread_ids and event.request_id is None
            and (not setup.target or "::" not in event.target))
json_setups = st.builds(JsonSetup, flatten=st.booleans(), current_span=st.booleans(), span_list=st.booleans(),
                        file_line=st.booleans(), thread_names=st.booleans(), thread_ids=st.booleans())


def _parsed(line: str) -> LogRecord:
    record = parse_line(line)
    assert isinstance(record, LogRecord), line
    return record


@given(events, text_setups)
def test_every_text_setup_reads_the_same_event(event: Event, setup: TextSetup) -> None:
    assume(not ambiguous(event, setup))
    line = as_text(event, setup)
    record = _parsed(line)
    assert record.level == event.level, line
    if event.error is None:
        assert record.message == event.message, line
    else:  # a bare Display value with spaces cannot be told from the message: it stays in it, whole
        assert record.message == f"{event.message} error={event.error}", line
    assert record.target == (event.target if setup.target else None), line
    assert (record.file, record.line) == ((event.file, event.line) if setup.file_line else (None, None)), line
    assert record.error_code == event.error_code, line
    assert record.request_id == event.request_id, line
    expected_thread = event.thread_name if setup.thread_names else f"ThreadId({event.thread_id:02d})" if setup.thread_ids else None
    assert record.thread == expected_thread, line
    if setup.timer in ("utc", "local"):
        assert record.ts == START.timestamp(), line


@given(events, json_setups)
def test_every_json_setup_reads_the_same_event(event: Event, setup: JsonSetup) -> None:
    line = as_json(event, setup)
    record = _parsed(line)
    assert (record.level, record.message, record.target, record.error_code) == (
        event.level, event.message, event.target, event.error_code), line
    assert (record.file, record.line) == ((event.file, event.line) if setup.file_line else (None, None)), line
    has_span = event.request_id is not None and (setup.current_span or setup.span_list)
    assert record.request_id == (event.request_id if has_span else None), line
    expected_thread = event.thread_name if setup.thread_names else f"ThreadId({event.thread_id})" if setup.thread_ids else None
    assert record.thread == expected_thread, line
    assert record.ts == START.timestamp()


@given(events, text_setups, text_setups, json_setups)
def test_the_group_of_an_event_does_not_depend_on_the_setup_nor_the_thread(event: Event, first: TextSetup,
                                                                          second: TextSetup, as_json_too: JsonSetup) -> None:
    """What the fingerprint is made of (error code, target, message) is the same in every text set-up that writes the
    target and in the JSON one, and events of two worker threads are one group."""
    other_thread = Event(**{**event.__dict__, "thread_name": "other-worker", "thread_id": event.thread_id + 1})
    with_target = [TextSetup(**{**first.__dict__, "target": True}), TextSetup(**{**second.__dict__, "target": True})]
    assume(not any(ambiguous(event, setup) for setup in with_target))
    lines = [as_text(event, setup) for setup in with_target] + [as_text(other_thread, with_target[0])]
    lines.append(as_json(event, as_json_too))
    text_groups = {(context_of(record), record.message) for record in map(_parsed, lines[:3])}
    assert len(text_groups) == 1, lines
    if event.error is None:  # the JSON message holds no field: the same as the text one only without a bare value
        assert {*text_groups, (context_of(_parsed(lines[3])), _parsed(lines[3]).message)} == text_groups, lines


def test_a_generic_log_line_is_not_taken_for_a_thread_and_a_target() -> None:
    """Words before a colon in a generic ``TIME LEVEL message`` log stay the message; a target followed by a message
    that starts like a span stays the target."""
    for message in ("something-with-dash word: message", "payment-service timeout: upstream did not answer",
                    "3 retries: giving up", "user_42 login: denied", "main database: down"):
        record = _parsed(f"2026-12-02T20:17:25Z ERROR {message}")
        assert (record.thread, record.message) == (None, message)
    for line, target, message in (("ERROR shop::orders: Order{id=5} failed", "shop::orders", "Order{id=5} failed"),
                                  ("ERROR shop: handler{id=1} failed", "shop", "handler{id=1} failed")):
        record = _parsed(f"2026-12-02T20:17:25Z {line}")
        assert (record.thread, record.target, record.message) == (None, target, message)
