"""The fast paths of a big read give the answers of the slow ones: StringZilla's search and count against the standard
library's, and the shortcuts for the usual JSON line against the patterns they stand for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimon.logs.parsing import search, starts
from aimon.logs.parsing.jsonlog import CANONICAL_LEVELS, normalize_level
from aimon.logs.parsing.lines import Malformed, check_event

# Bytes that make up log lines and the markers, so that matches, near misses and line ends are common.
_ALPHABET = st.sampled_from([b"\n", b"E", b"R", b"O", b"ERROR", b"ked at", b"panicked at", b"{", b"}", b" ", b"x",
                             b"\r", b"\t", b"\xc3\xa9", b"\x00"])
_BUFFERS = st.lists(_ALPHABET, max_size=60).map(b"".join)
_NEEDLES = st.sampled_from([b"ERROR", b"ked at", b"WARN", b"E", b"\n"])


@pytest.fixture
def stdlib() -> Iterator[None]:
    search.use_stdlib(True)
    yield
    search.use_stdlib(False)


def _both(call):  # type: ignore[no-untyped-def]
    native = call()
    search.use_stdlib(True)
    try:
        return native, call()
    finally:
        search.use_stdlib(False)


def _bounds(data: st.DataObject, buf: bytes) -> tuple[int, int]:
    start = data.draw(st.integers(0, len(buf)))
    end = data.draw(st.integers(start, len(buf)))
    return start, end


@given(_BUFFERS, _NEEDLES, st.data())
def test_find_and_count_agree_with_bytes(buf: bytes, needle: bytes, data: st.DataObject) -> None:
    start, end = _bounds(data, buf)
    for holder in (buf, bytearray(buf)):
        native, slow = _both(lambda holder=holder: search.find(holder, needle, start, end))
        assert native == slow == buf.find(needle, start, end)
        native, slow = _both(lambda holder=holder: search.count_lines(holder, start, end))
        assert native == slow == buf.count(b"\n", start, end)


def _lines_with(buf: bytes, needle: bytes, start: int, end: int) -> list[int]:
    """The slow truth: split the stretch into lines and keep the ones that hold the marker (wholly in the stretch)."""
    found, pos = [], start
    while pos < end:
        newline = buf.find(b"\n", pos, end)
        stop = end if newline < 0 else newline + 1
        if needle in buf[pos:stop]:
            found.append(pos)
        pos = stop
    return found


@given(_BUFFERS, _NEEDLES, st.data())
def test_marker_lines_are_the_lines_that_hold_the_marker(buf: bytes, needle: bytes, data: st.DataObject) -> None:
    ends = [0, *(i + 1 for i, byte in enumerate(buf) if byte == 0x0A)]
    start = data.draw(st.sampled_from(ends))  # a line start, as the scanner passes
    end = data.draw(st.integers(start, len(buf)))
    native, slow = _both(lambda: list(search.marker_lines(bytearray(buf), needle, start, end)))
    assert native == slow == _lines_with(buf, needle, start, end)


def test_the_native_search_is_there() -> None:
    # A dependency: without it a big read is several times slower (and this says so rather than measuring it).
    assert search.ACCELERATED


def test_the_standard_library_switch_is_undone(stdlib: None) -> None:
    assert search.find(b"a ERROR", b"ERROR", 0, 7) == 2


# -------------------------------------------------------------------------------------------- the JSON line shortcuts

_LINE_PARTS = st.sampled_from(["{", "}", "\"level\":\"ERROR\"", " ", "\t", "\r", "\n", "\x0b", "\x0c", "\u2003",
                               "\x85", "x", "2024-01-02T03:04:05Z", "ERROR", " INFO ", "thread 'a' panicked at "])
_LINES = st.lists(_LINE_PARTS, max_size=12).map("".join)


def _by_pattern(line: bytes | str, shape: str | None) -> bool:
    return starts._pick(starts._STARTS_DATED if shape == starts.DATED else starts._STARTS_ANY, line)


@given(_LINES, st.sampled_from([None, starts.DATED, starts.LEVEL]))
def test_a_json_object_line_starts_a_record_as_the_patterns_say(text: str, shape: str | None) -> None:
    for line in (text, text.encode(), bytearray(text.encode())):
        assert starts.starts_record(line, shape) == _by_pattern(line if not isinstance(line, bytearray) else bytes(line), shape)


@given(_LINES, st.sampled_from([None, starts.DATED, starts.LEVEL]))
def test_no_text_shape_opens_with_a_brace(text: str, shape: str | None) -> None:
    line = "{" + text
    assert not starts._pick(starts._DATED_RES, line)
    assert not starts._pick(starts._LEVEL_RES, line)
    assert starts.text_shape(line, shape) is None


@given(st.one_of(st.sampled_from(sorted(CANONICAL_LEVELS)), st.text(max_size=8), st.integers(-5, 70), st.booleans(),
                 st.floats(allow_nan=False)))
def test_the_canonical_level_shortcut_judges_as_normalising_does(level: object) -> None:
    readable = normalize_level(level) is not None
    try:
        check_event({"level": level, "fields": {"message": "m"}})
    except Malformed:
        assert not readable
    else:
        assert readable
