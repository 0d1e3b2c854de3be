"""What ``aimon diagnose`` reports: each stored diagnosis and the run's totals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Diagnosed:
    """One stored diagnosis, as ``aimon diagnose`` reports it (``result``: the diagnosis as stored)."""

    id: int
    fingerprint: str
    detection_id: int | None
    reason: str  # new | regression | new-error-code
    source: str
    model: str | None
    result: dict[str, Any]
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    memory_of: int | None = None
    note: str | None = None
    prompt_tokens: int | None = None  # estimated tokens of the prompt (sent, or that would be sent)
    similar: list[dict[str, Any]] = field(default_factory=list)  # similar past errors: suggestions, not the diagnosis

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "fingerprint": self.fingerprint, "detection_id": self.detection_id, "reason": self.reason,
            "source": self.source, "model": self.model, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
            "cost_usd": round(self.cost_usd, 6), "prompt_tokens": self.prompt_tokens, "memory_of": self.memory_of,
            "note": self.note, "result": self.result, "similar": self.similar,
        }


@dataclass
class DiagnoseResult:
    """What a diagnose run did: diagnoses stored, fingerprints left pending (and why), LLM use and spend."""

    diagnosed: list[Diagnosed] = field(default_factory=list)
    pending: list[dict[str, str]] = field(default_factory=list)
    offline_reason: str | None = None
    model: str | None = None
    llm_calls: int = 0
    month_spend_usd: float = 0.0
    budget_usd: float = 0.0
    unpriced_model: bool = False
    dry_run: bool = False
    would_send: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "diagnosed": [item.to_json() for item in self.diagnosed],
            "pending": self.pending,
            "offline_reason": self.offline_reason,
            "llm": {
                "model": self.model, "calls": self.llm_calls,
                "tokens_in": sum(item.tokens_in for item in self.diagnosed),
                "tokens_out": sum(item.tokens_out for item in self.diagnosed),
                "cost_usd": round(sum(item.cost_usd for item in self.diagnosed), 6),
                "month_spend_usd": round(self.month_spend_usd, 6), "budget_usd": self.budget_usd,
                "unpriced_model": self.unpriced_model,
            },
            "dry_run": self.dry_run,
            "would_send": self.would_send,
        }
