"""``aimon autofix``: guarded, tested, draft pull requests for errors the diagnosis judged auto-fixable.

One pass: read back the state of our open PRs (and report regressions of merged ones), sort the auto-fixable errors
into eligible and not (recording why not), then for each eligible one: a throw-away worktree of the default branch,
the model's search/replace edits, the guard, the test command, and only then a commit, a push and a draft PR.
``AIMON_AUTOFIX=dry-run`` (or ``--dry-run``) stops after the tests and shows the diff instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aimon.config import Settings
from aimon.errors import ConfigError, RemoteError
from aimon.lock import try_lock
from aimon.remotes.github import PullRequests
from aimon.runtime import Context
from aimon.stages.autofix import eligibility, guard, worktree
from aimon.stages.autofix.attempt import Attempt, AttemptReport, Recorder, secret_env_names
from aimon.stages.autofix.followup import follow_pulls
from aimon.state.db import utcnow


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
    """Run one autofix pass over the state (see the module docstring); never merges anything."""
    settings = ctx.settings
    if settings.autofix.mode == "off":
        # Said once, by the result (text or --json), not also as a notice.
        message = "autofix is off (AIMON_AUTOFIX=off); set it to dry-run to preview fixes or pr to open draft PRs"
        return AutofixResult(mode="off", message=message)
    mode = "dry-run" if ctx.dry_run or settings.autofix.mode == "dry-run" else "pr"
    guard.Limits.of(settings.autofix)  # a rule turned off that does not exist (or may not be) is said before any work
    _check_test_env(settings)
    github = _github(settings) if mode == "pr" else None
    if mode == "pr":
        _check_pr_settings(settings)
    if ctx.dry_run:
        return _pass(ctx, mode, github)  # an in-memory state and nothing sent: no lock file either
    # Two passes at once (a core caller outside the run lock) must not open a second PR for the same error.
    path = settings.db_path.with_name(settings.db_path.name + ".autofix.lock")
    with try_lock(path) as held:
        if not held:
            message = f"another autofix pass is running (lock {path}); this one does nothing"
            ctx.notice(message)
            return AutofixResult(mode=mode, message=message)
        return _pass(ctx, mode, github)


def _pass(ctx: Context, mode: str, github: Any) -> AutofixResult:
    settings = ctx.settings
    result = AutofixResult(mode=mode)
    now = utcnow()
    recorder = Recorder(ctx, mode, github, now)
    try:
        result.pulls_checked, result.regressions = follow_pulls(ctx, github, now, mode)
    except RemoteError as exc:
        result.errors.append(str(exc))
    selection = eligibility.select(ctx.db, settings, now, mode=mode)
    result.skipped = selection.skipped
    for refusal in selection.ineligible:
        result.attempts.append(recorder.refusal(refusal))
    if selection.eligible:
        repo = worktree.check_repo(settings.repo_dir)
        for candidate in selection.eligible:
            if ctx.deadline.expired():
                result.skipped[candidate.fingerprint] = "the tick's time budget is spent; next tick"
                continue
            try:
                result.attempts.append(Attempt(ctx, candidate, repo, mode, github, recorder, now).run())
            except RemoteError as exc:
                # GitHub or the remote is down: the others would fail alike; leave them for the next tick.
                result.errors.append(str(exc))
                break
    if result.errors:
        result.exit_code = 1
    return result


def _github(settings: Settings) -> Any:
    if not settings.github.token or not settings.github.repo:
        raise ConfigError(
            "AIMON_AUTOFIX=pr opens pull requests on GitHub: set GITHUB_TOKEN and AIMON_GITHUB_REPO "
            "(or AIMON_AUTOFIX=dry-run to only preview fixes)."
        )
    return PullRequests(settings)


def _check_pr_settings(settings: Settings) -> None:
    worktree.check_repo(settings.repo_dir)
    if not settings.autofix.test_cmd.strip():
        raise ConfigError(
            "AIMON_AUTOFIX=pr needs AIMON_AUTOFIX_TEST_CMD (for example 'cargo test'): aimon never opens an untested "
            "pull request. Set it, or use AIMON_AUTOFIX=dry-run to preview fixes."
        )


def _check_test_env(settings: Settings) -> None:
    hidden = set(secret_env_names())
    refused = [name for name in settings.autofix.test_env if name in hidden or name.startswith("AIMON_")]
    if refused:
        raise ConfigError(
            f"[autofix] test_env names {', '.join(refused)}: the test command runs code a model wrote and never gets "
            "aimon's settings or credentials. Remove them from the list."
        )
