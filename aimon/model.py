"""The nouns every layer shares: the record every log format is parsed into, and the diagnosis of an error group."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

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


# -- the diagnosis of an error group ------------------------------------------------------------------------------------

Severity = Literal["low", "medium", "high", "critical"]
Category = Literal[
    "connectivity",
    "timeout",
    "dns",
    "tls",
    "resource-exhaustion",
    "database",
    "panic",
    "concurrency",
    "runtime-misuse",
    "configuration",
    "upstream",
    "rate-limit",
    "serialization",
    "validation",
    "permission",
    "storage",
    "memory",
    "logic",
    "unknown",
]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # lowest first
CATEGORIES: tuple[Category, ...] = get_args(Category)


class Diagnosis(BaseModel):
    """What is known about one error group, whoever said it (the LLM, pattern memory, the offline diagnoser).

    Strict: no coercion (``"0.8"`` is not a confidence, ``1`` is not ``true``), no other fields, and the bounds hold on
    every assignment. Its JSON is what ``diagnoses.result`` stores. The field descriptions are what the LLM reads.
    """

    model_config = ConfigDict(strict=True, extra="forbid", validate_assignment=True)

    title: str = Field(min_length=1, max_length=200, description="One line (under 100 characters) naming the failure, not the symptom.")
    summary: str = Field(max_length=2000, description="Two or three sentences: what fails, for whom, since when, how often.")
    root_cause: str = Field(max_length=4000, description="The most likely cause, grounded in the data; say what is inferred.")
    evidence: list[Annotated[str, Field(max_length=1000)]] = Field(
        max_length=20,
        description="Context lines that support the diagnosis, each starting with its reference, e.g. '[T3] ...' or '[src/db.rs:42] ...'.",
    )
    suggested_fix: str = Field(max_length=4000, description="What to change or check first, concretely (file, function, setting).")
    severity: Severity
    category: Category
    auto_fixable: bool = Field(description="True only for a small, local, low-risk code change in the shown source.")
    auto_fixable_reason: str
    confidence: float = Field(ge=0, le=1, description="0 to 1: how sure the diagnosis is, given the evidence.")
    insufficient_evidence: bool = Field(description="True when the data does not support a confident cause.")
