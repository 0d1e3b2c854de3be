"""After a PR is opened: read its state back from GitHub, and report a regression when its error returns.

Bounded per pass (:data:`FOLLOW_LIMIT` PRs, the ones checked longest ago first, each at most every
:data:`FOLLOW_EVERY`), so a tick with many open PRs stays short and a PR costs a few requests an hour, not 60.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from aimon.runtime import Context
from aimon.stages.autofix.pr import regression_comment
from aimon.state import autofix, diagnoses
from aimon.state.db import iso, transaction

FOLLOW_LIMIT = 10
FOLLOW_EVERY = timedelta(minutes=10)


def follow_pulls(ctx: Context, github: Any, now: datetime, mode: str) -> tuple[int, list[dict[str, Any]]]:
    """Refresh open PRs (when GitHub is at hand) and handle regressions; ``(PRs checked, regressions)``."""
    checked = 0
    if github is not None:
        for row in autofix.pulls_to_check(ctx.db, now - FOLLOW_EVERY, FOLLOW_LIMIT):
            state = github.state(int(row["number"]))
            _save_state(ctx.db, row, state.state, iso(state.merged_at), now)
            checked += 1
    # A detection created after the merge means the error is back; each merged PR is reported once.
    regressions = [_regression(ctx, github, row, now, mode) for row in autofix.regressed_pulls(ctx.db)]
    return checked, regressions


def _save_state(conn: sqlite3.Connection, row: sqlite3.Row, state: str, merged_at: str | None, now: datetime) -> None:
    with transaction(conn):
        autofix.save_pull_state(conn, row["id"], state, merged_at, now)
        if state == "merged":
            # Diagnosis memory learns from merged fixes: the next diagnosis of a similar error can point at this one.
            diagnoses.record_fix(conn, row["fingerprint"], f"PR merged: {row['title']}", row["url"])


def _regression(ctx: Context, github: Any, row: sqlite3.Row, now: datetime, mode: str) -> dict[str, Any]:
    pull, issue = int(row["number"]), row["issue_number"]
    seen, merged = str(row["seen_at"]), str(row["merged_at"])
    shown: dict[str, Any] = {"fingerprint": row["fingerprint"], "pull": pull, "issue": issue, "seen_at": seen}
    if mode != "pr" or github is None:
        shown["sent"] = False
        return shown
    # The pull request is autofix's to tell; the error's issue is open-issue's (it reopens it and names this fix).
    github.comment(pull, regression_comment(issue, merged, seen))
    with transaction(ctx.db) as conn:
        autofix.mark_regressed(conn, row["id"], now)
        autofix.insert_regression(conn, row["fingerprint"], f"the error came back after pull request #{pull} was merged", now)
    shown["sent"] = True
    return shown
