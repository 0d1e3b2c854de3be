"""``aimon autofix``: guarded, tested, draft pull requests for errors the diagnosis judged auto-fixable.

One pass: read back the state of our open PRs (and report regressions of merged ones), sort the auto-fixable errors
into eligible and not (recording why not), then for each eligible one: a throw-away worktree of the default branch,
the model's search/replace edits, the guard, the test command, and only then a commit, a push and a draft PR.
``AIMON_AUTOFIX=dry-run`` (or ``--dry-run``) stops after the tests and shows the diff instead.
"""

from __future__ import annotations

from aimon.runtime import Context
from aimon.stages.autofix.result import AutofixResult

__all__ = ["AutofixResult", "run_autofix"]


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
