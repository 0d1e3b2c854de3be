"""Text rendering of ``aimon scan``: a one-line summary under cron, a table of error groups for triage."""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from aimon.stages.scan.stage import ScanResult

if TYPE_CHECKING:  # rich is imported only when there is something to draw (see plain())
    from rich.console import Console
    from rich.table import Table

_KIND_STYLE = {"new": "bold red", "spike": "yellow", "regression": "magenta"}
SAMPLE_CHARS = 80


def summary_line(result: ScanResult) -> str:
    """``Read 1,234 lines (2 malformed): 3 error groups, detections: 1 new.``"""
    kinds: dict[str, int] = {}
    for detection in result.detections:
        kinds[detection["kind"]] = kinds.get(detection["kind"], 0) + 1
    told = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "none"
    window = f" since {result.since}" if result.since else ""
    malformed = f" ({result.malformed:,} malformed)" if result.malformed else ""
    groups = len(result.groups)
    lines = f"{result.lines:,} line{'s' if result.lines != 1 else ''}"
    text = f"Read {lines}{window}{malformed}: {groups} error group{'s' if groups != 1 else ''}"
    return text + ("." if result.since else f", detections: {told}.")


def plain(result: ScanResult) -> str | None:
    """The whole output when it is one line of plain text (a cron tick with nothing to show), else ``None``.

    Lets the command print an idle tick's summary without importing rich.
    """
    if result.groups or result.detections or result.malformed_reasons or any(s.get("note") for s in result.sources):
        return None
    if any("files" in source for source in result.sources):  # a triage lists the files it read
        return None
    return summary_line(result)


def render(console: Console, result: ScanResult) -> None:
    """The summary, the notes of sources that need attention, and the groups (newest last seen first)."""
    from rich.text import Text

    console.print(summary_line(result))
    for source in result.sources:
        if source.get("note"):
            console.print(Text(f"  {source['note']}", style="yellow"))
    if result.malformed_reasons:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in result.malformed_reasons.items())
        console.print(Text(f"  malformed lines: {reasons}", style="dim"))
    for source in result.sources:
        if "files" in source:
            files_read(console, source)
    if result.groups:
        console.print(groups_table(result))
    for detection in result.detections:
        style = _KIND_STYLE.get(detection["kind"], "")
        console.print(Text.assemble((f"{detection['kind']:<10}", style), f" {detection['fingerprint']}  "
                                    f"{detection['count']} in {detection['window_start']} … {detection['window_end']}"))


def files_read(console: Console, source: dict[str, Any]) -> None:
    """Under a triage's source: each file read and each left (rotations and neighbours), with why.

    ``  /var/log/app.log`` then ``    read      app.log.1       numbered rotation of app.log, …`` per file (the files
    are all in the source's folder: their names are enough).
    """
    from rich.text import Text

    rows = [("read", entry) for entry in source["files"]] + [("not read", entry) for entry in source.get("skipped", [])]
    console.print(Text(f"  {source['source']}"))
    width = max((len(PurePath(entry["path"]).name) for _, entry in rows), default=0)
    for verdict, entry in rows:
        style = "" if verdict == "read" else "dim"
        console.print(Text(f"    {verdict:<8}  {PurePath(entry['path']).name:<{width}}  {entry['why']}", style=style))
    if source.get("unlisted"):
        console.print(Text(f"    and {source['unlisted']:,} more files whose names start alike: other files, not read",
                           style="dim"))


def groups_table(result: ScanResult) -> Table:
    """One row per error group: last seen, count, level, code, fingerprint, template."""
    from rich.table import Table
    from rich.text import Text

    # The template is what a reader needs most: the other columns stay narrow (the fingerprint shows a prefix,
    # which `aimon ignore` / `aimon resolve` accept; --json has the whole id).
    table = Table(show_lines=False, header_style="bold", expand=False, box=None, pad_edge=False)
    table.add_column("last seen", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("code", no_wrap=True, max_width=18, overflow="ellipsis")
    table.add_column("fingerprint", no_wrap=True)
    table.add_column("template", overflow="fold", min_width=30, ratio=1)
    for group in result.groups:
        template = group["template"]
        if len(template) > SAMPLE_CHARS * 2:
            template = template[: SAMPLE_CHARS * 2] + "…"
        level_style = "bold red" if group["level"] == "PANIC" else "red" if group["level"] in ("ERROR", "FATAL") else ""
        table.add_row(
            (group["last_seen"] or "")[5:19].replace("T", " "),
            f"{group['count']:,}",
            Text(group["level"], style=level_style),
            group["error_code"] or "",
            group["fingerprint"][:10],
            Text(template),
        )
    return table
