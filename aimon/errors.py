"""The one error hierarchy of aimon, and the exit codes its commands end with.

Core code raises these with a message a user can act on; the command line alone turns them into exit codes.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """How an ``aimon`` command ended (the command line's contract with cron, CI and scripts)."""

    OK = 0  # done, also "nothing to do" and "another run holds the lock"
    STAGE_FAILED = 1  # a stage (or part of its work) failed; the others still ran
    FAIL_ON = 3  # ``aimon run --fail-on`` matched a detection: the CI gate's verdict, apart from "a stage failed"
    USAGE = 2  # usage or configuration error, with what to fix
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class AimonError(Exception):
    """Base of every error aimon reports to a user."""

    exit_code: ExitCode = ExitCode.STAGE_FAILED


class ConfigError(AimonError):
    """A setting is missing or has a value aimon cannot use; the message says how to fix it."""

    exit_code = ExitCode.USAGE


class UsageError(AimonError):
    """A command was called with arguments that do not fit together."""

    exit_code = ExitCode.USAGE


class StateError(AimonError):
    """The state file cannot be opened, migrated or written."""


class StateUnusable(StateError):
    """The state file is not one this aimon can use (not SQLite, damaged, or from a newer aimon): nothing was written
    to it, and the message says what to do."""

    exit_code = ExitCode.USAGE


class RemoteError(AimonError):
    """A remote service failed in a way that should be retried on a later tick."""


class RemoteGone(AimonError):
    """A remote endpoint no longer exists or refuses our credentials: retrying will not help."""
