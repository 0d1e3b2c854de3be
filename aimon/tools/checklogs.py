"""``aimon check-logs``: how well a service's logs follow aimon's log specification.

The specification is a JSON Schema shipped in the package (``aimon/data/log-spec.schema.json``): one JSON object per
line with a time, a level and a message, and on every ERROR an ``error_code`` and the ``request_id`` of the request (in
the event's fields or in a span). This module validates each line with jsonschema and reports the share of conforming
lines, the most common violations with one example line each (redacted and shortened: log lines can hold secrets),
and the ERROR lines that lack an error code or a request id — what a team should fix before relying on aimon.
"""

from __future__ import annotations

import glob
import gzip
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from aimon.config import Settings
from aimon.errors import UsageError

SCHEMA_FILE = "log-spec.schema.json"
EXAMPLE_CHARS = 240  # an example line is shown at most this long
ERROR_EXAMPLES = 5  # ERROR lines without a code or request id shown as examples
_REQUIRED_RE = re.compile(r"^'(.+)' is a required property$")


@lru_cache(maxsize=1)
def log_spec_schema() -> dict[str, Any]:
    """The log specification (a JSON Schema, draft 2020-12) as shipped in the package."""
    text = (resources.files("aimon") / "data" / SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass
class Example:
    """Where a violation was seen, and the line (redacted and shortened)."""

    file: str
    line_number: int
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line_number": self.line_number, "text": self.text}


@dataclass
class Violation:
    """One kind of deviation from the specification: how many lines show it, and the first such line."""

    violation: str
    count: int
    example: Example

    def to_json(self) -> dict[str, Any]:
        return {"violation": self.violation, "count": self.count, "example": self.example.to_json()}


@dataclass
class ErrorLine:
    """An ERROR line that misses what aimon needs to group and explain it."""

    example: Example
    missing: list[str]

    def to_json(self) -> dict[str, Any]:
        return {**self.example.to_json(), "missing": self.missing}


@dataclass
class CheckLogsResult:
    """What ``aimon check-logs`` found. ``exit_code`` stays 0: the report is the product, not a gate."""

    files: list[str]
    lines: int = 0
    conforming: int = 0
    violations: list[Violation] = field(default_factory=list)
    error_lines: int = 0
    errors_without_error_code: int = 0
    errors_without_request_id: int = 0
    error_examples: list[ErrorLine] = field(default_factory=list)
    exit_code: int = 0

    @property
    def share(self) -> float:
        """Share of non-blank lines that conform (1.0 for no lines: nothing is wrong)."""
        return self.conforming / self.lines if self.lines else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "lines": self.lines,
            "conforming": self.conforming,
            "conforming_share": round(self.share, 4),
            "violations": [violation.to_json() for violation in self.violations],
            "error_lines": self.error_lines,
            "errors_without_error_code": self.errors_without_error_code,
            "errors_without_request_id": self.errors_without_request_id,
            "error_examples": [line.to_json() for line in self.error_examples],
        }


def check_logs(settings: Settings, files: Sequence[str] | None) -> CheckLogsResult:
    """Validate every line of ``files`` (default: ``AIMON_LOG_PATHS``) against the log specification."""
    import jsonschema

    from aimon.redact import Redactor

    paths = _expand(files if files else settings.sources.log_paths)
    validator = jsonschema.Draft202012Validator(log_spec_schema())
    redactor = Redactor(settings.redaction_patterns)
    result = CheckLogsResult(files=[str(path) for path in paths])
    seen: dict[str, Violation] = {}
    for path in paths:
        for number, text in _lines(path):
            if not text.strip():
                continue
            result.lines += 1

            def example(path: Path = path, number: int = number, text: str = text) -> Example:
                return Example(str(path), number, _shorten(redactor.redact(text)))

            event = _as_json(text)
            problems = _violations(validator, event)
            if not problems:
                result.conforming += 1
            for problem in problems:
                if problem in seen:
                    seen[problem].count += 1
                else:
                    seen[problem] = Violation(problem, 1, example())
            missing = _error_missing(event, text, settings)
            if missing is None:
                continue
            result.error_lines += 1
            result.errors_without_error_code += "error_code" in missing
            result.errors_without_request_id += "request_id" in missing
            if missing and len(result.error_examples) < ERROR_EXAMPLES:
                result.error_examples.append(ErrorLine(example(), missing))
    result.violations = sorted(seen.values(), key=lambda violation: -violation.count)
    return result


def _expand(patterns: Sequence[str]) -> list[Path]:
    if not patterns:
        raise UsageError("no log file to check: pass FILE... or set AIMON_LOG_PATHS.")
    paths: list[Path] = []
    for pattern in patterns:
        if any(char in pattern for char in "*?["):
            matches = sorted(glob.glob(str(Path(pattern).expanduser())))
            if not matches:
                raise UsageError(f"{pattern}: no file matches this pattern.")
            paths.extend(Path(match) for match in matches if Path(match).is_file())
        else:
            path = Path(pattern).expanduser()
            if not path.is_file():
                raise UsageError(f"{pattern}: no such file.")
            paths.append(path)
    return paths


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                yield number, raw.decode("utf-8", errors="replace").rstrip("\r\n")
    except (OSError, EOFError) as exc:
        raise UsageError(f"{path}: cannot read it ({exc}).") from exc


def _as_json(text: str) -> Any:
    """The line as JSON, or ``None`` when it is not JSON at all (plain text, a panic, a backtrace line)."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def _violations(validator: Any, event: Any) -> list[str]:
    """Names of the rules ``event`` breaks, each once (the name says what is wrong, never the value)."""
    if event is None:
        return ["not JSON (one JSON object per line expected)"]
    if not isinstance(event, dict):
        return ["not a JSON object"]
    names: list[str] = []
    for error in validator.iter_errors(event):
        if error.validator == "required" and not error.absolute_path:
            match = _REQUIRED_RE.match(error.message)
            name = f"no {match.group(1)}" if match else "a required key is missing"
        else:
            where = ".".join(str(part) for part in error.absolute_path)
            name = error.schema.get("description") or f"{where or 'line'}: breaks the {error.validator} rule"
        if name not in names:
            names.append(name)
    return names


def _error_missing(event: Any, text: str, settings: Settings) -> list[str] | None:
    """For an ERROR (or panic) line, which of error_code/request_id it lacks; ``None`` for other lines."""
    if isinstance(event, dict):
        if str(event.get("level", "")).upper() != "ERROR":
            return None
        fields: dict[str, Any] = event["fields"] if isinstance(event.get("fields"), dict) else {}
        spans: list[Any] = [event.get("span"), *(event["spans"] if isinstance(event.get("spans"), list) else [])]
        has_code = any(_present(source.get(name)) for source in (event, fields) for name in settings.sources.error_code_fields)
        has_request = any(
            _present(source.get("request_id")) for source in (event, fields, *spans) if isinstance(source, dict)
        )
        return [name for name, ok in (("error_code", has_code), ("request_id", has_request)) if not ok]
    if event is not None:
        return None  # JSON but not an object: already reported as a violation
    record = _parse_text(text, settings)
    if record is None or record.level not in ("ERROR", "PANIC"):
        return None
    return [name for name, value in (("error_code", record.error_code), ("request_id", record.request_id)) if not value]


def _parse_text(text: str, settings: Settings) -> Any:
    """A plain-text line through aimon's own parsers (so check-logs and scan agree on what an ERROR line is)."""
    from aimon.logs.parsing import Malformed, parse_line

    try:
        return parse_line(text, "text", settings.sources.error_code_fields)
    except Malformed:
        return None


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _shorten(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"
