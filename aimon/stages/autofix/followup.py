"""After a PR is opened: read its state back from GitHub, and report a regression when its error returns.

Bounded per pass (:data:`FOLLOW_LIMIT` PRs, the ones checked longest ago first, each at most every
:data:`FOLLOW_EVERY`), so a tick with many open PRs stays short and a PR costs a few requests an hour, not 60.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from aimon.runtime import Context
from aimon.state.db import iso, transaction

FOLLOW_LIMIT = 10
FOLLOW_EVERY = timedelta(minutes=10)


def follow_pulls(ctx: Context, github: Any, now: datetime, mode: str) -> tuple[int, list[dict[str, Any]]]:
    """Refresh open PRs (when GitHub is at hand) and handle regressions; ``(PRs checked, regressions)``."""
    checked = 0
    if github is not None:
        rows = ctx.db.execute(
            "SELECT * FROM pulls WHERE state = 'open' AND coalesce(checked_at, '') < ? ORDER BY coalesce(checked_at, '')"
            " LIMIT ?",
            (iso(now - FOLLOW_EVERY), FOLLOW_LIMIT),
        ).fetchall()
        for row in rows:
            state = github.state(int(row["number"]))
            _save_state(ctx.db, row, state.state, iso(state.merged_at), now)
            checked += 1
    regressions = [_regression(ctx, github, row, now, mode) for row in _regressed(ctx.db)]
    return checked, regressions


def _save_state(conn: sqlite3.Connection, row: sqlite3.Row, state: str, merged_at: str | None, now: datetime) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE pulls SET state = ?, merged_at = ?, checked_at = ? WHERE id = ?", (state, merged_at, iso(now), row["id"])
        )
        if state == "merged":
            from aimon.state.diagnoses import record_fix

            # Diagnosis memory learns from merged fixes: the next diagnosis of a similar error can point at this one.
            record_fix(conn, row["fingerprint"], f"PR merged: {row['title']}", row["url"])


def _regressed(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    # A detection created after the merge means the error is back; each merged PR is reported once.
    return conn.execute(
        """
        SELECT p.*, (SELECT min(d.created_at) FROM detections d
                     WHERE d.fingerprint = p.fingerprint AND d.created_at > p.merged_at) AS seen_at
        FROM pulls p
        WHERE p.state = 'merged' AND p.merged_at IS NOT NULL AND p.regressed_at IS NULL
          AND EXISTS (SELECT 1 FROM detections d WHERE d.fingerprint = p.fingerprint AND d.created_at > p.merged_at)
        ORDER BY p.id
        """
    ).fetchall()


def _regression(ctx: Context, github: Any, row: sqlite3.Row, now: datetime, mode: str) -> dict[str, Any]:
    from aimon.stages.autofix.pr import regression_comment

    pull, issue = int(row["number"]), row["issue_number"]
    seen, merged = str(row["seen_at"]), str(row["merged_at"])
    shown: dict[str, Any] = {"fingerprint": row["fingerprint"], "pull": pull, "issue": issue, "seen_at": seen}
    issue_row = ctx.db.execute("SELECT labels FROM issues WHERE fingerprint = ?", (row["fingerprint"],)).fetchone()
    labels = set(json.loads(issue_row["labels"] or "[]")) if issue_row is not None else set()
    reopen = issue is not None and not labels & set(ctx.settings.no_reopen_labels)
    shown["reopen"] = reopen
    if mode != "pr" or github is None:
        shown["sent"] = False
        return shown
    if issue is not None:
        github.comment(int(issue), regression_comment(pull, issue, merged, seen, on_pull=False, reopened=reopen))
    github.comment(pull, regression_comment(pull, issue, merged, seen, on_pull=True, reopened=reopen))
    if reopen:
        github.reopen(int(issue))
    with transaction(ctx.db) as conn:
        conn.execute("UPDATE pulls SET regressed_at = ? WHERE id = ?", (iso(now), row["id"]))
        if reopen:
            conn.execute("UPDATE issues SET state = 'open', updated_at = ? WHERE fingerprint = ?", (iso(now), row["fingerprint"]))
        conn.execute(
            "INSERT INTO autofix_attempts (fingerprint, outcome, reason, commented, created_at) VALUES (?, 'regression', ?, 1, ?)",
            (row["fingerprint"], f"the error came back after pull request #{pull} was merged", iso(now)),
        )
    shown["sent"] = True
    return shown
