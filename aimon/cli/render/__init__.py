"""Text views of the commands' results, one module per command or stage.

Each view has ``render(console, result)`` and may have ``plain(result)``: one line of plain text for an idle result
(or ``""`` for nothing), so that an idle cron tick never imports rich. A view imports the result type of its command,
so it is imported only when there is text to show.
"""

from __future__ import annotations

from types import ModuleType


def view(name: str) -> ModuleType:
    """The view of the command or stage ``name`` (``scan``, ``open_issue``, ``state_change``…)."""
    match name:
        case "scan":
            from aimon.cli.render import scan

            return scan
        case "diagnose":
            from aimon.cli.render import diagnose

            return diagnose
        case "notify":
            from aimon.cli.render import notify

            return notify
        case "open_issue":
            from aimon.cli.render import open_issue

            return open_issue
        case "autofix":
            from aimon.cli.render import autofix

            return autofix
        case "run":
            from aimon.cli.render import run

            return run
        case "status":
            from aimon.cli.render import status

            return status
        case "state_change":
            from aimon.cli.render import state_change

            return state_change
        case "check_logs":
            from aimon.cli.render import check_logs

            return check_logs
        case _:
            raise LookupError(f"no text view named {name!r}")
