"""Which lines start a record, and which continue the record before them.

In the ``tracing`` text format (and in generic ``TIME LEVEL message`` logs) an event's message or a field value may
span lines: an HTML error body, a SQL statement, a pretty ``Debug`` dump. Those continuation lines belong to the
event before them. A line *starts* a record when it begins like one in the file's shape:

* ``dated``: a timestamp at the start (ISO, optionally in ``[``, or syslog style), optionally behind ANSI colours —
  tracing's default format and most generic loggers;
* ``level``: a level word at the start, as tracing writes it ``.without_time()`` (``ERROR shop: …``, `` INFO …``) or
  after its ``uptime()`` timer (``   3.123456789s ERROR …``);
  in such a file dated lines start records too; in a dated file, a line that opens like a WARN or ERROR event
  without a time starts one as well (an error is never hidden inside the record before it);

and, whatever the shape, a JSON event (a line that is one ``{…}`` object), a Rust panic header, or a line of the test
harness (``test x ... ok``, ``running 4 tests``). The shape is the one of the first text record
that opened with one of them (:class:`~aimon.logs.parsing.assembler.RecordAssembler` keeps it). A line that starts
neither way (``retry scheduled status=502``, ``HINT: …``, ``</html>``) continues the text record before it, up to
:data:`MAX_CONTINUATION_LINES` lines; a text record that did not open with a known start (a bare ``Got msg`` line)
takes no continuation lines, so free-form output stays one record per line as before.
"""

from __future__ import annotations

import re

from aimon.logs.parsing.timestamps import DATED_START

MAX_CONTINUATION_LINES = 200  # a record takes at most this many lines after its first; later ones stand alone
MAX_RECORD_BYTES = 64 * 1024  # text kept per record: beyond it the middle is dropped, the last line always kept

DATED = "dated"
LEVEL = "level"

_ANSI = r"(?:\x1b\[[0-9;]*m)*"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DATED_LINE = rf"{_ANSI}(?:{DATED_START}\d{{2}}:|\[?{_MONTH} {{1,2}}\d{{1,2}} \d{{2}}:\d{{2}}:\d{{2}})"
# tracing's ``uptime()`` timer writes seconds since start (``   3.123456789s``) where a time would be: no date, so such a
# file has the ``level`` shape.
UPTIME = r"\s*\d+\.\d{6,9}s"
_LEVEL_LINE = rf"{_ANSI}(?:{UPTIME}{_ANSI} )?{_ANSI} ?(?:TRACE|DEBUG|INFO|WARN|ERROR){_ANSI} "
# In a dated file a line without a time that opens like a WARN or ERROR event (stderr of a child process, a second
# subscriber set up .without_time()) still starts a record: taking it for a continuation would hide an error.
_BARE_PROBLEM_LINE = rf"{_ANSI} ?(?:WARN|ERROR){_ANSI} +[A-Za-z_]"
# The test harness's own lines (``cargo test``): they belong to no event before them, and a panic's message ends there.
# ``test x ... ok`` (or FAILED, ignored…; coloured on a terminal), or the same opening with a test's own output after it on the line (a JSON
# event, a panic header under --test-threads=1), ``running 4 tests``, ``test result: ok. 4 passed; …`` and the
# ``---- x stdout ----`` heading of a failure's output.
LIBTEST_LINE = (r"(?:test \S+ (?:- should panic )?\.\.\. (?:(?:\x1b\[[0-9;]*m)?(?:ok|FAILED|ignored\b|bench:)|(?=\{|thread '))"
                r"|running \d+ tests?$|test result: (?:ok|FAILED)\. \d+ passed|---- \S+ stdout ----$)")
# A JSON event is one whole object on its line: a lone ``{`` (a pretty-printed dump inside a message) is not one.
_OTHER_LINE = rf"(?:\{{.*\}}\s*$|\s*thread '[^']*'(?: \(\d+\))? panicked at |{LIBTEST_LINE})"


def _both(pattern: str) -> tuple[re.Pattern[str], re.Pattern[bytes]]:
    return re.compile(pattern), re.compile(pattern.encode())


_DATED_RES = _both(_DATED_LINE)
_LEVEL_RES = _both(_LEVEL_LINE)
_STARTS_DATED = _both(rf"(?:{_OTHER_LINE}|{_DATED_LINE}|{_BARE_PROBLEM_LINE})")
_STARTS_ANY = _both(rf"(?:{_OTHER_LINE}|{_DATED_LINE}|{_LEVEL_LINE})")


def _pick(pair: tuple[re.Pattern[str], re.Pattern[bytes]], line: bytes | bytearray | str) -> bool:
    if isinstance(line, str):
        return pair[0].match(line) is not None
    return pair[1].match(line) is not None


def starts_record(line: bytes | bytearray | str, shape: str | None) -> bool:
    """Does ``line`` start a record in a file of ``shape`` (``None``: not known yet, any known start counts)?"""
    if _is_json_object_line(line):
        return True  # what the patterns say of it too, without running them on the usual line of a JSON log
    return _pick(_STARTS_DATED if shape == DATED else _STARTS_ANY, line)


_OPENING_BRACE = (b"{", "{")
_CLOSING_BRACE = (b"}", "}")


def _is_json_object_line(line: bytes | bytearray | str) -> bool:
    """``{…}`` alone on its line, blanks after it: ``_OTHER_LINE``'s first case (``rstrip`` strips what ``\\s`` is)."""
    if line[:1] not in _OPENING_BRACE:
        return False
    stripped = line.rstrip()
    if stripped[-1:] not in _CLOSING_BRACE:
        return False
    return "\n" not in stripped if isinstance(stripped, str) else b"\n" not in stripped


_LIBTEST_RE = re.compile(LIBTEST_LINE)


def is_harness_line(line: str) -> bool:
    """Is ``line`` one of the test harness's own (``test x ... ok``, ``running 4 tests``)?"""
    return _LIBTEST_RE.match(line) is not None


def text_shape(line: bytes | bytearray | str, shape: str | None) -> str | None:
    """The shape of a text record that opens with ``line`` in a file of ``shape``: ``dated``, ``level``, or ``None``
    when ``line`` does not open one (it then takes no continuation lines)."""
    if line[:1] in _OPENING_BRACE:
        return None  # neither shape opens with a brace: the usual line of a JSON log needs no pattern
    if _pick(_DATED_RES, line):
        return DATED
    if shape != DATED and _pick(_LEVEL_RES, line):
        return LEVEL
    return None


__all__ = ["DATED", "LEVEL", "MAX_CONTINUATION_LINES", "MAX_RECORD_BYTES", "is_harness_line", "starts_record", "text_shape"]
