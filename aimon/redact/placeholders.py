"""The placeholders that stand for masked values: ``<secret:aws-key#1>``, ``<email#1>``, ``<card#1>``, ``<ip#1>``.

The kind says what was there (a reader, or the LLM, can still tell an AWS key from a password), the number tells
values of one kind apart: the same value always gets the same placeholder within one :class:`Numbering`, so two lines
that carry one token still show it. A placeholder may come back Markdown-escaped (``\\<secret:token#1\\>``) from a
text that was redacted, then escaped; it is recognised in both forms so that redacting twice changes nothing.
"""

from __future__ import annotations

import re

# What every consumer that must recognise a placeholder matches (the autofix guard, the diagnosis prompt's rules).
PLACEHOLDER_PATTERN = r"<(?:secret:[a-z0-9-]+|email|card|ip)#\d+>"
_ANY = re.compile(r"\\?<(?P<kind>secret:[a-z0-9-]+|email|card|ip)#(?P<number>\d+)\\?>")
PLACEHOLDER = re.compile(PLACEHOLDER_PATTERN)
IP_MODES = ("none", "public", "all")  # which IP addresses are masked: none, those on the public internet, all
Span = tuple[int, int, str]  # what a detector finds: start and end of a value in the text, and its kind


def placeholder_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` already holds placeholders (escaped or not): nothing inside them is masked again."""
    if "#" not in text:
        return []
    return [match.span() for match in _ANY.finditer(text)]


def is_placeholder(text: str) -> bool:
    """``text`` is exactly one placeholder (escaped or not)."""
    return _ANY.fullmatch(text) is not None


class Numbering:
    """Hands out placeholders: one per distinct value, numbered per kind from 1 (or after those a text holds)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def placeholder(self, kind: str, value: str) -> str:
        """The placeholder of ``value``: the one it got before (whatever kind it was then), else the next of ``kind``."""
        found = self._seen.get(value)
        if found is None:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            found = f"<{kind}#{self._counts[kind]}>"
            self._seen[value] = found
        return found

    def number_after(self, text: str) -> None:
        """Number new placeholders after those already in ``text``, so that a second pass over a text another
        numbering masked never gives a different value a placeholder that is already there."""
        for match in _ANY.finditer(text):
            kind, number = match.group("kind"), int(match.group("number"))
            self._counts[kind] = max(self._counts.get(kind, 0), number)

    @property
    def count(self) -> int:
        """How many distinct values were masked."""
        return len(self._seen)
