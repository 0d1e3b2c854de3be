"""``aimon autofix``: guarded, tested, draft pull requests for errors the diagnosis judged auto-fixable.

One pass: read back the state of our open PRs (and report regressions of merged ones), sort the auto-fixable errors
into eligible and not (recording why not), then for each eligible one: a throw-away worktree of the default branch,
the model's search/replace edits, the guard, the test command, and only then a commit, a push and a draft PR.
``AIMON_AUTOFIX=dry-run`` (or ``--dry-run``) stops after the tests and shows the diff instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aimon.runtime import Context

if TYPE_CHECKING:
    from aimon.stages.autofix.attempt import AttemptReport


@dataclass
class AutofixResult:
    """What one autofix pass did: the mode, each attempt or refusal, PRs followed up and regressions reported."""

    mode: str
    attempts: list[AttemptReport] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    pulls_checked: int = 0
    regressions: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    errors: list[str] = field(default_factory=list)
    exit_code: int = 0

    def counts(self) -> dict[str, int]:
        """How many errors ended in each outcome (opened, proposed, ineligible, deferred, refused, failed)."""
        found: dict[str, int] = {}
        for attempt in self.attempts:
            found[attempt.outcome] = found.get(attempt.outcome, 0) + 1
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "message": self.message,
            "counts": self.counts(),
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "skipped": self.skipped,
            "pulls_checked": self.pulls_checked,
            "regressions": self.regressions,
            "errors": self.errors,
        }


def run_autofix(ctx: Context) -> AutofixResult:
    """Run one autofix pass over the state (see the module docstring); never merges anything. Off (the default), it
    loads nothing else."""
    settings = ctx.settings
    if settings.autofix.mode == "off":
        # Said once, by the result (text or --json), not also as a notice.
        message = "autofix is off (AIMON_AUTOFIX=off); set it to dry-run to preview fixes or pr to open draft PRs"
        return AutofixResult(mode="off", message=message)
    from aimon.stages.autofix.passes import run_pass

    return run_pass(ctx, "dry-run" if ctx.dry_run or settings.autofix.mode == "dry-run" else "pr")
