"""One autofix pass (dry-run or pr), loaded only when autofix is on (:func:`aimon.stages.autofix.stage.run_autofix`)."""

from __future__ import annotations

from typing import Any

from aimon.config import Settings
from aimon.errors import ConfigError, RemoteError
from aimon.lock import try_lock
from aimon.remotes.github import PullRequests
from aimon.runtime import Context
from aimon.stages.autofix import eligibility, guard, worktree
from aimon.stages.autofix.attempt import Attempt, Recorder, secret_env_names
from aimon.stages.autofix.followup import follow_pulls
from aimon.stages.autofix.result import AutofixResult
from aimon.state.db import utcnow


def run_pass(ctx: Context, mode: str) -> AutofixResult:
    """Check the settings autofix needs in ``mode``, then run the pass under the autofix lock."""
    settings = ctx.settings
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
