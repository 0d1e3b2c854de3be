"""``aimon ignore`` / ``aimon resolve``: set one error group's state by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aimon.config import parse_duration
from aimon.errors import UsageError
from aimon.runtime import Context
from aimon.state import groups
from aimon.state.db import iso, transaction, utcnow
from aimon.tools.status import secret_scrubber


@dataclass
class StateChangeResult:
    """What ``aimon ignore`` / ``aimon resolve`` changed."""

    fingerprint: str
    template: str
    previous_state: str
    state: str
    until: str | None
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "template": self.template,
            "previous_state": self.previous_state,
            "state": self.state,
            "until": self.until,
        }


def set_fingerprint_state(ctx: Context, fingerprint: str, state: str, for_: str | None) -> StateChangeResult:
    """Ignore (for good, or ``for_`` a duration such as ``24h``) or resolve one fingerprint, named by a unique prefix.

    Every stage skips ignored fingerprints; a resolved fingerprint that shows up again is a regression.
    """
    if state not in ("ignored", "resolved", "active"):
        raise UsageError(f"state {state!r}: use ignored, resolved or active.")
    until = None
    if for_ is not None:
        if state != "ignored":
            raise UsageError("--for only applies to ignore.")
        try:
            seconds = parse_duration(for_)
        except ValueError as exc:
            raise UsageError(f"--for {for_!r}: {exc}.") from None
        if seconds <= 0:
            raise UsageError(f"--for {for_!r}: give a duration longer than zero, such as 24h.")
        until = iso(utcnow() + timedelta(seconds=seconds))
    prefix = fingerprint.strip().lower()
    if not prefix:
        raise UsageError("give a fingerprint (or a unique prefix of one); `aimon status` lists them.")
    with transaction(ctx.db):
        rows = groups.find_by_prefix(ctx.db, prefix)
        if not rows:
            raise UsageError(f"no fingerprint starts with {prefix!r}; `aimon status` lists the recent ones.")
        if len(rows) > 1:
            shown = ", ".join(row["fingerprint"] for row in rows[:5])
            raise UsageError(
                f"{prefix!r} matches several fingerprints ({shown}{', …' if len(rows) > 5 else ''}); give more characters."
            )
        row = rows[0]
        groups.set_state(ctx.db, row["fingerprint"], state, until, at=utcnow())
    template = secret_scrubber(ctx.settings)(row["template"]) or ""
    return StateChangeResult(row["fingerprint"], template, row["state"], state, until)
