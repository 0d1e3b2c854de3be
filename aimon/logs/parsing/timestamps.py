"""Log timestamps → seconds since the epoch (UTC), without the cost of ``datetime`` on the hot path."""

from __future__ import annotations

import re
import time
from functools import lru_cache

# RFC 3339 / ISO 8601 as loggers write it: ``T`` or a space between date and time, any number of fractional digits
# (tracing writes micro- or nanoseconds), ``Z``, ``+hh:mm``, ``+hhmm`` or nothing (read as UTC).
ISO_PATTERN = r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\d*\s?(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?"
ISO_RE = re.compile(ISO_PATTERN)
ISO_BYTES_RE = re.compile(ISO_PATTERN.encode())  # the same, on raw bytes (seeking a time in a file)
# A text record starts with its date (optionally in brackets): what tells a new record from a continuation line.
DATED_START = r"\[?\d{4}-\d{2}-\d{2}[T ]"
# Syslog style, no year: ``Feb 20 11:28:15.096`` (the hand-written tracing-subscriber docs use it).
SYSLOG_RE = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?")
_MONTHS = {name: index for index, name in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}


@lru_cache(maxsize=4096)
def _days(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _offset_seconds(zone: str | None) -> int:
    if not zone or zone in ("Z", "z", "UTC"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) >= 4 else 0
    return sign * (hours * 3600 + minutes * 60)


def _valid(month: int, day: int, hour: int, minute: int, second: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60


def from_iso_match(match: re.Match[str]) -> float | None:
    """Seconds since the epoch of an :data:`ISO_RE` match (``None`` when the fields are out of range)."""
    year, month, day, hour, minute, second = (int(match.group(index)) for index in range(1, 7))
    if not _valid(month, day, hour, minute, second):
        return None
    fraction = match.group(7)
    seconds = _days(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - _offset_seconds(match.group(8))
    return seconds + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _from_syslog(match: re.Match[str]) -> float | None:
    month = _MONTHS.get(match.group(1))
    day, hour, minute, second = (int(match.group(index)) for index in range(2, 6))
    if month is None or not _valid(month, day, hour, minute, second):
        return None
    now = time.time()
    year = time.gmtime(now).tm_year
    fraction = match.group(6)
    value = _days(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    if value > now + 86400:  # a December line read in January belongs to last year
        value = _days(year - 1, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return value + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def from_number(value: float) -> float | None:
    """Epoch seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude) → seconds."""
    if value != value or value <= 0:  # NaN or not a time
        return None
    for scale in (1.0, 1e3, 1e6, 1e9):
        seconds = value / scale
        if seconds < 1e11:  # before the year 5138
            return seconds
    return None


_minute_cache: dict[str, int | None] = {}


def _fast_rfc3339(value: str) -> float | None:
    """``2026-01-02T03:04:05.123456Z`` as tracing writes it, with the minute looked up in a small cache."""
    base = _minute_cache.get(value[:16])
    if base is None:
        if len(_minute_cache) > 4096:
            _minute_cache.clear()
        match = ISO_RE.match(value[:16] + ":00Z")
        start = from_iso_match(match) if match else None
        base = _minute_cache[value[:16]] = None if start is None else int(start)
        if base is None:
            return None
    seconds = value[17:19]
    if not seconds.isdigit() or seconds > "60":
        return None
    fraction = value[20:-1]
    if value[19:20] == "." and fraction.isdigit() and len(fraction) <= 9:
        return base + int(seconds) + int(fraction) / 10 ** len(fraction)
    return float(base + int(seconds)) if len(value) == 20 else None


def parse_timestamp(value: object) -> float | None:
    """Any timestamp a log line may carry (ISO text, syslog text, an epoch number) → epoch seconds, or ``None``."""
    if isinstance(value, str):
        if len(value) >= 20 and value[-1] == "Z" and value[10] == "T" and value[4] == "-" and value[16] == ":":
            fast = _fast_rfc3339(value)
            if fast is not None:
                return fast
    elif isinstance(value, bool):
        return None
    elif isinstance(value, (int, float)):
        return from_number(float(value))
    else:
        return None
    match = ISO_RE.match(value)
    if match:
        return from_iso_match(match)
    match = SYSLOG_RE.match(value)
    if match:
        return _from_syslog(match)
    stripped = value.strip()
    if stripped.replace(".", "", 1).isdigit():
        return from_number(float(stripped))
    return None
