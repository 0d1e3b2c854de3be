"""Which due alerts go out now, which are skipped (and why), which wait for their diagnosis.

An ignored fingerprint is skipped; so is a second detection of a fingerprint in the same tick (one alert covers it), a
new error already alerted once, and a spike inside ``AIMON_REALERT`` of the last alert (a regression alerts at once). An alert waits
up to ``AIMON_DIAGNOSIS_GRACE`` for its diagnosis, and the later detections of a waiting fingerprint wait with it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aimon.config import Settings
from aimon.stages.delivery import Incident
from aimon.state import outbox
from aimon.state.db import parse_iso


@dataclass
class Candidate:
    """A detection that may alert, with its outbox row."""

    delivery_id: int | None  # None: a detection not enqueued (preview without a webhook)
    incident: Incident


@dataclass
class Plan:
    alerts: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[Candidate, str]] = field(default_factory=list)
    waiting: list[tuple[Candidate, datetime]] = field(default_factory=list)


def plan(conn: sqlite3.Connection, settings: Settings, candidates: list[Candidate], at: datetime) -> Plan:
    """Sort ``candidates`` (oldest first) into alerts, skipped ones and waiting ones (see the module docstring)."""
    made = Plan()
    alerted: dict[str, int] = {}
    held: set[str] = set()
    realert = timedelta(seconds=settings.discord.realert)
    for candidate in candidates:
        incident = candidate.incident
        fingerprint = incident.fingerprint
        last = outbox.last_discord_alert(conn, fingerprint)
        until = incident.waits_for_diagnosis(settings, at)
        if incident.ignored(at):
            made.skipped.append((candidate, "fingerprint is ignored"))
        elif fingerprint in alerted:
            made.skipped.append((candidate, f"in the same alert as detection #{alerted[fingerprint]}"))
        elif last is not None and incident.kind == "new":
            made.skipped.append((candidate, f"already alerted (message {last['remote_id']}); only spikes and regressions alert again"))
        elif last is not None and incident.kind != "regression" and at < (parse_iso(last["updated_at"]) or at) + realert:
            # A regression is an error someone resolved coming back: it is told at once, whatever the re-alert window.
            made.skipped.append((candidate, f"last alert at {last['updated_at']}; AIMON_REALERT allows one per {_duration(settings.discord.realert)}"))
        elif fingerprint in held or until is not None:
            held.add(fingerprint)
            made.waiting.append((candidate, until or at))
        else:
            alerted[fingerprint] = incident.detection_id
            made.alerts.append(candidate)
    return made


def describe(candidate: Candidate) -> dict[str, Any]:
    """A candidate as a row of the result."""
    incident = candidate.incident
    return {"delivery": candidate.delivery_id, "detection": incident.detection_id, "fingerprint": incident.fingerprint, "kind": incident.kind}


def fingerprints(group: list[Candidate]) -> list[str]:
    return [candidate.incident.fingerprint for candidate in group]


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
