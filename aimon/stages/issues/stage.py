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

from datetime import datetime

from aimon.remotes.github import IssueTracker, repo_name
from aimon.runtime import Context
from aimon.stages import delivery
from aimon.stages.issues.filer import Filer
from aimon.stages.issues.ledger import IssueResult, Item
from aimon.stages.issues.readback import due_polls
from aimon.state import outbox

PREVIEW_LIMIT = 50


def run_open_issue(ctx: Context) -> IssueResult:
    """File, update, reopen and read back issues (see the module docstring); never raises for a remote failure."""
    delivery.take_over_leases(ctx)
    settings, at = ctx.settings, ctx.now()
    missing = [name for name, value in (("GITHUB_TOKEN", settings.github.token), ("AIMON_GITHUB_REPO", settings.github.repo)) if not value]
    if missing:
        names, shown = " and ".join(missing), " (below: what would be)" if ctx.dry_run else ""
        delivery.unconfigured(ctx, "github", f"open-issue: {names} not set, so no issue is filed{shown}. Set {names} in .env to file issues.")
        result = IssueResult(configured=False, dry_run=ctx.dry_run, repo=settings.github.repo)
        if ctx.dry_run:
            # Only a dry run previews: under cron the same issues would be printed again every minute.
            Filer(ctx, result, at, None).run(_preview_groups(ctx, at))
        return result
    delivery.configured(ctx, "github")
    result = IssueResult(configured=True, dry_run=ctx.dry_run, repo=repo_name(settings))
    delivery.enqueue_github(ctx.db, at)
    groups = _due_groups(ctx, at)
    if ctx.dry_run:
        Filer(ctx, result, at, None).run(groups)
        return result
    if not groups and not due_polls(ctx.db, at):
        return result  # an idle tick: no client built, no request, PyGithub not even imported
    filer = Filer(ctx, result, at, IssueTracker(settings, result.repo, at, timeout=ctx.deadline.remaining() / 4))
    filer.run(groups)
    if not filer.stopped:
        filer.poll_closed()
    return result


def _due_groups(ctx: Context, at: datetime) -> dict[str, list[Item]]:
    """Fingerprint → every pending GitHub row of it, for the fingerprints with at least one due row."""
    groups: dict[str, list[Item]] = {}
    for due in delivery.due(ctx.db, delivery.GITHUB_CHANNELS, at):
        if due.fingerprint not in groups:
            groups[due.fingerprint] = [Item(row["id"], row["detection_id"]) for row in outbox.pending_for_github(ctx.db, due.fingerprint)]
    return groups


def _preview_groups(ctx: Context, at: datetime) -> dict[str, list[Item]]:
    """Due rows plus the latest detections not enqueued yet, without writing anything."""
    groups = _due_groups(ctx, at)
    for row in outbox.newest_unqueued(ctx.db, delivery.GITHUB_CHANNELS, PREVIEW_LIMIT)[::-1]:
        groups.setdefault(row["fingerprint"], []).append(Item(None, row["id"]))
    return groups
