"""What the posts and the edits of one notify run share: the webhook, the result, and why the run stopped calling.

A failed call means the same for a post and an edit: a short tick leaves the rest for later, a rate limit defers the
rows, 5xx and timeouts back off, and a webhook that is gone (401/404) is remembered by the hash of its URL, so no later
tick uses it again until ``DISCORD_WEBHOOK_URL`` changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from aimon.remotes.egress import Egress
from aimon.runtime import Context
from aimon.stages import delivery
from aimon.stages.delivery import SinkResult
from aimon.stages.notify.plan import Candidate, fingerprints
from aimon.state import meta
from aimon.state.db import iso, transaction

SHOWN_URL = "DISCORD_WEBHOOK_URL"  # how the (secret) webhook URL appears in results


@dataclass
class NotifyResult(SinkResult):
    """What ``aimon notify`` did (or, with ``--dry-run`` or no webhook, would do)."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    edited: list[dict[str, Any]] = field(default_factory=list)


class Session:
    """One notify run: the webhook client (built on first use), the result, and ``stopped``, why no further call is
    made (None: not stopped)."""

    def __init__(self, ctx: Context, result: NotifyResult, at: datetime, mention: tuple[str, dict[str, Any]],
                 connect: Callable[[], Any] | None) -> None:
        self.ctx, self.db, self.result, self.at, self._connect = ctx, ctx.db, result, at, connect
        self.mention, self.allowed = mention
        self.patterns = Egress.of(ctx.settings)  # the payload builders redact with the gate's redactor
        self.stopped: str | None = None

    @cached_property
    def webhook(self) -> Any:
        assert self._connect is not None, "a preview sends nothing"
        return self._connect()

    def webhook_gone(self, url: str) -> bool:
        """True (and the result says why, exit 1) when this URL was found deleted on an earlier tick."""
        gone = meta.discord_gone(self.db)
        if gone is None:
            return False
        if gone.get("url_sha256") != _digest(url):
            with transaction(self.db):  # the URL changed: try the new one
                meta.clear_discord_gone(self.db)
            return False
        self.fail_gone(gone["detail"], gone["since"])
        return True

    def setback(self, ids: list[int], reply: Any) -> None:
        """Inside the outcome transaction: what a failed call means for its rows."""
        db, at = self.db, self.at
        if reply.kind == "later":
            delivery.release(db, ids, at)
            self.stopped = "the tick ran out of time"
        elif reply.kind == "rate-limited":
            delivery.defer(db, ids, at + timedelta(seconds=reply.retry_after or 1.0), f"Discord: {reply.detail}", at)
            self.stopped = "Discord rate limit"
        elif reply.kind == "gone":
            delivery.defer(db, ids, at, f"Discord: webhook gone ({reply.detail})", at)
            meta.set_discord_gone(db, _digest(self.ctx.settings.discord.webhook_url.reveal()), reply.detail, at)
            self.fail_gone(reply.detail, iso(at) or "")
        else:
            delivery.mark_failed(db, ids, f"Discord: {reply.detail}", at)
            if reply.kind == "transient":
                self.stopped = "Discord is failing"

    def report_setback(self, ids: list[int]) -> None:
        """List rows after a failed call: under ``failed`` when given up, else ``deferred``."""
        for delivery_id in ids:
            row = delivery.outcome_of(self.db, delivery_id)
            (self.result.failed if row["status"] == "failed" else self.result.deferred).append(row)

    def fail_gone(self, detail: str, since: str) -> None:
        self.stopped = "the webhook is gone"
        self.result.exit_code = 1
        self.result.error = (
            f"the Discord webhook answered {detail} (first at {since}): it was deleted or DISCORD_WEBHOOK_URL is wrong. "
            "Alerts stay queued; set a working DISCORD_WEBHOOK_URL and the next run posts them."
        )

    def would(self, method: str, url: str, payload: dict[str, Any], group: list[Candidate]) -> None:
        """A request a dry run (or a run without a webhook) would make."""
        self.result.would_send.append(
            {"method": method, "url": url, "json": payload, "deliveries": [c.delivery_id for c in group], "fingerprints": fingerprints(group)}
        )


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()
