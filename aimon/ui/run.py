"""Text rendering of ``aimon run``: each stage under its own heading, rendered by that stage's own view."""

from __future__ import annotations

from importlib import import_module

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from aimon.pipeline import RunResult

_STYLE = {"ok": "green", "failed": "red", "skipped": "yellow"}


def render(console: Console, result: RunResult) -> None:
    """Per stage: a heading with its status and duration, then what it did (or would do under --dry-run)."""
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
                view = import_module(f"aimon.ui.{stage.name}")
            except ImportError:
                continue
            view.render(console, stage.result)
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
