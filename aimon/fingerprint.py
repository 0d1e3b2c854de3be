"""Fingerprints: one stable id per kind of error, whatever ids, numbers or paths its occurrences carry."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, BinaryIO

from aimon.config import FingerprintRule
from aimon.errors import ConfigError
from aimon.records import LogRecord

ALGO_VERSION = 1
WILDCARD = "<*>"

_MASKS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+"),
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`"),
    re.compile(r"(?<![\w/])(?:/[\w.@~+-]+)+/?"),
    re.compile(r"\b0x[0-9a-fA-F]+\b"),
    re.compile(r"[\w.:/+-]*\d[\w.:/+-]*"),
)
_WILDCARDS = re.compile(r"(?:<\*>[\s,]*)+(?=<\*>)")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The identity of one kind of error: ``id`` (16 hex chars), the masked ``template``, the ``algo`` version."""

    id: str
    template: str
    algo: int = ALGO_VERSION


def fingerprint_id(*parts: str | None) -> str:
    """A 16-hex-char id over the algorithm version and ``parts`` (deterministic across processes)."""
    text = "\x1f".join([str(ALGO_VERSION), *("" if part is None else part for part in parts)])
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@lru_cache(maxsize=65536)
def mask(message: str) -> str:
    """The message with every variable part replaced by ``<*>``."""
    text = message
    for pattern in _MASKS:
        text = pattern.sub(WILDCARD, text)
    return " ".join(text.split())


class Fingerprinter:
    """Turns records into fingerprints, applying the user's rules before the built-in masking."""

    def __init__(self, rules: Sequence[FingerprintRule] = ()) -> None:
        self._rules: list[tuple[re.Pattern[str], FingerprintRule]] = []
        for rule in rules:
            try:
                self._rules.append((re.compile(rule.pattern), rule))
            except re.error as exc:
                raise ConfigError(
                    f"aimon.toml [[fingerprint.rules]] pattern {rule.pattern!r} is not a valid regex: {exc}"
                ) from None

    def template(self, message: str) -> str:
        """The masked template of ``message``."""
        text = message
        for pattern, rule in self._rules:
            if rule.template is not None and pattern.search(text):
                return rule.template
            if rule.mask is not None:
                text = pattern.sub(rule.mask, text)
        return mask(text)

    def of(self, record: LogRecord) -> Fingerprint:
        """The fingerprint of one record."""
        template = self.template(record.message)
        if record.is_panic:
            where = f"{record.file}:{record.line}" if record.file else ""
            return Fingerprint(fingerprint_id("panic", where, template), template)
        return Fingerprint(fingerprint_id(record.error_code, record.target, template), template)


def canonical(conn: sqlite3.Connection, fingerprint_id: str) -> str:
    """The fingerprint ``fingerprint_id`` answers for: itself, or what a learned merge made it an alias of."""
    seen = {fingerprint_id}
    current = fingerprint_id
    while True:
        row = conn.execute("SELECT fingerprint FROM fingerprint_aliases WHERE alias = ?", (current,)).fetchone()
        if row is None or row[0] in seen:
            return current
        current = row[0]
        seen.add(current)


def fingerprint_stream(stream: BinaryIO, fmt: str, settings: Any) -> Iterator[dict[str, Any]]:
    """One dict per input line, in order: ``fingerprint``, ``template`` (and ``malformed`` when unparseable)."""
    fingerprinter = Fingerprinter(getattr(settings, "fingerprint_rules", ()))
    for raw in stream:
        line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
        record = LogRecord(level="ERROR", message=line, format="text", raw=line)
        fp = fingerprinter.of(record)
        yield {"fingerprint": fp.id, "template": fp.template}
