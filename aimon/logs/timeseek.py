"""Where a time window starts in a time-ordered log file: a binary search on the timestamps of its lines."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from aimon.logs.parsing.timestamps import ISO_BYTES_RE, ISO_RE, from_iso_match

_PROBE_BYTES = 64 * 1024


def _first_time_after(stream: io.RawIOBase, offset: int) -> tuple[float | None, int]:
    """The time of the first line that starts at or after ``offset`` and has one, and where that line starts."""
    stream.seek(offset)
    data = stream.read(_PROBE_BYTES) or b""
    pos = 0 if offset == 0 else data.find(b"\n") + 1
    if offset and pos == 0:
        return None, offset + len(data)
    while pos < len(data):
        newline = data.find(b"\n", pos)
        if newline < 0:
            break
        match = ISO_BYTES_RE.search(data, pos, min(newline, pos + 256))
        if match is not None:
            return from_iso_match(_as_text(match)), offset + pos
        pos = newline + 1
    return None, offset + pos


def _as_text(match: re.Match[bytes]) -> re.Match[str]:
    found = ISO_RE.match(match.group(0).decode("ascii", "replace"))
    assert found is not None
    return found


def seek_time(path: Path, since: float) -> int:
    """Offset of a line at or shortly before the first line logged at ``since`` or later, by binary search.

    Assumes the file is in time order (a log file is); when it cannot tell (no timestamps, or the last line is older
    than the first) it returns 0 and the caller reads the whole file. The result is a line start; records before
    ``since`` that it lets through are filtered by the caller.
    """
    with open(path, "rb", buffering=0) as stream:
        size = os.fstat(stream.fileno()).st_size
        first, _ = _first_time_after(stream, 0)
        last, _ = _first_time_after(stream, max(0, size - _PROBE_BYTES))
        if first is None or last is None or last < first or first >= since:
            return 0
        low, high = 0, size
        while high - low > _PROBE_BYTES:
            middle = (low + high) // 2
            ts, line_start = _first_time_after(stream, middle)
            if ts is None:
                break
            if ts < since:
                low = line_start
            else:
                high = middle
        return low
