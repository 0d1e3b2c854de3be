"""Issues closed by people, read back: the fingerprint is resolved and the fix is remembered.

Each tick reads a few open issues aimon knows (:data:`POLL_PER_TICK`, the least recently checked first, none more
often than :data:`POLL_INTERVAL`), so the cost is bounded however many issues there are. For a closed one, how it was
fixed goes to pattern memory for similar errors later: closed as "not planned" teaches nothing; otherwise the issue's
timeline (one page, one request) tells whether a merged pull request referenced it or a commit closed it; without
either, it was closed as fixed by hand.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from aimon.remotes.github import GitHubError, GitHubGone, IssueTracker, label_names, web_url
from aimon.runtime import Context
from aimon.state import groups, links
from aimon.state.db import transaction
from aimon.state.diagnoses import record_fix

POLL_PER_TICK = 5
POLL_INTERVAL = timedelta(minutes=10)
MIN_SECONDS = 5.0


def read_back(ctx: Context, tracker: IssueTracker, result: Any, at: datetime) -> str | None:
    """Read back due open issues; returns the reason to stop the stage (token or repository refused), else None."""
    web = web_url(ctx.settings)
    for row in due_polls(ctx.db, at):
        if ctx.deadline.remaining() < MIN_SECONDS:
            return None
        try:
            data = tracker.read(row["number"])  # one GET
            how = closure(tracker, row["number"], data, web, result.repo) if data["state"] == "closed" else None
        except GitHubGone as exc:
            if exc.trouble.status in (404, 410):
                # Deleted or moved: checked for now; a recurrence finds out and files again. The others still get read.
                with transaction(ctx.db):
                    links.mark_checked(ctx.db, row["fingerprint"], at)
                continue
            return exc.trouble.detail
        except GitHubError:
            return None  # a rate limit or an outage waits for a later tick
        with transaction(ctx.db):
            record(ctx.db, row["fingerprint"], data, how, at)
        if data["state"] == "closed":
            result.resolved.append({
                "fingerprint": row["fingerprint"], "number": row["number"], "url": row["url"],
                "state_reason": data.get("state_reason"), "fix": how[0] if how else None, "fix_url": how[1] if how else None,
            })
    return None


def due_polls(conn: sqlite3.Connection, at: datetime) -> list[sqlite3.Row]:
    """The open issues to read back this tick (at most :data:`POLL_PER_TICK`, least recently checked first)."""
    return links.unchecked_open_issues(conn, at - POLL_INTERVAL, POLL_PER_TICK)


def record(conn: sqlite3.Connection, fingerprint: str, data: dict[str, Any], how: tuple[str, str] | None, at: datetime) -> None:
    """Inside the caller's transaction: the issue as read, and for a closed one the resolution and the fix."""
    labels = label_names(data)
    links.mark_checked(conn, fingerprint, at)
    links.update_issue(conn, fingerprint, data["state"], labels, at)
    if data["state"] != "closed":
        return
    groups.resolve_if_active(conn, fingerprint, at)
    if how is not None:
        record_fix(conn, fingerprint, *how)


def closure(tracker: IssueTracker, number: int, data: dict[str, Any], web: str, repo: str) -> tuple[str, str] | None:
    """``(how, url)`` for :func:`aimon.state.diagnoses.record_fix`, or ``None`` when closed as not planned."""
    if data.get("state_reason") == "not_planned":
        return None
    events = tracker.timeline(number)
    closed = [event for event in events if event.get("event") == "closed"]
    commit = (closed[-1].get("commit_id") if closed else None) or None
    merged = [
        source
        for event in events
        if event.get("event") == "cross-referenced"
        for source in [(event.get("source") or {}).get("issue") or {}]
        if (source.get("pull_request") or {}).get("merged_at")
    ]
    if merged:
        pull = merged[-1]
        return f"PR merged: {pull.get('title', '')}".strip(), str(pull.get("html_url") or data.get("html_url") or "")
    if commit:
        return f"closed by commit {commit[:12]}", f"{web}/{repo}/commit/{commit}"
    return "issue closed as fixed", str(data.get("html_url") or "")
