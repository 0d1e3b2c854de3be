"""``aimon open-issue``: exactly one GitHub issue per error fingerprint, kept up to date, read back when closed.

Per tick, per fingerprint with due outbox rows:

* no issue known → wait up to ``AIMON_DIAGNOSIS_GRACE`` for the diagnosis; below ``AIMON_ISSUE_MIN_SEVERITY`` skip;
  else search for the hidden marker (the state file may have been lost, or a crash may have followed a create) and
  adopt what is found, or create the issue;
* issue known → at most one recurrence comment per ``AIMON_ISSUE_COMMENT_INTERVAL`` (every row waiting for it is
  answered by that one comment, with the current counts); a closed issue is reopened with a comment unless it carries
  a label from ``AIMON_NO_REOPEN_LABELS``.

Then a few open issues (oldest check first) are read back: one closed by a person resolves its fingerprint, and the
fix (a merged PR, a commit, or "closed as fixed") is remembered for later diagnoses. Rate limits and 5xx leave the work
pending; a refused token or an unreachable repository stops the stage with exit 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aimon.redact import Redactor
from aimon.remotes.github import TIMEOUT, classify, make_github, repo_name
from aimon.runtime import Context
from aimon.stages import delivery as outbox
from aimon.stages.delivery import Incident, SinkResult, load_incident, severity_rank
from aimon.stages.issues.readback import due_polls, read_back
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
from aimon.state.db import get_meta, iso, parse_iso, set_meta, transaction

MAX_WRITES = 10  # issues created, comments posted, issues reopened: per tick
SEARCHES_PER_MINUTE = 25  # GitHub allows 30; leave room for anything else using the token
SEARCH_KEY = "github.search_times"
MIN_SECONDS = 5.0
PREVIEW_LIMIT = 50


@dataclass
class IssueResult(SinkResult):
    """What ``aimon open-issue`` did (or, with ``--dry-run`` or without a token, would do)."""

    repo: str = ""
    created: list[dict[str, Any]] = field(default_factory=list)
    adopted: list[dict[str, Any]] = field(default_factory=list)
    commented: list[dict[str, Any]] = field(default_factory=list)
    reopened: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Item:
    delivery_id: int | None  # None: a detection not enqueued (preview without a token)
    detection_id: int


def run_open_issue(ctx: Context) -> IssueResult:
    """File, update, reopen and read back issues (see the module docstring); never raises for a remote failure."""
    settings, at = ctx.settings, outbox.now()
    missing = [name for name, value in (("GITHUB_TOKEN", settings.github_token), ("AIMON_GITHUB_REPO", settings.github_repo)) if not value]
    if missing:
        names, shown = " and ".join(missing), " (below: what would be)" if ctx.dry_run else ""
        outbox.unconfigured(ctx, "github", f"open-issue: {names} not set, so no issue is filed{shown}. Set {names} in .env to file issues.")
        result = IssueResult(configured=False, dry_run=ctx.dry_run, repo=settings.github_repo)
        if ctx.dry_run:
            # Only a dry run previews: under cron the same issues would be printed again every minute.
            _Filer(ctx, result, at, None).run(_preview_groups(ctx, at), live=False)
        return result
    outbox.configured(ctx, "github")
    result = IssueResult(configured=True, dry_run=ctx.dry_run, repo=repo_name(settings))
    outbox.enqueue_github(ctx.db, at)
    groups = _due_groups(ctx, at)
    if ctx.dry_run:
        _Filer(ctx, result, at, None).run(groups, live=False)
        return result
    if not groups and not due_polls(ctx.db, at):
        return result  # an idle tick: no client built, no request, PyGithub not even imported
    gh = make_github(settings, timeout=min(TIMEOUT, ctx.deadline.remaining() / 4))
    filer = _Filer(ctx, result, at, gh)
    filer.run(groups, live=True)
    if not filer.stopped:
        filer.poll_closed()
    return result


def _with_marker(page: Any, fingerprint: str) -> list[dict[str, Any]]:
    """The issues of a result page whose body holds the exact marker (a search may match loosely), pull requests
    left out. Attributes, not raw_data: raw_data would fetch every result again."""
    return [
        {"number": item.number, "html_url": item.html_url, "state": item.state, "labels": [{"name": label.name} for label in item.labels]}
        for item in page
        if marker(fingerprint) in (item.body or "") and "/pull/" not in (item.html_url or "")
    ]


def _due_groups(ctx: Context, at: datetime) -> dict[str, list[_Item]]:
    """Fingerprint → every pending GitHub row of it, for the fingerprints with at least one due row."""
    groups: dict[str, list[_Item]] = {}
    for due in outbox.due(ctx.db, outbox.GITHUB_CHANNELS, at):
        if due.fingerprint in groups:
            continue
        rows = ctx.db.execute(
            """SELECT id, detection_id FROM deliveries WHERE fingerprint = ? AND status = 'pending'
               AND channel IN ('github-issue', 'github-comment') ORDER BY id""",
            (due.fingerprint,),
        ).fetchall()
        groups[due.fingerprint] = [_Item(row["id"], row["detection_id"]) for row in rows]
    return groups


def _preview_groups(ctx: Context, at: datetime) -> dict[str, list[_Item]]:
    """Due rows plus the latest detections not enqueued yet, without writing anything."""
    groups = _due_groups(ctx, at)
    for row in ctx.db.execute(
        """SELECT id, fingerprint FROM detections d WHERE NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.detection_id = d.id
           AND x.channel IN ('github-issue', 'github-comment')) ORDER BY id DESC LIMIT ?""",
        (PREVIEW_LIMIT,),
    ).fetchall()[::-1]:
        groups.setdefault(row["fingerprint"], []).append(_Item(None, row["id"]))
    return groups


class _Filer:
    """One tick of GitHub work; ``live=False`` records what would be sent and touches no row."""

    def __init__(self, ctx: Context, result: IssueResult, at: datetime, gh: Any) -> None:
        self.ctx, self.db, self.settings, self.result, self.at, self.gh = ctx, ctx.db, ctx.settings, result, at, gh
        self.repo: Any = gh.get_repo(result.repo) if gh is not None else None  # lazy: no request
        self.live = False
        self.writes = 0
        self.stopped: str | None = None

    def run(self, groups: dict[str, list[_Item]], *, live: bool) -> None:
        self.live = live
        for group in groups.values():
            # Decisions that need no request are made even after a remote failure; _may_write() stops the rest.
            latest = load_incident(self.db, self.settings, group[-1].detection_id)
            if latest.ignored(self.at):
                self._skip(group, "fingerprint is ignored")
            elif latest.issue is None:
                self._open(latest, group)
            else:
                self._recur(latest, group)

    # -- a new issue ---------------------------------------------------------------------------------------------------

    def _open(self, latest: Incident, group: list[_Item]) -> None:
        first = load_incident(self.db, self.settings, group[0].detection_id)
        until = first.waits_for_diagnosis(self.settings, self.at)
        if until is not None and latest.diagnosis is None:
            self._report(group, "waiting", f"waiting for its diagnosis until {iso(until)}")
            return
        minimum = self.settings.issue_min_severity
        if severity_rank(latest.severity) < severity_rank(minimum):
            self._skip(group, f"severity {latest.severity} is below AIMON_ISSUE_MIN_SEVERITY={minimum}")
            return
        redactor = Redactor(self.settings.redaction_patterns)
        title, body, labels = issue_title(latest, redactor), issue_body(self.db, self.settings, latest, redactor), issue_labels(latest)
        if not self.live:
            self._would({"action": "create", "title": title, "body": body, "labels": labels,
                         "note": "unless a search finds an issue with the marker, which is adopted instead"}, latest, group)
            return
        if not self._may_write():
            return self._report(group, "deferred", f"not tried: {self.stopped}")
        if not self._search_allowed():
            return self._defer(group, self.at + timedelta(seconds=60), f"search API budget: {SEARCHES_PER_MINUTE} a minute")
        candidates = [item.delivery_id for item in group if item.delivery_id]
        tried = self._tried_before(candidates)
        ids = outbox.claim(self.db, candidates, self.at)
        if not ids:
            return
        try:
            found = self._find_marker(latest.fingerprint, newest_too=tried)
            if found is not None:
                return self._adopt(latest, group, ids, found)
            created = self.repo.create_issue(title=title, body=body, labels=labels)
        except self._errors() as exc:
            return self._trouble(ids, exc)
        self.writes += 1
        with transaction(self.db):
            self._save_issue(latest.fingerprint, created.number, created.html_url, "open", labels, last_comment=self.at)
            self._polled(latest.fingerprint)
            outbox.mark_sent(self.db, ids, str(created.number), created.html_url, self.at)
        self.result.created.append({"fingerprint": latest.fingerprint, "number": created.number, "url": created.html_url, "deliveries": ids})

    def _find_marker(self, fingerprint: str, *, newest_too: bool) -> dict[str, Any] | None:
        """The issue that carries this fingerprint's marker (open ones first, then the oldest), as raw data.

        The search finds it however old it is, but GitHub's search index lags behind by seconds to minutes. With
        ``newest_too`` (an earlier tick may have created it without hearing back: killed, or timed out after the
        create), the newest issues labelled ``aimon`` are read too: the issue list does not lag.
        """
        with transaction(self.db):
            set_meta(self.db, SEARCH_KEY, json.dumps([*self._recent_searches(), iso(self.at)]))
        found = _with_marker(self.gh.search_issues(search_query(self.result.repo, fingerprint)).get_page(0), fingerprint)
        if not found and newest_too:
            newest = self.repo.get_issues(state="all", labels=[ISSUE_LABEL], sort="created", direction="desc")
            found = _with_marker(newest.get_page(0), fingerprint)
        found.sort(key=lambda data: (data["state"] != "open", data["number"]))
        return found[0] if found else None

    def _tried_before(self, ids: list[int]) -> bool:
        """Whether any of these rows was claimed or failed before: an earlier tick may have created the issue."""
        marks = ",".join("?" for _ in ids)
        row = self.db.execute(
            f"SELECT 1 FROM deliveries WHERE id IN ({marks}) AND (attempts > 0 OR updated_at > created_at) LIMIT 1", ids
        ).fetchone()
        return row is not None

    def _recent_searches(self) -> list[str]:
        cutoff = iso(self.at - timedelta(minutes=1)) or ""
        return [stamp for stamp in json.loads(get_meta(self.db, SEARCH_KEY) or "[]") if stamp > cutoff]

    def _search_allowed(self) -> bool:
        return len(self._recent_searches()) < SEARCHES_PER_MINUTE

    def _adopt(self, latest: Incident, group: list[_Item], ids: list[int], data: dict[str, Any]) -> None:
        labels = [label["name"] for label in data.get("labels") or []]
        with transaction(self.db):
            self._save_issue(latest.fingerprint, data["number"], data["html_url"], data["state"], labels, last_comment=None)
            self._polled(latest.fingerprint)
            if data["state"] == "open":
                outbox.mark_sent(self.db, ids, str(data["number"]), data["html_url"], self.at)
        self.result.adopted.append({"fingerprint": latest.fingerprint, "number": data["number"], "url": data["html_url"], "state": data["state"]})
        if data["state"] != "open":  # found closed: the error is back, so this is a regression
            self._recur(load_incident(self.db, self.settings, latest.detection_id), group, ids=ids, remote=data)

    # -- an issue that exists ------------------------------------------------------------------------------------------

    def _recur(self, latest: Incident, group: list[_Item], ids: list[int] | None = None, remote: dict[str, Any] | None = None) -> None:
        issue = latest.issue or {}
        number = issue["number"]
        kinds = [dict(row) for row in self.db.execute(
            f"SELECT kind FROM detections WHERE id IN ({','.join('?' for _ in group)})", [item.detection_id for item in group]
        )]
        last = parse_iso(issue.get("last_comment_at"))
        next_comment = last + timedelta(seconds=self.settings.issue_comment_interval) if last else None
        regression = any(row["kind"] == "regression" for row in kinds)
        if remote is None and issue["state"] == "open" and not regression and next_comment and self.at < next_comment:
            return self._defer(group, next_comment, _throttle_reason(self.settings.issue_comment_interval))
        if not self.live:
            action = "reopen" if issue["state"] == "closed" else "comment"
            text = regression_comment(latest, kinds) if action == "reopen" else recurrence_comment(latest, kinds)
            return self._would({"action": action, "number": number, "body": text}, latest, group)
        if not self._may_write():
            return self._report(group, "deferred", f"not tried: {self.stopped}")
        ids = ids or outbox.claim(self.db, [item.delivery_id for item in group if item.delivery_id], self.at)
        if not ids:
            return
        gh_issue = self.repo.get_issue(number)  # lazy
        try:
            data = remote or gh_issue.raw_data  # reading raw_data fetches the issue
        except self._errors() as exc:
            return self._issue_lost(latest, ids, exc) if getattr(exc, "status", None) in (404, 410) else self._trouble(ids, exc)
        labels = [label["name"] for label in data.get("labels") or []]
        with transaction(self.db):
            self._polled(latest.fingerprint)  # just read: the closed-issue poll can skip it
        if data["state"] == "closed":
            self._reopen(latest, gh_issue, ids, labels, kinds)
        elif next_comment and self.at < next_comment:
            with transaction(self.db):
                self._save_issue(latest.fingerprint, number, issue["url"], "open", labels, last_comment=last)
            self._defer(group, next_comment, _throttle_reason(self.settings.issue_comment_interval), ids=ids)
        else:
            self._comment(latest, gh_issue, ids, labels, recurrence_comment(latest, kinds), self.result.commented)

    def _reopen(self, latest: Incident, gh_issue: Any, ids: list[int], labels: list[str], kinds: list[dict[str, Any]]) -> None:
        issue = latest.issue or {}
        blocked = [label for label in labels if label in self.settings.no_reopen_labels]
        if blocked:
            reason = f"issue #{issue['number']} is closed and labelled {blocked[0]}: not reopened"
            with transaction(self.db):
                self._save_issue(latest.fingerprint, issue["number"], issue["url"], "closed", labels, last_comment=parse_iso(issue.get("last_comment_at")))
                outbox.mark_skipped(self.db, ids, reason, self.at)
            self.result.skipped += [{**outbox.outcome_of(self.db, i), "reason": reason} for i in ids]
            return
        try:
            gh_issue.edit(state="open")
        except self._errors() as exc:
            return self._trouble(ids, exc)
        with transaction(self.db):
            self._save_issue(latest.fingerprint, issue["number"], issue["url"], "open", labels, last_comment=parse_iso(issue.get("last_comment_at")))
        self._comment(latest, gh_issue, ids, labels, regression_comment(latest, kinds), self.result.reopened)

    def _comment(self, latest: Incident, gh_issue: Any, ids: list[int], labels: list[str], text: str, into: list[dict[str, Any]]) -> None:
        issue = latest.issue or {}
        try:
            comment = gh_issue.create_comment(Redactor(self.settings.redaction_patterns).redact(text))
        except self._errors() as exc:
            return self._trouble(ids, exc)
        self.writes += 1
        with transaction(self.db):
            self._save_issue(latest.fingerprint, issue["number"], issue["url"], "open", labels, last_comment=self.at)
            outbox.mark_sent(self.db, ids, str(comment.id), comment.html_url, self.at)
        into.append({"fingerprint": latest.fingerprint, "number": issue["number"], "url": comment.html_url, "deliveries": ids})

    def _issue_lost(self, latest: Incident, ids: list[int], exc: Exception) -> None:
        """The issue was deleted or moved: forget it; the next tick files (or finds) one again."""
        with transaction(self.db):
            self.db.execute("DELETE FROM issues WHERE fingerprint = ?", (latest.fingerprint,))
            self.db.execute("DELETE FROM issue_polls WHERE fingerprint = ?", (latest.fingerprint,))
            outbox.defer(self.db, ids, self.at, f"issue #{(latest.issue or {}).get('number')} is gone ({getattr(exc, 'status', '')}); filing again", self.at)
        self._report_ids(ids)

    def poll_closed(self) -> None:
        """Read back a few open issues (see :mod:`aimon.stages.issues.readback`)."""
        trouble = read_back(self.ctx, self.repo, self.result, self.at, self._errors())
        if trouble is not None:
            self._gone(trouble)

    # -- bookkeeping ---------------------------------------------------------------------------------------------------

    def _save_issue(self, fingerprint: str, number: int, url: str, state: str, labels: list[str], *, last_comment: datetime | None) -> None:
        stamp = iso(self.at)
        self.db.execute(
            """INSERT INTO issues (fingerprint, number, url, state, labels, last_comment_at, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(fingerprint) DO UPDATE SET number = excluded.number,
               url = excluded.url, state = excluded.state, labels = excluded.labels,
               last_comment_at = excluded.last_comment_at, updated_at = excluded.updated_at""",
            (fingerprint, number, url, state, json.dumps(labels), iso(last_comment), stamp, stamp),
        )

    def _polled(self, fingerprint: str) -> None:
        """Just seen on GitHub: no need to read it back before the next poll interval."""
        self.db.execute(
            "INSERT INTO issue_polls (fingerprint, checked_at) VALUES (?, ?) ON CONFLICT(fingerprint) DO UPDATE SET checked_at = excluded.checked_at",
            (fingerprint, iso(self.at)),
        )

    def _may_write(self) -> bool:
        if self.stopped is not None:
            return False
        if self.writes >= MAX_WRITES:
            self.stopped = f"{MAX_WRITES} GitHub writes this tick"
        elif self.ctx.deadline.remaining() < MIN_SECONDS:
            self.stopped = "the tick ran out of time"
        return self.stopped is None

    def _trouble(self, ids: list[int], exc: Exception) -> None:
        trouble = classify(exc, self.at)
        with transaction(self.db):
            if trouble.kind == "rate-limited":
                outbox.defer(self.db, ids, trouble.retry_at or self.at, trouble.detail, self.at)
                self.stopped = "GitHub rate limit"
            elif trouble.kind == "gone":
                outbox.release(self.db, ids, self.at)
            else:
                outbox.mark_failed(self.db, ids, trouble.detail, self.at)
                if trouble.kind == "transient":
                    self.stopped = "GitHub is failing"
        if trouble.kind == "gone":
            self._gone(trouble.detail)
        self._report_ids(ids)

    def _gone(self, detail: str) -> None:
        self.stopped = "GitHub refused the token or repository"
        self.result.exit_code = 1
        self.result.error = f"{detail} The work stays queued for when this is fixed."

    def _defer(self, group: list[_Item], until: datetime, reason: str, ids: list[int] | None = None) -> None:
        if self.live:
            with transaction(self.db):
                outbox.defer(self.db, ids or [item.delivery_id for item in group if item.delivery_id], until, reason, self.at)
        self._report(group, "deferred", f"{reason}; next try {iso(until)}")

    def _skip(self, group: list[_Item], reason: str) -> None:
        if self.live:
            with transaction(self.db):
                outbox.mark_skipped(self.db, [item.delivery_id for item in group if item.delivery_id], reason, self.at)
        self._report(group, "skipped", reason)

    def _report(self, group: list[_Item], into: str, reason: str) -> None:
        rows = getattr(self.result, into)
        for item in group:
            fingerprint = self.db.execute("SELECT fingerprint FROM detections WHERE id = ?", (item.detection_id,)).fetchone()[0]
            rows.append({"delivery": item.delivery_id, "detection": item.detection_id, "fingerprint": fingerprint, "reason": reason})

    def _report_ids(self, ids: list[int]) -> None:
        for delivery_id in ids:
            row = outbox.outcome_of(self.db, delivery_id)
            (self.result.failed if row["status"] == "failed" else self.result.deferred).append(row)

    def _would(self, request: dict[str, Any], latest: Incident, group: list[_Item]) -> None:
        self.result.would_send.append({**request, "fingerprint": latest.fingerprint, "deliveries": [item.delivery_id for item in group]})

    @staticmethod
    def _errors() -> tuple[type[Exception], ...]:
        import requests
        from github import GithubException

        return (GithubException, requests.RequestException)


def _throttle_reason(seconds: float) -> str:
    return f"one comment per AIMON_ISSUE_COMMENT_INTERVAL ({seconds / 3600:g}h)"
