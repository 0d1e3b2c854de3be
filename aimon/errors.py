"""The one error hierarchy of aimon.

Core code raises these with a message a user can act on; ``aimon.cli.app`` alone turns them into exit codes.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_STAGE_FAILED = 1
EXIT_USAGE = 2


class AimonError(Exception):
    """Base of every error aimon reports to a user."""

    exit_code: int = EXIT_STAGE_FAILED


class ConfigError(AimonError):
    """A setting is missing or has a value aimon cannot use; the message says how to fix it."""

    exit_code = EXIT_USAGE


class UsageError(AimonError):
    """A command was called with arguments that do not fit together."""

    exit_code = EXIT_USAGE


class StateError(AimonError):
    """The state file cannot be opened, migrated or written."""


class RemoteError(AimonError):
    """A remote service failed in a way that should be retried on a later tick."""


class RemoteGone(AimonError):
    """A remote endpoint no longer exists or refuses our credentials: retrying will not help."""
