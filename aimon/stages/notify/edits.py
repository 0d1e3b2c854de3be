"""Alerts kept up to date: one posted before its diagnosis or its GitHub issue existed is edited once they do.

For a day after posting (:data:`EDIT_WINDOW`), at most :data:`MAX_EDITS` edits a tick: one message per incident, kept
current, instead of follow-ups that bury it. A message deleted in Discord, or an edit Discord refuses, is not tried
again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aimon.stages.delivery import Incident, load_incident
from aimon.stages.notify.payload import alert_payload
from aimon.stages.notify.plan import Candidate
from aimon.stages.notify.posting import MIN_SECONDS, diagnosis_id
from aimon.stages.notify.session import SHOWN_URL, Session
from aimon.state import outbox
from aimon.state.db import transaction

EDIT_WINDOW = timedelta(hours=24)
MAX_EDITS = 5


def edit_pass(session: Session) -> None:
    """Bring alerts posted without a diagnosis or an issue link up to date (bounded per tick, for a day)."""
    db, at = session.db, session.at
    with transaction(db):
        outbox.close_messages_before(db, at - EDIT_WINDOW, at)
    edits = 0
    for row in outbox.open_messages(db):
        if edits >= MAX_EDITS or session.stopped or session.ctx.deadline.remaining() < MIN_SECONDS:
            return
        incident = load_incident(db, session.ctx.settings, row["detection_id"])
        shown, issue_url = diagnosis_id(incident), (incident.issue or {}).get("url")
        newer = (shown is not None and shown != row["diagnosis_id"]) or (issue_url is not None and issue_url != row["issue_url"])
        if not newer or incident.ignored(at):
            continue
        edits += 1
        payload = alert_payload(incident, session.mention, session.allowed, session.patterns)
        if session.ctx.dry_run:
            session.would("PATCH", f"{SHOWN_URL}/messages/{row['message_id']}", payload, [Candidate(None, incident)])
            continue
        _edit(session, row["message_id"], payload, incident, shown, issue_url)


def _edit(session: Session, message_id: str, payload: dict[str, Any], incident: Incident, shown: int | None,
          issue_url: str | None) -> None:
    reply = session.webhook.edit(message_id, payload)
    db, at = session.db, session.at
    with transaction(db):
        if reply.kind == "ok":
            outbox.message_edited(db, message_id, shown, issue_url, at)
        elif reply.kind in ("missing", "rejected"):  # deleted by someone, or an edit Discord refuses: stop trying
            outbox.close_message(db, message_id, at)
        elif reply.kind == "gone":
            session.setback([], reply)
        else:
            session.stopped = f"Discord: {reply.detail}"
    if reply.kind == "ok":
        session.result.edited.append({"message_id": message_id, "fingerprint": incident.fingerprint, "detection": incident.detection_id})
