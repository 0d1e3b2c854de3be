"""Text rendering of ``aimon open-issue``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aimon.stages.issues.stage import IssueResult

if TYPE_CHECKING:  # rich is imported only when there is something to draw (see plain())
    from rich.console import Console


def plain(result: IssueResult) -> str | None:
    """``Nothing to file.`` when that is the whole output (an idle tick: no rich import), else ``None``."""
    if any(_lists(result)) or result.error:
        return None
    return "Nothing to file." if result.configured else "Nothing to file: GITHUB_TOKEN or AIMON_GITHUB_REPO is not set."


def _lists(result: IssueResult) -> tuple[list[Any], ...]:
    return (result.would_send, result.created, result.adopted, result.commented, result.reopened, result.resolved,
            result.skipped, result.waiting, result.deferred, result.failed)


def render(console: Console, result: IssueResult) -> None:
    """Issues created, adopted, commented, reopened and resolved; with --dry-run or no token, the exact texts."""
    from rich.text import Text

    if result.would_send:
        why = "dry run" if result.configured else "GITHUB_TOKEN or AIMON_GITHUB_REPO is not set"
        console.print(Text(f"Would send {len(result.would_send)} change(s) to GitHub ({why}):", style="bold"))
        for request in result.would_send:
            _would(console, request)
    for label, rows, style in (
        ("created", result.created, "green"),
        ("adopted", result.adopted, "green"),
        ("commented on", result.commented, "green"),
        ("reopened", result.reopened, "yellow"),
        ("resolved (closed on GitHub)", result.resolved, "green"),
    ):
        for row in rows:
            console.print(Text(f"{label} #{row['number']} for {row['fingerprint']}: {row['url']}", style=style))
    for label, rows, style in (
        ("skipped", result.skipped, "dim"),
        ("waiting", result.waiting, ""),
        ("pending", result.deferred, "yellow"),
        ("failed for good", result.failed, "red"),
    ):
        for row in rows:
            reason = row.get("reason") or row.get("error") or ""
            console.print(Text(f"{label}: {row.get('fingerprint')} (detection {row.get('detection')}) {reason}".rstrip(), style=style))
    if result.error:
        console.print(Text(f"error: {result.error}", style="bold red"))
    nothing = plain(result)
    if nothing is not None:
        console.print(nothing)


def _would(console: Console, request: dict[str, Any]) -> None:
    from rich.rule import Rule
    from rich.text import Text

    action = request["action"]
    if action == "create":
        console.print(Rule(Text(f"new issue for {request['fingerprint']}")))
        console.print(Text(f"title:  {request['title']}"))
        console.print(Text(f"labels: {', '.join(request['labels'])}"))
        console.print(Text(request["body"]))
        console.print(Text(f"({request['note']})", style="dim"))
    else:
        verb = "reopen and comment on" if action == "reopen" else "comment on"
        console.print(Rule(Text(f"{verb} #{request['number']} for {request['fingerprint']}")))
        console.print(Text(request["body"]))
