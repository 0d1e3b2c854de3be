"""What a scan reports (kept apart from the aggregator, so that a tick with nothing new loads no parsing or grouping)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ScanResult:
    """What a scan read and found. ``groups`` are the error groups seen (newest last seen first)."""

    lines: int = 0
    malformed: int = 0
    groups: list[dict[str, Any]] = field(default_factory=list)
    detections: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    since: str | None = None
    errors: list[str] = field(default_factory=list)  # sources that could not be seen, each with why
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "malformed": self.malformed,
            "malformed_reasons": self.malformed_reasons,
            "groups": self.groups,
            "detections": self.detections,
            "sources": self.sources,
            "since": self.since,
            "errors": self.errors,
        }
