"""Whether each watched source could be seen: a log that is missing, unreadable, a glob that matches nothing, or a log
that went silent is a blind spot, and a blind monitor must say so (stderr, the scan's exit code, ``aimon status``, the
``aimon_source_up`` metric); the other sources are still scanned.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aimon.runtime import Context
from aimon.state import checkpoints
from aimon.state.db import parse_iso, transaction


def judge(ctx: Context, report: dict[str, Any], problem: str | None, *, record: bool) -> None:
    """Mark ``report`` (one source of the scan result) up or failing, say a failure on stderr, and (``record``)
    remember it with since-when; a log that was fine and stopped growing past ``AIMON_SILENCE`` is failing too.

    Only a change is written (a flip, another problem, new bytes): an idle tick over healthy logs writes nothing."""
    source = report["source"]
    at = ctx.now()
    grew = bool(report.get("bytes"))
    before = checkpoints.health_of(ctx.db, source)
    if problem is None and not grew:
        problem = _silent(ctx.settings.sources.silence, before, at)
    report["up"] = problem is None
    report["problem"] = problem
    if record and not ctx.dry_run:
        if before is not None and before.up == (problem is None) and before.problem == problem and not grew:
            report["since"] = before.since
        else:
            with transaction(ctx.db):
                report["since"] = checkpoints.record_health(ctx.db, source, problem, grew=grew, at=at).since
    if problem is not None:
        ctx.notice(f"scan: {source}: {problem}")


def _silent(window: float, before: checkpoints.SourceHealth | None, at: datetime) -> str | None:
    if window <= 0:
        return None
    grown = parse_iso(before.last_growth_at) if before is not None else None
    if grown is None or at - grown <= timedelta(seconds=window):
        return None  # never read anything yet (nothing to miss), or within the window
    minutes = (at - grown).total_seconds() / 60
    return f"silent: no new line for {minutes:.0f} min (AIMON_SILENCE); is the service still running?"


def clear_matched(ctx: Context, patterns: list[str], *, record: bool) -> None:
    """A glob that matches files again is no longer a failing source of its own (its files are judged instead)."""
    if not record or ctx.dry_run:
        return
    with transaction(ctx.db):
        for pattern in patterns:
            if checkpoints.health_of(ctx.db, pattern) is not None:
                checkpoints.forget_health(ctx.db, pattern)


def failing(reports: list[dict[str, Any]]) -> list[str]:
    """The failure of each source that could not be seen, as the scan's errors."""
    return [f"{report['source']}: {report['problem']}" for report in reports if report.get("problem")]
