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

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from aimon.runtime import Context
from aimon.stages import delivery as outbox
from aimon.stages.delivery import Incident, SinkResult, load_incident
from aimon.stages.notify.payload import alert_payload, digest_payload, parse_mention
from aimon.state.db import get_meta, iso, parse_iso, set_meta, transaction

EDIT_WINDOW = timedelta(hours=24)
MAX_EDITS = 5
MIN_SECONDS = 3.0  # do not start a post with less time left in the tick
GONE_KEY = "discord.webhook_gone"
SHOWN_URL = "DISCORD_WEBHOOK_URL"  # how the (secret) webhook URL appears in results
PREVIEW_LIMIT = 50  # without a webhook, show what the latest detections would post


@dataclass
class NotifyResult(SinkResult):
    """What ``aimon notify`` did (or, with ``--dry-run`` or no webhook, would do)."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    edited: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Candidate:
    delivery_id: int | None  # None: a detection not enqueued (preview without a webhook)
    incident: Incident


@dataclass
class _Plan:
    alerts: list[_Candidate] = field(default_factory=list)
    skipped: list[tuple[_Candidate, str]] = field(default_factory=list)
    waiting: list[tuple[_Candidate, datetime]] = field(default_factory=list)


def run_notify(ctx: Context) -> NotifyResult:
    """Post the due alerts (see the module docstring); never raises for a remote failure."""
    at = outbox.now()
    mention = parse_mention(ctx.settings.discord_mention)
    if not ctx.settings.discord_webhook_url:
        shown = " (below: what would be)" if ctx.dry_run else ""
        outbox.unconfigured(ctx, "discord", f"notify: DISCORD_WEBHOOK_URL is not set, so nothing is posted{shown}. Set it in .env to post alerts.")
        result = NotifyResult(configured=False, dry_run=ctx.dry_run)
        if ctx.dry_run:
            # Only a dry run previews: under cron the same payloads would be printed again every minute.
            _Notifier(ctx, result, at, mention, connect=None).preview(_preview_candidates(ctx, at))
        return result
    outbox.configured(ctx, "discord")
    result = NotifyResult(configured=True, dry_run=ctx.dry_run)
    url = ctx.settings.discord_webhook_url.reveal()
    outbox.enqueue_discord(ctx.db, at)
    notifier = _Notifier(ctx, result, at, mention, _connect(url, ctx))
    if notifier.webhook_gone(url):
        return result
    due = outbox.due(ctx.db, ["discord"], at)
    notifier.run([_Candidate(row.id, load_incident(ctx.db, ctx.settings, row.detection_id)) for row in due])
    return result


def _connect(url: str, ctx: Context) -> Callable[[], Any]:
    """The webhook client, built on first use: an idle tick never imports requests."""

    def connect() -> Any:
        from aimon.remotes.discord import Webhook

        return Webhook(url, ctx.deadline)

    return connect


def _preview_candidates(ctx: Context, at: datetime) -> list[_Candidate]:
    """Due rows plus the latest detections not enqueued yet, without writing anything."""
    found: dict[int, int | None] = {row.detection_id: row.id for row in outbox.due(ctx.db, ["discord"], at)}
    for row in ctx.db.execute(
        """SELECT id FROM detections d WHERE NOT EXISTS
           (SELECT 1 FROM deliveries x WHERE x.detection_id = d.id AND x.channel = 'discord') ORDER BY id DESC LIMIT ?""",
        (PREVIEW_LIMIT,),
    ):
        found.setdefault(row["id"], None)
    return [_Candidate(found[detection], load_incident(ctx.db, ctx.settings, detection)) for detection in sorted(found)]


def _plan(conn: sqlite3.Connection, ctx: Context, candidates: list[_Candidate], at: datetime) -> _Plan:
    """Which candidates alert now, which are skipped (and why), which wait for their diagnosis."""
    plan = _Plan()
    alerted: dict[str, int] = {}
    held: set[str] = set()
    realert = timedelta(seconds=ctx.settings.realert)
    for candidate in candidates:
        incident = candidate.incident
        fingerprint = incident.fingerprint
        last = conn.execute(
            """SELECT updated_at, remote_id FROM deliveries WHERE fingerprint = ? AND channel = 'discord' AND status = 'sent'
               ORDER BY updated_at DESC LIMIT 1""",
            (fingerprint,),
        ).fetchone()
        until = incident.waits_for_diagnosis(ctx.settings, at)
        if incident.ignored(at):
            plan.skipped.append((candidate, "fingerprint is ignored"))
        elif fingerprint in alerted:
            plan.skipped.append((candidate, f"in the same alert as detection #{alerted[fingerprint]}"))
        elif last is not None and incident.kind == "new":
            plan.skipped.append((candidate, f"already alerted (message {last['remote_id']}); only spikes and regressions alert again"))
        elif last is not None and at < (parse_iso(last["updated_at"]) or at) + realert:
            plan.skipped.append((candidate, f"last alert at {last['updated_at']}; AIMON_REALERT allows one per {_duration(ctx.settings.realert)}"))
        elif fingerprint in held or until is not None:
            held.add(fingerprint)
            plan.waiting.append((candidate, until or at))
        else:
            alerted[fingerprint] = incident.detection_id
            plan.alerts.append(candidate)
    return plan


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class _Notifier:
    """One tick of posting: plan, post or preview, record each outcome with its state change."""

    def __init__(self, ctx: Context, result: NotifyResult, at: datetime, mention: tuple[str, dict[str, Any]],
                 connect: Callable[[], Any] | None) -> None:
        self.ctx, self.result, self.at, self._connect = ctx, result, at, connect
        self.mention, self.allowed = mention
        self.patterns = ctx.settings.redaction_patterns
        self.stopped: str | None = None  # why no further call is made this tick

    @cached_property
    def webhook(self) -> Any:
        assert self._connect is not None, "a preview sends nothing"
        return self._connect()

    # -- entry points --------------------------------------------------------------------------------------------------

    def preview(self, candidates: list[_Candidate]) -> None:
        """No webhook: list what would be posted, touching no row."""
        plan = _plan(self.ctx.db, self.ctx, candidates, self.at)
        self._report_plan(plan, record=False)
        for _kind, payload, group in self._messages(plan.alerts):
            self._would("POST", f"{SHOWN_URL}?wait=true", payload, group)

    def run(self, candidates: list[_Candidate]) -> None:
        plan = _plan(self.ctx.db, self.ctx, candidates, self.at)
        self._report_plan(plan, record=True)
        for kind, payload, group in self._messages(plan.alerts):
            if self.stopped:
                self._not_tried(group)
            elif self.ctx.dry_run:
                self._would("POST", f"{SHOWN_URL}?wait=true", payload, group)
            else:
                self._post(kind, payload, group)
        if not self.stopped:
            self._edit_pass()

    def webhook_gone(self, url: str) -> bool:
        """True (and the result says why, exit 1) when this URL was found deleted on an earlier tick."""
        raw = get_meta(self.ctx.db, GONE_KEY)
        if raw is None:
            return False
        gone = json.loads(raw)
        if gone.get("url_sha256") != _digest(url):
            with transaction(self.ctx.db):  # the URL changed: try the new one
                self.ctx.db.execute("DELETE FROM meta WHERE key = ?", (GONE_KEY,))
            return False
        self._fail_gone(gone["detail"], gone["since"])
        return True

    # -- planning and messages -----------------------------------------------------------------------------------------

    def _report_plan(self, plan: _Plan, *, record: bool) -> None:
        if record and plan.skipped:
            with transaction(self.ctx.db):
                for candidate, reason in plan.skipped:
                    outbox.mark_skipped(self.ctx.db, [candidate.delivery_id], reason, self.at)  # type: ignore[list-item]
        for candidate, reason in plan.skipped:
            self.result.skipped.append({**_describe(candidate), "reason": reason})
        for candidate, until in plan.waiting:
            self.result.waiting.append({**_describe(candidate), "reason": f"waiting for its diagnosis until {iso(until)}"})

    def _messages(self, alerts: list[_Candidate]) -> list[tuple[str, dict[str, Any], list[_Candidate]]]:
        """(kind, payload, the candidates it covers): one per alert, or one digest for a storm."""
        if len(alerts) > self.ctx.settings.digest_threshold:
            incidents = [candidate.incident for candidate in alerts]
            return [("digest", digest_payload(incidents, self.mention, self.allowed, self.patterns), alerts)]
        return [("alert", alert_payload(c.incident, self.mention, self.allowed, self.patterns), [c]) for c in alerts]

    # -- posting -------------------------------------------------------------------------------------------------------

    def _post(self, kind: str, payload: dict[str, Any], group: list[_Candidate]) -> None:
        if self.ctx.deadline.remaining() < MIN_SECONDS:
            self.stopped = "the tick ran out of time"
            self._not_tried(group)
            return
        ids = outbox.claim(self.ctx.db, [c.delivery_id for c in group if c.delivery_id is not None], self.at)
        group = [c for c in group if c.delivery_id in ids]  # another process may have taken some
        if not group:
            return
        reply = self.webhook.post(payload)
        with transaction(self.ctx.db):
            if reply.kind == "ok":
                outbox.mark_sent(self.ctx.db, ids, reply.message_id, None, self.at)
                if reply.message_id:
                    self._remember(reply.message_id, kind, group)
            else:
                self._setback(ids, reply)
        if reply.kind == "ok":
            self.result.sent.append(
                {"message_id": reply.message_id, "kind": kind, "deliveries": ids, "fingerprints": _fingerprints(group)}
            )
        else:
            self._report_setback(ids, reply)

    def _remember(self, message_id: str, kind: str, group: list[_Candidate]) -> None:
        incident = group[0].incident if kind == "alert" else None
        stamp = iso(self.at)
        self.ctx.db.execute(
            """INSERT OR REPLACE INTO discord_messages (message_id, kind, detection_id, fingerprint, diagnosis_id, issue_url,
               edit_state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                message_id,
                kind,
                incident.detection_id if incident else None,
                incident.fingerprint if incident else None,
                _diagnosis_id(incident),
                (incident.issue or {}).get("url") if incident else None,
                "open" if incident else "closed",
                stamp,
                stamp,
            ),
        )

    def _setback(self, ids: list[int], reply: Any) -> None:
        """Inside the outcome transaction: what a failed call means for its rows."""
        db, at = self.ctx.db, self.at
        if reply.kind == "later":
            outbox.release(db, ids, at)
            self.stopped = "the tick ran out of time"
        elif reply.kind == "rate-limited":
            outbox.defer(db, ids, at + timedelta(seconds=reply.retry_after or 1.0), f"Discord: {reply.detail}", at)
            self.stopped = "Discord rate limit"
        elif reply.kind == "gone":
            outbox.defer(db, ids, at, f"Discord: webhook gone ({reply.detail})", at)
            set_meta(db, GONE_KEY, json.dumps({"url_sha256": _digest(self.ctx.settings.discord_webhook_url.reveal()), "detail": reply.detail, "since": iso(at)}))
            self._fail_gone(reply.detail, iso(at) or "")
        else:
            outbox.mark_failed(db, ids, f"Discord: {reply.detail}", at)
            if reply.kind == "transient":
                self.stopped = "Discord is failing"

    def _report_setback(self, ids: list[int], reply: Any) -> None:
        for delivery_id in ids:
            row = outbox.outcome_of(self.ctx.db, delivery_id)
            (self.result.failed if row["status"] == "failed" else self.result.deferred).append(row)

    def _not_tried(self, group: list[_Candidate]) -> None:
        for candidate in group:
            self.result.deferred.append({**_describe(candidate), "reason": f"not tried: {self.stopped}"})

    def _fail_gone(self, detail: str, since: str) -> None:
        self.stopped = "the webhook is gone"
        self.result.exit_code = 1
        self.result.error = (
            f"the Discord webhook answered {detail} (first at {since}): it was deleted or DISCORD_WEBHOOK_URL is wrong. "
            "Alerts stay queued; set a working DISCORD_WEBHOOK_URL and the next run posts them."
        )

    def _would(self, method: str, url: str, payload: dict[str, Any], group: list[_Candidate]) -> None:
        self.result.would_send.append(
            {"method": method, "url": url, "json": payload, "deliveries": [c.delivery_id for c in group], "fingerprints": _fingerprints(group)}
        )

    # -- edits ---------------------------------------------------------------------------------------------------------

    def _edit_pass(self) -> None:
        """Bring alerts posted without a diagnosis or an issue link up to date (bounded per tick, for a day)."""
        db = self.ctx.db
        with transaction(db):
            db.execute(
                "UPDATE discord_messages SET edit_state = 'closed', updated_at = ? WHERE edit_state = 'open' AND created_at < ?",
                (iso(self.at), iso(self.at - EDIT_WINDOW)),
            )
        edits = 0
        for row in db.execute("SELECT * FROM discord_messages WHERE edit_state = 'open' ORDER BY created_at").fetchall():
            if edits >= MAX_EDITS or self.stopped or self.ctx.deadline.remaining() < MIN_SECONDS:
                return
            incident = load_incident(db, self.ctx.settings, row["detection_id"])
            diagnosis_id, issue_url = _diagnosis_id(incident), (incident.issue or {}).get("url")
            newer = (diagnosis_id is not None and diagnosis_id != row["diagnosis_id"]) or (issue_url is not None and issue_url != row["issue_url"])
            if not newer or incident.ignored(self.at):
                continue
            edits += 1
            payload = alert_payload(incident, self.mention, self.allowed, self.patterns)
            if self.ctx.dry_run:
                self._would("PATCH", f"{SHOWN_URL}/messages/{row['message_id']}", payload, [_Candidate(None, incident)])
                continue
            self._edit(row["message_id"], payload, incident, diagnosis_id, issue_url)

    def _edit(self, message_id: str, payload: dict[str, Any], incident: Incident, diagnosis_id: int | None, issue_url: str | None) -> None:
        reply = self.webhook.edit(message_id, payload)
        db = self.ctx.db
        with transaction(db):
            if reply.kind == "ok":
                db.execute(
                    "UPDATE discord_messages SET diagnosis_id = ?, issue_url = ?, edits = edits + 1, updated_at = ? WHERE message_id = ?",
                    (diagnosis_id, issue_url, iso(self.at), message_id),
                )
            elif reply.kind in ("missing", "rejected"):  # deleted by someone, or an edit Discord refuses: stop trying
                db.execute("UPDATE discord_messages SET edit_state = 'closed', updated_at = ? WHERE message_id = ?", (iso(self.at), message_id))
            elif reply.kind == "gone":
                self._setback([], reply)
            else:
                self.stopped = f"Discord: {reply.detail}"
        if reply.kind == "ok":
            self.result.edited.append({"message_id": message_id, "fingerprint": incident.fingerprint, "detection": incident.detection_id})


def _describe(candidate: _Candidate) -> dict[str, Any]:
    incident = candidate.incident
    return {"delivery": candidate.delivery_id, "detection": incident.detection_id, "fingerprint": incident.fingerprint, "kind": incident.kind}


def _fingerprints(group: list[_Candidate]) -> list[str]:
    return [candidate.incident.fingerprint for candidate in group]


def _diagnosis_id(incident: Incident | None) -> int | None:
    if incident is None or incident.diagnosis is None:
        return None
    value = incident.diagnosis.get("id")
    return int(value) if value is not None else None


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()
