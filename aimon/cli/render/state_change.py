"""Text rendering of ``aimon ignore`` / ``aimon resolve``."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from aimon.tools.triage import StateChangeResult


def render(console: Console, result: StateChangeResult) -> None:
    """One line: which fingerprint, what it was, what it is now and until when."""
    if result.state == "ignored":
        until = f" until {result.until}" if result.until else " until you resolve it"
        what = f"ignored{until}: no alert, issue or fix for it"
    elif result.state == "resolved":
        what = "resolved: if it shows up again, that is a regression"
    else:
        what = "active again"
    console.print(Text(f"{result.fingerprint} ({result.template}) was {result.previous_state}, now {what}."))
