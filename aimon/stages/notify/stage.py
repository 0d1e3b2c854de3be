"""``aimon notify``: post every due alert to the Discord webhook, exactly once.

Per tick: enqueue the detections not seen yet, decide for each due row (skip an ignored fingerprint, an error already
alerted, a spike or regression inside ``AIMON_REALERT``; wait up to ``AIMON_DIAGNOSIS_GRACE`` for the diagnosis),
then post — one message per alert, or one digest when more than ``AIMON_DIGEST_THRESHOLD`` are due. An alert that went
out before its diagnosis or its GitHub issue existed is *edited* (``PATCH …/messages/{id}``) once they do, for a day:
one message per incident, kept up to date, instead of follow-ups that bury it.

A 429 is waited out when short and the tick has time, else the row waits; 5xx and timeouts back off; 401/404 mean the
webhook is gone: it is not used again until ``DISCORD_WEBHOOK_URL`` changes, the alerts stay queued, and the stage
exits 1 saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aimon.remotes.egress import Egress
from aimon.runtime import Context
from aimon.stages import delivery
from aimon.stages.delivery import load_incident
from aimon.stages.notify import edits, posting
from aimon.stages.notify.payload import parse_mention
from aimon.stages.notify.plan import Candidate
from aimon.stages.notify.session import NotifyResult, Session
from aimon.state import outbox

PREVIEW_LIMIT = 50  # without a webhook, show what the latest detections would post


def run_notify(ctx: Context) -> NotifyResult:
    """Post the due alerts (see the module docstring); never raises for a remote failure."""
    delivery.take_over_leases(ctx)
    at = ctx.now()
    mention = parse_mention(ctx.settings.discord.mention)
    if not ctx.settings.discord.webhook_url:
        shown = " (below: what would be)" if ctx.dry_run else ""
        delivery.unconfigured(ctx, "discord", f"notify: DISCORD_WEBHOOK_URL is not set, so nothing is posted{shown}. Set it in .env to post alerts.")
        result = NotifyResult(configured=False, dry_run=ctx.dry_run)
        if ctx.dry_run:
            # Only a dry run previews: under cron the same payloads would be printed again every minute.
            posting.preview(Session(ctx, result, at, mention, connect=None), _preview_candidates(ctx, at))
        return result
    delivery.configured(ctx, "discord")
    result = NotifyResult(configured=True, dry_run=ctx.dry_run)
    url = ctx.settings.discord.webhook_url.reveal()
    delivery.enqueue_discord(ctx.db, at)
    session = Session(ctx, result, at, mention, _connect(url, ctx))
    if session.webhook_gone(url):
        return result
    due = delivery.due(ctx.db, ["discord"], at)
    posting.post(session, [Candidate(row.id, load_incident(ctx.db, ctx.settings, row.detection_id)) for row in due])
    if not session.stopped:
        edits.edit_pass(session)
    return result


def _connect(url: str, ctx: Context) -> Callable[[], Any]:
    """The webhook client, built on first use: an idle tick never imports requests."""

    def connect() -> Any:
        from aimon.remotes.discord import Webhook

        return Webhook(url, ctx.deadline, Egress.of(ctx.settings))

    return connect


def _preview_candidates(ctx: Context, at: datetime) -> list[Candidate]:
    """Due rows plus the latest detections not enqueued yet, without writing anything."""
    found: dict[int, int | None] = {row.detection_id: row.id for row in delivery.due(ctx.db, ["discord"], at)}
    for row in outbox.newest_unqueued(ctx.db, ["discord"], PREVIEW_LIMIT):
        found.setdefault(row["id"], None)
    return [Candidate(found[detection], load_incident(ctx.db, ctx.settings, detection)) for detection in sorted(found)]
