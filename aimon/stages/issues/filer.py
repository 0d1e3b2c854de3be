"""The GitHub work of one open-issue tick, per fingerprint: file (or find) its issue, or comment on it, or reopen it.

Without a tracker (a dry run, or no token) the same decisions are made and each request is recorded as one that would
be sent; no row changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aimon.remotes.egress import Egress
from aimon.remotes.github import GitHubError, GitHubGone, IssueTracker, label_names
from aimon.runtime import Context
from aimon.stages import delivery
from aimon.stages.delivery import Incident, load_incident, severity_rank
from aimon.stages.issues.ledger import SEARCHES_PER_MINUTE, Budget, IssueResult, Item, Ledger, delivery_ids
from aimon.stages.issues.readback import read_back
from aimon.stages.issues.text import (
    ISSUE_LABEL,
    issue_body,
    issue_labels,
    issue_title,
    marker,
    recurrence_comment,
    regression_comment,
    search_query,
)
from aimon.state import autofix as autofix_pulls
from aimon.state import links, outbox
from aimon.state.db import iso, parse_iso, transaction


class Filer:
    """One tick of GitHub work; without a ``tracker`` it records what would be sent and touches no row."""

    def __init__(self, ctx: Context, result: IssueResult, at: datetime, tracker: IssueTracker | None) -> None:
        self.ctx, self.db, self.settings, self.result, self.at = ctx, ctx.db, ctx.settings, result, at
        self.tracker = tracker
        self.live = tracker is not None
        self.budget = Budget(ctx.db, ctx.deadline, at)
        self.ledger = Ledger(ctx.db, result, at, self.budget, live=self.live)

    @property
    def stopped(self) -> str | None:
        """Why no further GitHub call is made this tick (None: not stopped)."""
        return self.budget.stopped

    def run(self, groups: dict[str, list[Item]]) -> None:
        """Work through the fingerprints' groups of rows, oldest first."""
        for group in groups.values():
            # Decisions that need no request are made even after a remote failure; may_write() stops the rest.
            latest = load_incident(self.db, self.settings, group[-1].detection_id)
            if latest.ignored(self.at):
                self.ledger.skip(group, "fingerprint is ignored")
            elif latest.issue is None:
                self._open(latest, group)
            else:
                self._recur(latest, group)

    def poll_closed(self) -> None:
        """Read back a few open issues (see :mod:`aimon.stages.issues.readback`)."""
        assert self.tracker is not None, "a preview reads nothing back"
        refused = read_back(self.ctx, self.tracker, self.result, self.at)
        if refused is not None:
            self.ledger.gone(refused)

    # -- a new issue ---------------------------------------------------------------------------------------------------

    def _open(self, latest: Incident, group: list[Item]) -> None:
        first = load_incident(self.db, self.settings, group[0].detection_id)
        until = first.waits_for_diagnosis(self.settings, self.at)
        if until is not None and latest.diagnosis is None:
            return self.ledger.report(group, "waiting", f"waiting for its diagnosis until {iso(until)}")
        minimum = self.settings.github.issue_min_severity
        if severity_rank(latest.severity) < severity_rank(minimum):
            return self.ledger.skip(group, f"severity {latest.severity} is below AIMON_ISSUE_MIN_SEVERITY={minimum}")
        redactor = Egress.of(self.settings).redactor()
        title, body, labels = issue_title(latest, redactor), issue_body(self.db, self.settings, latest, redactor), issue_labels(latest)
        if self.tracker is None:
            return self.ledger.would({"action": "create", "title": title, "body": body, "labels": labels,
                                      "note": "unless a search finds an issue with the marker, which is adopted instead"},
                                     latest.fingerprint, group)
        if not self.budget.may_write():
            return self.ledger.report(group, "deferred", f"not tried: {self.stopped}")
        if not self.budget.search_allowed():
            return self.ledger.defer(group, self.at + timedelta(seconds=60), f"search API budget: {SEARCHES_PER_MINUTE} a minute")
        candidates = delivery_ids(group)
        tried = outbox.tried_before(self.db, candidates)
        ids = delivery.claim(self.db, candidates, self.at)
        if not ids:
            return None
        try:
            found = self._find_marker(self.tracker, latest.fingerprint, newest_too=tried)
            if found is not None:
                return self._adopt(latest, group, ids, found)
            number, url = self.tracker.create(title, body, labels)
        except (GitHubError, GitHubGone) as exc:
            return self.ledger.trouble(ids, exc.trouble)
        self.budget.wrote()
        with transaction(self.db):
            links.save_issue(self.db, latest.fingerprint, number, url, "open", labels, last_comment=self.at, at=self.at)
            links.mark_checked(self.db, latest.fingerprint, self.at)
            delivery.mark_sent(self.db, ids, str(number), url, self.at)
        self.result.created.append({"fingerprint": latest.fingerprint, "number": number, "url": url, "deliveries": ids})
        return None

    def _find_marker(self, tracker: IssueTracker, fingerprint: str, *, newest_too: bool) -> dict[str, Any] | None:
        """The issue that carries this fingerprint's marker (open ones first, then the oldest).

        The search finds it however old it is, but GitHub's search index lags behind by seconds to minutes. With
        ``newest_too`` (an earlier tick may have created it without hearing back: killed, or timed out after the
        create), the newest issues labelled ``aimon`` are read too: the issue list does not lag.
        """
        self.budget.searched()
        found = tracker.search(search_query(self.result.repo, fingerprint), marker(fingerprint))
        if not found and newest_too:
            found = tracker.newest(ISSUE_LABEL, marker(fingerprint))
        found.sort(key=lambda data: (data["state"] != "open", data["number"]))
        return found[0] if found else None

    def _adopt(self, latest: Incident, group: list[Item], ids: list[int], data: dict[str, Any]) -> None:
        labels = label_names(data)
        with transaction(self.db):
            links.save_issue(self.db, latest.fingerprint, data["number"], data["html_url"], data["state"], labels, last_comment=None, at=self.at)
            links.mark_checked(self.db, latest.fingerprint, self.at)
            if data["state"] == "open":
                delivery.mark_sent(self.db, ids, str(data["number"]), data["html_url"], self.at)
        self.result.adopted.append({"fingerprint": latest.fingerprint, "number": data["number"], "url": data["html_url"], "state": data["state"]})
        if data["state"] != "open":  # found closed: the error is back, so this is a regression
            self._recur(load_incident(self.db, self.settings, latest.detection_id), group, ids=ids, remote=data)

    # -- an issue that exists ------------------------------------------------------------------------------------------

    def _recur(self, latest: Incident, group: list[Item], ids: list[int] | None = None, remote: dict[str, Any] | None = None) -> None:
        issue = latest.issue or {}
        number = issue["number"]
        kinds = outbox.detection_kinds(self.db, [item.detection_id for item in group])
        last = parse_iso(issue.get("last_comment_at"))
        interval = self.settings.github.issue_comment_interval
        next_comment = last + timedelta(seconds=interval) if last else None
        if remote is None and issue["state"] == "open" and "regression" not in kinds and next_comment and self.at < next_comment:
            return self.ledger.defer(group, next_comment, _throttle_reason(interval))
        if self.tracker is None:
            action = "reopen" if issue["state"] == "closed" else "comment"
            text = regression_comment(latest, kinds, self._merged_fix(latest.fingerprint)) if action == "reopen" else recurrence_comment(latest, kinds)
            return self.ledger.would({"action": action, "number": number, "body": text}, latest.fingerprint, group)
        if not self.budget.may_write():
            return self.ledger.report(group, "deferred", f"not tried: {self.stopped}")
        ids = ids or delivery.claim(self.db, delivery_ids(group), self.at)
        if not ids:
            return None
        try:
            data = remote or self.tracker.read(number)
        except (GitHubError, GitHubGone) as exc:
            if exc.trouble.status in (404, 410):
                return self._issue_lost(latest, ids, exc.trouble.status)
            return self.ledger.trouble(ids, exc.trouble)
        labels = label_names(data)
        with transaction(self.db):
            links.mark_checked(self.db, latest.fingerprint, self.at)  # just read: the closed-issue poll can skip it
        if data["state"] == "closed":
            return self._reopen(latest, self.tracker, ids, labels, kinds)
        if next_comment and self.at < next_comment:
            with transaction(self.db):
                links.save_issue(self.db, latest.fingerprint, number, issue["url"], "open", labels, last_comment=last, at=self.at)
            return self.ledger.defer(group, next_comment, _throttle_reason(interval), ids=ids)
        return self._comment(latest, self.tracker, ids, labels, recurrence_comment(latest, kinds), self.result.commented)

    def _merged_fix(self, fingerprint: str) -> tuple[int, str | None] | None:
        """aimon's merged pull request for this error, named in the regression comment (this stage owns it)."""
        row = autofix_pulls.merged_pull(self.db, fingerprint)
        return None if row is None else (int(row["number"]), row["merged_at"])

    def _reopen(self, latest: Incident, tracker: IssueTracker, ids: list[int], labels: list[str], kinds: list[str]) -> None:
        issue = latest.issue or {}
        last = parse_iso(issue.get("last_comment_at"))
        blocked = [label for label in labels if label in self.settings.github.no_reopen_labels]
        if blocked:
            reason = f"issue #{issue['number']} is closed and labelled {blocked[0]}: not reopened"
            with transaction(self.db):
                links.save_issue(self.db, latest.fingerprint, issue["number"], issue["url"], "closed", labels, last_comment=last, at=self.at)
                delivery.mark_skipped(self.db, ids, reason, self.at)
            self.result.skipped += [{**delivery.outcome_of(self.db, i), "reason": reason} for i in ids]
            return None
        try:
            tracker.reopen(issue["number"])
        except (GitHubError, GitHubGone) as exc:
            return self.ledger.trouble(ids, exc.trouble)
        with transaction(self.db):
            links.save_issue(self.db, latest.fingerprint, issue["number"], issue["url"], "open", labels, last_comment=last, at=self.at)
        return self._comment(latest, tracker, ids, labels, regression_comment(latest, kinds, self._merged_fix(latest.fingerprint)), self.result.reopened)

    def _comment(self, latest: Incident, tracker: IssueTracker, ids: list[int], labels: list[str], text: str,
                 into: list[dict[str, Any]]) -> None:
        issue = latest.issue or {}
        try:
            comment_id, url = tracker.comment(issue["number"], text)  # the tracker sends it through the egress gate
        except (GitHubError, GitHubGone) as exc:
            return self.ledger.trouble(ids, exc.trouble)
        self.budget.wrote()
        with transaction(self.db):
            links.save_issue(self.db, latest.fingerprint, issue["number"], issue["url"], "open", labels, last_comment=self.at, at=self.at)
            delivery.mark_sent(self.db, ids, str(comment_id), url, self.at)
        into.append({"fingerprint": latest.fingerprint, "number": issue["number"], "url": url, "deliveries": ids})
        return None

    def _issue_lost(self, latest: Incident, ids: list[int], status: int) -> None:
        """The issue was deleted or moved: forget it; the next tick files (or finds) one again."""
        number = (latest.issue or {}).get("number")
        with transaction(self.db):
            links.forget_issue(self.db, latest.fingerprint)
            delivery.defer(self.db, ids, self.at, f"issue #{number} is gone ({status}); filing again", self.at)
        self.ledger.report_ids(ids)


def _throttle_reason(seconds: float) -> str:
    return f"one comment per AIMON_ISSUE_COMMENT_INTERVAL ({seconds / 3600:g}h)"
