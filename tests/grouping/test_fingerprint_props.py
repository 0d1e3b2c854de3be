"""Properties of masking and fingerprints over arbitrary text (hypothesis)."""

from __future__ import annotations

import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.config import load_settings
from aimon.grouping.fingerprint import Fingerprinter, fold_digits, mask
from aimon.grouping.learned import generalize
from aimon.model import LogRecord
from aimon.tools.fingerprint import fingerprint_stream

# Pieces that exercise every masking rule and their boundaries, glued in any order.
# fmt: off
PIECES = [
    "a", "Z", "0", "9", "12", ".", ":", "/", "-", "_", "@", "'", '"', "(", ")", "[", "]", "{", "}", "<", ">", "*",
    "<*>", "=", ",", ";", "#", " ", "  ", "\t", "\n", "Jan", "Mon", "ms", "s", "KB", "\\", "C:\\", "$", "+", "%",
    "`", "0x", "ff", ".com", "x.org", "http://", "2024-01-02", "T10:00:00Z", "Foo { ", " }", "a@b.io", "ipv6", "…",
    "12345678-1234-1234-1234-123456789abc", "user", "failed",
]
# fmt: on
shaped = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=300), shaped)
# A word of letters and at most three digits (`ipv6`, `sha256`) names a thing and keeps its digits.
NAME_WITH_DIGITS = re.compile(r"(?<![\w.+\-@$])[A-Za-z]{2,}\d{1,3}(?![\w.+\-@$])")


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_masking_is_idempotent(text: str) -> None:
    template = mask(text)
    assert mask(template) == template


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_no_number_survives_masking(text: str) -> None:
    assert not re.search(r"\d", NAME_WITH_DIGITS.sub("", mask(text)))


@settings(max_examples=300, deadline=None)
@given(any_text, st.sampled_from("0123456789"))
def test_the_template_cache_is_exact(text: str, digit: str) -> None:
    # Templates are cached by the message with its digits folded; a message that differs only in digits must still
    # get exactly its own template (`ipv4` is not `ipv6`).
    fingerprinter = Fingerprinter()
    other = re.sub(r"[0-9]", digit, text)
    assert fingerprinter.template(text) == mask(text)
    assert fingerprinter.template(other) == mask(other)
    assert mask(fold_digits(text)) == mask(text)
    if fold_digits(text) == fold_digits(other):
        assert mask(text) == mask(other)


@settings(max_examples=300, deadline=None)
@given(any_text, st.one_of(st.none(), st.text(max_size=20)), st.one_of(st.none(), st.text(max_size=20)))
def test_fingerprints_are_deterministic_and_well_formed(text: str, target: str | None, code: str | None) -> None:
    record = LogRecord(level="ERROR", message=text, target=target, error_code=code)
    first = Fingerprinter().of(record)
    assert first == Fingerprinter().of(record)
    assert re.fullmatch(r"[0-9a-f]{16}", first.id)
    panic = LogRecord(level="PANIC", message=text, file=target, line=7)
    assert re.fullmatch(r"[0-9a-f]{16}", Fingerprinter().of(panic).id)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=20), st.sampled_from(["auto", "json", "text"]))
def test_any_bytes_give_one_row_per_line_or_per_record(lines: list[bytes], fmt: str) -> None:
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines) + (b"\n" if lines else b"")
    rows = list(
        fingerprint_stream(
            io.BytesIO(data), fmt, load_settings(environ={"AIMON_CONFIG": ""})
        )
    )
    numbers = [row["line"] for row in rows]
    if fmt == "text":  # every line a plain message
        assert numbers == list(range(1, data.count(b"\n") + 1))
    else:  # one row per record, numbered by its first line; the lines it took and blank lines have none
        assert numbers == sorted(set(numbers)) and all(1 <= number <= data.count(b"\n") for number in numbers)
        assert len(rows) >= sum(1 for line in data.split(b"\n")[:-1] if line.startswith(b"{") and line.endswith(b"}"))
    assert all(re.fullmatch(r"[0-9a-f]{16}", row["fingerprint"]) and isinstance(row["template"], str) for row in rows)


@settings(max_examples=200, deadline=None)
@given(st.lists(shaped, max_size=30))
def test_grouping_only_generalises(texts: list[str]) -> None:
    templates = {mask(text) for text in texts}
    learned = generalize(templates)
    assert set(learned) == templates
    for template, general in learned.items():
        mine, theirs = template.split(" "), general.split(" ")
        assert len(mine) == len(theirs)
        assert all(word == other or other == "<*>" for word, other in zip(mine, theirs, strict=True))
