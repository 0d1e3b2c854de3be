"""Text rendering of ``aimon run``: each stage under its own heading, rendered by that stage's own view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aimon.cli.render import view
from aimon.run import RunResult

if TYPE_CHECKING:  # rich is imported only when there is something to draw (see plain())
    from rich.console import Console

_STYLE = {"ok": "green", "failed": "red", "skipped": "yellow"}


def plain(result: RunResult) -> str | None:
    """An idle tick in one line of plain text (no rich import), else ``None``: every stage ran and had nothing to show.

    ``Read 0 lines: 0 error groups, detections: none. Nothing to diagnose, post, file or fix (scan 0.02s, …, autofix
    off).``
    A run locked out by another prints nothing here (its notice went to stderr).
    """
    if result.locked:
        return ""
    if result.dry_run or result.fail_on or result.fail_on_message or result.metrics_error or result.detections:
        return None
    lines = {stage.name: _plain_stage(stage) for stage in result.stages}
    if not lines or None in lines.values():
        return None
    took = ", ".join(_took(stage) for stage in result.stages)
    return f"{lines.get('scan') or ''} Nothing to diagnose, post, file or fix ({took}).".lstrip()


def _took(stage: Any) -> str:
    if getattr(stage.result, "mode", None) == "off":
        return "autofix off"
    return f"{stage.name.replace('_', '-')} {stage.duration_s:.2f}s"


def _plain_stage(stage: Any) -> str | None:
    if stage.status != "ok" or stage.error or stage.result is None:
        return None
    try:
        stage_view = view(stage.name)
    except ImportError:
        return None
    text = getattr(stage_view, "plain", lambda _result: None)(stage.result)
    return text if isinstance(text, str) else None


def render(console: Console, result: RunResult) -> None:
    """Per stage: a heading with its status and duration, then what it did (or would do under --dry-run)."""
    from rich.rule import Rule
    from rich.text import Text

    if result.locked:
        return  # the one-line notice already went to stderr; a locked-out tick prints nothing else
    if result.dry_run:
        console.print("Dry run: nothing is sent and no state changes; this is what a real run would do.")
    for stage in result.stages:
        title = Text.assemble((stage.name.replace("_", "-"), "bold"), " ", (stage.status, _STYLE.get(stage.status, "")))
        if stage.status != "skipped":
            title.append(f" ({stage.duration_s:.2f}s)")
        console.print(Rule(title, align="left"))
        if stage.error:
            console.print(Text(stage.error, style=_STYLE.get(stage.status, "")))
        if stage.result is not None:
            try:
                stage_view = view(stage.name)
            except ImportError:
                continue
            stage_view.render(console, stage.result)
    found = ", ".join(f"{count} {kind}" for kind, count in result.detections.items()) or "none"
    console.print(f"Detections this run: {found}")
    if result.fail_on_message:
        console.print(Text(result.fail_on_message, style="red"))
    elif result.fail_on:
        console.print(f"--fail-on {result.fail_on}: no such detection in this run.")
    if result.metrics_error:
        console.print(Text(f"metrics: {result.metrics_error}", style="yellow"))
    failed = [stage.name for stage in result.stages if stage.status == "failed"]
    if failed:
        console.print(Text(f"Failed: {', '.join(failed)} (exit code 1; the other stages ran).", style="red"))
