"""The send loop of ``aimon notify``: one message per alert, or one digest for a storm, each outcome recorded with
its state change in one transaction."""

from __future__ import annotations

from typing import Any

from aimon.stages import delivery
from aimon.stages.delivery import Incident
from aimon.stages.notify.payload import alert_payload, digest_payload
from aimon.stages.notify.plan import Candidate, Plan, describe, fingerprints, plan
from aimon.stages.notify.session import SHOWN_URL, Session
from aimon.state import outbox
from aimon.state.db import iso, transaction

MIN_SECONDS = 3.0  # do not start a post with less time left in the tick


def preview(session: Session, candidates: list[Candidate]) -> None:
    """No webhook: list what would be posted, touching no row."""
    made = plan(session.db, session.ctx.settings, candidates, session.at)
    _report_plan(session, made, record=False)
    for _kind, payload, group in _messages(session, made.alerts):
        session.would("POST", f"{SHOWN_URL}?wait=true", payload, group)


def post(session: Session, candidates: list[Candidate]) -> None:
    """Plan the due candidates and post the alerts (a dry run lists them), until something stops the run."""
    made = plan(session.db, session.ctx.settings, candidates, session.at)
    _report_plan(session, made, record=True)
    for kind, payload, group in _messages(session, made.alerts):
        if session.stopped:
            _not_tried(session, group)
        elif session.ctx.dry_run:
            session.would("POST", f"{SHOWN_URL}?wait=true", payload, group)
        else:
            _post(session, kind, payload, group)


def diagnosis_id(incident: Incident | None) -> int | None:
    """The id of the diagnosis a message about ``incident`` shows (None: none yet)."""
    if incident is None or incident.diagnosis is None:
        return None
    value = incident.diagnosis.get("id")
    return int(value) if value is not None else None


def _report_plan(session: Session, made: Plan, *, record: bool) -> None:
    if record and made.skipped:
        with transaction(session.db):
            for candidate, reason in made.skipped:
                delivery.mark_skipped(session.db, [candidate.delivery_id], reason, session.at)  # type: ignore[list-item]
    for candidate, reason in made.skipped:
        session.result.skipped.append({**describe(candidate), "reason": reason})
    for candidate, until in made.waiting:
        session.result.waiting.append({**describe(candidate), "reason": f"waiting for its diagnosis until {iso(until)}"})


def _messages(session: Session, alerts: list[Candidate]) -> list[tuple[str, dict[str, Any], list[Candidate]]]:
    """(kind, payload, the candidates it covers): one per alert, or one digest for a storm."""
    mention, allowed, patterns = session.mention, session.allowed, session.patterns
    if len(alerts) > session.ctx.settings.discord.digest_threshold:
        incidents = [candidate.incident for candidate in alerts]
        return [("digest", digest_payload(incidents, mention, allowed, patterns), alerts)]
    return [("alert", alert_payload(c.incident, mention, allowed, patterns), [c]) for c in alerts]


def _post(session: Session, kind: str, payload: dict[str, Any], group: list[Candidate]) -> None:
    if session.ctx.deadline.remaining() < MIN_SECONDS:
        session.stopped = "the tick ran out of time"
        _not_tried(session, group)
        return
    ids = delivery.claim(session.db, [c.delivery_id for c in group if c.delivery_id is not None], session.at)
    group = [c for c in group if c.delivery_id in ids]  # another process may have taken some
    if not group:
        return
    reply = session.webhook.post(payload)
    with transaction(session.db):
        if reply.kind == "ok":
            delivery.mark_sent(session.db, ids, reply.message_id, None, session.at)
            if reply.message_id:
                _remember(session, reply.message_id, kind, group)
        else:
            session.setback(ids, reply)
    if reply.kind == "ok":
        session.result.sent.append(
            {"message_id": reply.message_id, "kind": kind, "deliveries": ids, "fingerprints": fingerprints(group)}
        )
    else:
        session.report_setback(ids)


def _remember(session: Session, message_id: str, kind: str, group: list[Candidate]) -> None:
    """An alert is edited later (see :mod:`aimon.stages.notify.edits`); a digest is not."""
    incident = group[0].incident if kind == "alert" else None
    outbox.remember_message(
        session.db,
        message_id,
        kind,
        incident.detection_id if incident else None,
        incident.fingerprint if incident else None,
        diagnosis_id(incident),
        (incident.issue or {}).get("url") if incident else None,
        "open" if incident else "closed",
        session.at,
    )


def _not_tried(session: Session, group: list[Candidate]) -> None:
    for candidate in group:
        session.result.deferred.append({**describe(candidate), "reason": f"not tried: {session.stopped}"})
