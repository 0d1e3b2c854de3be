"""Which errors autofix may work on now, and for the others the one reason why not.

An error is a candidate when its current diagnosis claims it is auto-fixable; ignored and resolved errors are left
alone without a word (the user asked for silence or already fixed it). A candidate is eligible when the diagnosis is
confident enough, the catalog does not forbid it, it has an open GitHub issue, it happened often enough, no PR of ours
is open or was already tried against this diagnosis, and the day's PR cap is not reached.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aimon.config import Settings
from aimon.state import autofix, diagnoses, links
from aimon.state.db import iso, parse_iso

# A failed attempt is not repeated for the same diagnosis sooner than this: each attempt costs an LLM call, and a cron
# tick comes every minute.
RETRY_AFTER = timedelta(hours=24)
# After the remote failed (push, GitHub) with a fix in hand: soon, but not every tick.
RETRY_REMOTE = timedelta(hours=1)

# Outcomes of an attempt that did the work (worktree, model, guard, tests) and did not end in a PR.
_TRIED = ("refused", "failed", "proposed")


@dataclass(frozen=True)
class Candidate:
    """An error autofix may try now: the fingerprint row, its current diagnosis and its GitHub issue."""

    fingerprint: str
    template: str
    sample: str
    error_code: str | None
    file: str | None
    line: int | None
    count: int
    diagnosis_id: int
    diagnosis: dict[str, Any]
    issue_number: int
    issue_url: str


@dataclass(frozen=True)
class Ineligible:
    """A candidate autofix will not try, with the reason it is recorded and posted under."""

    fingerprint: str
    reason: str
    outcome: str = "ineligible"  # or "deferred" for reasons that pass by themselves (the daily cap)
    diagnosis_id: int | None = None
    issue_number: int | None = None


@dataclass
class Selection:
    """The result of one eligibility pass."""

    eligible: list[Candidate] = field(default_factory=list)
    ineligible: list[Ineligible] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # fingerprint → why, not worth recording (open PR, tried)


def prs_opened_today(conn: sqlite3.Connection, now: datetime) -> int:
    """Pull requests autofix opened since midnight UTC (what the daily cap counts)."""
    return autofix.prs_opened_since(conn, now.replace(hour=0, minute=0, second=0, microsecond=0))


def select(conn: sqlite3.Connection, settings: Settings, now: datetime, *, mode: str) -> Selection:
    """Sort every auto-fixable error into eligible, ineligible (with a reason) and silently skipped."""
    selection = Selection()
    room = settings.autofix.daily_cap - prs_opened_today(conn, now)
    # The latest diagnosis per fingerprint is the current one; only those claiming auto_fixable are candidates.
    for row in autofix.claimed_fixable(conn, now):
        fingerprint = row["fingerprint"]
        diagnosis = diagnoses.latest_diagnosis(conn, fingerprint)
        if diagnosis is None:
            continue
        result = diagnosis["result"] or {}
        issue = links.issue_for(conn, fingerprint)
        issue_number = issue["number"] if issue is not None else None
        skip = _skip_reason(conn, fingerprint, int(row["diagnosis_id"]), now, mode)
        if skip:
            selection.skipped[fingerprint] = skip
            continue
        reason = _refusal(row, result, issue, settings)
        if reason is None and room <= 0:
            cap = settings.autofix.daily_cap
            selection.ineligible.append(
                Ineligible(fingerprint, f"the daily cap of {cap} autofix pull requests is reached (AIMON_AUTOFIX_DAILY_CAP)",
                           "deferred", int(row["diagnosis_id"]), issue_number)
            )
            continue
        if reason is not None:
            selection.ineligible.append(Ineligible(fingerprint, reason, "ineligible", int(row["diagnosis_id"]), issue_number))
            continue
        assert issue is not None  # _refusal turns down an error without an issue
        room -= 1
        selection.eligible.append(
            Candidate(
                fingerprint=fingerprint,
                template=row["template"],
                sample=row["sample"],
                error_code=row["error_code"],
                file=row["file"],
                line=row["line"],
                count=int(row["count"]),
                diagnosis_id=int(row["diagnosis_id"]),
                diagnosis=dict(result),
                issue_number=int(issue["number"]),
                issue_url=str(issue["url"]),
            )
        )
    return selection


def _refusal(row: sqlite3.Row, result: dict[str, Any], issue: dict[str, Any] | None, settings: Settings) -> str | None:
    confidence = float(result.get("confidence") or 0.0)
    if confidence < settings.autofix.min_confidence:
        return (
            f"the diagnosis is {confidence:.0%} confident; autofix needs {settings.autofix.min_confidence:.0%} "
            "(AIMON_AUTOFIX_MIN_CONFIDENCE)"
        )
    entry = settings.catalog.get(row["error_code"] or "")
    if entry is not None and entry.auto_fixable is False:
        return f"the catalog marks error code {entry.code} as not auto-fixable"
    if issue is None:
        return "it has no GitHub issue yet (an autofix PR always fixes an issue)"
    if issue["state"] != "open":
        return f"its issue #{issue['number']} is closed"
    if int(row["count"]) < settings.autofix.min_count:
        return f"it has occurred fewer than {settings.autofix.min_count} times (AIMON_AUTOFIX_MIN_COUNT)"
    if not row["file"]:
        return "its logs give no source location (file and line) to start a fix from"
    return None


def _skip_reason(conn: sqlite3.Connection, fingerprint: str, diagnosis_id: int, now: datetime, mode: str) -> str | None:
    pull = autofix.latest_pull(conn, fingerprint)
    if pull is not None and pull["state"] == "open":
        return f"pull request #{pull['number']} is open"
    if pull is not None:
        # A merged PR that regressed, or one a human closed: only a newer diagnosis warrants another try.
        diagnosed = diagnoses.diagnosed_at(conn, diagnosis_id)
        if diagnosed is None or diagnosed <= pull["created_at"]:
            return f"pull request #{pull['number']} was {pull['state']}; waiting for a new diagnosis"
    tried = _TRIED if mode == "dry-run" else tuple(o for o in _TRIED if o != "proposed")
    last = autofix.last_work_on(conn, fingerprint, diagnosis_id, tried)
    if last is not None:
        when = parse_iso(last["created_at"])
        wait = RETRY_REMOTE if last["outcome"] == "deferred" else RETRY_AFTER
        if when is not None and now - when < wait:
            return f"already tried against this diagnosis ({last['outcome']}); next try after {iso(when + wait)}"
    return None
