"""Feeding messages to grouping the way cron's scans do: in batches, each learning from the state file left before it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from aimon.config import Settings
from aimon.grouping.detect import Batch, Identity, apply_batch, identity
from aimon.grouping.fingerprint import Fingerprinter
from aimon.grouping.learned import learn_merges, load_learned
from aimon.model import LEVEL_RANK, LogRecord
from aimon.state.db import open_db, transaction
from aimon.state.groups import canonical

NOW = "2026-12-01T00:00:00.000000Z"


def group_in_batches(messages: Sequence[str], size: int, db: Path, settings: Settings) -> list[str]:
    """The group (canonical fingerprint, once every batch is in) of every message, scanned ``size`` at a time.

    Each batch is fingerprinted with what the state file has learned so far, written, and learned from in one
    transaction, as a scan commits a batch; the groups are read back at the end, as an issue would name them.
    """
    conn = open_db(db)
    own: list[str] = []
    for start in range(0, len(messages), size):
        fingerprinter = Fingerprinter(settings.fingerprint_rules, learned=load_learned(conn))
        batch = Batch(_identity(fingerprinter), LEVEL_RANK["ERROR"])
        for offset, message in enumerate(messages[start : start + size], start):
            record = LogRecord(level="ERROR", message=message, target="app", ts=1_764_547_200.0 + offset)
            batch.add("app.log", offset, record)
            own.append(fingerprinter.of(record).id)
        with transaction(conn):
            apply_batch(conn, batch, settings, now=NOW, redact=lambda text: text)
            learn_merges(conn, settings, in_transaction=True)
    groups = [canonical(conn, fingerprint) for fingerprint in own]
    conn.close()
    return groups


def partition(groups: Sequence[str]) -> set[frozenset[int]]:
    """The lines each group holds, whatever the groups are called."""
    members: dict[str, set[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, set()).add(index)
    return {frozenset(lines) for lines in members.values()}


def _identity(fingerprinter: Fingerprinter) -> Callable[[LogRecord], Identity]:
    return lambda record: identity(fingerprinter.of(record), record)
