"""The one record type every log format is parsed into."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Numeric order of levels; a panic outranks everything.
LEVEL_RANK = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4, "FATAL": 5, "PANIC": 6}


@dataclass(slots=True)
class LogRecord:
    """One log event, whatever format it came in.

    ``ts`` is seconds since the epoch (UTC) or ``None`` when the line has no readable time. ``level`` is one of
    :data:`LEVEL_RANK`'s keys (panics are ``PANIC``). ``file``/``line`` locate the code that logged (or panicked).
    """

    level: str
    message: str
    ts: float | None = None
    target: str | None = None
    error_code: str | None = None
    request_id: str | None = None
    file: str | None = None
    line: int | None = None
    thread: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    spans: list[dict[str, Any]] = field(default_factory=list)
    backtrace: list[str] = field(default_factory=list)
    format: str = "text"  # json | text | panic
    raw: str = ""

    @property
    def is_panic(self) -> bool:
        return self.level == "PANIC"

    @property
    def rank(self) -> int:
        return LEVEL_RANK.get(self.level, LEVEL_RANK["INFO"])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used to keep sample occurrences in the state file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogRecord:
        return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})
