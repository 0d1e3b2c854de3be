"""Text rendering of ``aimon notify``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aimon.stages.notify.stage import NotifyResult

if TYPE_CHECKING:  # rich is imported only when there is something to draw (see plain())
    from rich.console import Console


def plain(result: NotifyResult) -> str | None:
    """``Nothing to post.`` when that is the whole output (an idle tick: no rich import), else ``None``."""
    busy = (result.would_send, result.sent, result.edited, result.skipped, result.waiting, result.deferred, result.failed)
    if any(busy) or result.error:
        return None
    return "Nothing to post." if result.configured else "Nothing to post: DISCORD_WEBHOOK_URL is not set."


def render(console: Console, result: NotifyResult) -> None:
    """What was posted, edited, skipped or left for later; with --dry-run or no webhook, the exact JSON payloads."""
    from rich.text import Text

    if result.would_send:
        why = "dry run" if result.configured else "DISCORD_WEBHOOK_URL is not set"
        console.print(Text(f"Would send {len(result.would_send)} request(s) to Discord ({why}):", style="bold"))
        for request in result.would_send:
            console.print(Text(f"{request['method']} {request['url']}", style="cyan"))
            console.print(Text(json.dumps(request["json"], indent=2, ensure_ascii=False)))
    for sent in result.sent:
        what = f"digest of {len(sent['deliveries'])} alerts" if sent["kind"] == "digest" else f"alert for {sent['fingerprints'][0]}"
        console.print(Text(f"posted {what} (message {sent['message_id']})", style="green"))
    for edited in result.edited:
        console.print(Text(f"updated the alert for {edited['fingerprint']} (message {edited['message_id']})", style="green"))
    _rows(console, "skipped", result.skipped, "dim")
    _rows(console, "waiting", result.waiting, "")
    _rows(console, "pending", result.deferred, "yellow")
    _rows(console, "failed for good", result.failed, "red")
    if result.error:
        console.print(Text(f"error: {result.error}", style="bold red"))
    nothing = plain(result)
    if nothing is not None:
        console.print(nothing)


def _rows(console: Console, label: str, rows: list[dict[str, Any]], style: str) -> None:
    from rich.text import Text

    for row in rows:
        reason = row.get("reason") or row.get("error") or ""
        where = f"next try {row['next_attempt_at']}" if row.get("next_attempt_at") else ""
        text = f"{label}: {row.get('fingerprint')} (detection {row.get('detection')}) {reason} {where}".rstrip()
        console.print(Text(text, style=style))
