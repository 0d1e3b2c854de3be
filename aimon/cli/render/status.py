"""Text rendering of ``aimon status``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from aimon.tools.status import StatusResult


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f}s"
    if value < 7200:
        return f"{value / 60:.0f}m"
    if value < 172800:
        return f"{value / 3600:.1f}h"
    return f"{value / 86400:.1f}d"


def render(console: Console, result: StatusResult) -> None:
    """Sections in the order an operator asks: is it running, is it keeping up, what is stuck, what is failing."""
    _last_run(console, result.last_run)
    _lock(console, result.lock)
    _sources(console, result.sources)
    _deliveries(console, result.deliveries)
    _fingerprints(console, result.fingerprints)
    llm = result.llm
    console.print(
        f"LLM spend {llm['month']}: ${llm['spend_usd']:.2f} of ${llm['budget_usd']:.2f} "
        f"({llm['calls']} calls, {llm['tokens_in']} tokens in, {llm['tokens_out']} out)"
    )
    _autofix(console, result.autofix)
    table = Table(title="Configuration (secrets hidden)", title_justify="left", show_header=False)
    table.add_column("variable")
    table.add_column("value", overflow="fold")
    for key, value in result.config.items():
        table.add_row(key, Text(value))
    console.print(table)


def _last_run(console: Console, run: dict[str, Any] | None) -> None:
    if run is None:
        console.print("Last run: never (cron runs `aimon run` every minute; see crontab.example).")
        return
    style = {"ok": "green", "failed": "red", "running": "yellow", "unfinished": "red"}[run["outcome"]]
    line = Text.assemble("Last run: ", (run["outcome"], style), f" started {run['started_at']}")
    if run["finished_at"]:
        line.append(f", finished {run['finished_at']}, exit code {run['exit_code']}")
    elif run["outcome"] == "unfinished":
        line.append(" and never finished (killed, or the machine stopped); the next tick takes over its work")
    console.print(line)
    for name, stage in ((run.get("summary") or {}).get("stages") or {}).items():
        if stage.get("status") != "ok":
            console.print(Text(f"  {name}: {stage.get('status')} {stage.get('error') or ''}".rstrip(), style="red"))


def _lock(console: Console, lock: dict[str, Any] | None) -> None:
    if lock is None:
        return
    who = f"pid {lock['pid']} (aimon {lock['command']})"
    if lock["alive"]:
        console.print(f"Run lock: held by {who} since {lock['since']} ({_seconds(lock['age_s'])})")
    else:
        console.print(Text(f"Run lock: {who} took it at {lock['since']} and is gone without letting go (killed?)", style="red"))


def _sources(console: Console, sources: list[dict[str, Any]]) -> None:
    if not sources:
        console.print("Sources: nothing read yet.")
        return
    table = Table(title="Sources", title_justify="left")
    for column in ("source", "health", "offset", "behind", "lag", "malformed", "last record", "checked"):
        table.add_column(column, overflow="fold")
    for source in sources:
        behind = "missing" if not source["exists"] else _size(source["bytes_behind"])
        if source.get("up") is False:
            health = Text(f"failing since {source['since']}: {source['problem']}", style="red")
        else:
            health = Text("ok" if source.get("up") else "-", style="green" if source.get("up") else "")
        table.add_row(
            Text(source["source"]),
            health,
            str(source["offset"]) if source["kind"] == "file" else str(source.get("loki_ns") or "-"),
            behind,
            _seconds(source["seconds_behind"]),
            Text(f"{source['malformed']['count']:,}", style="yellow") if source.get("malformed") else "-",
            source["last_record_at"] or "-",
            source["checked_at"] or "-",
        )
    console.print(table)
    for source in sources:
        if source.get("malformed"):
            reasons = ", ".join(f"{reason} ({count:,})" for reason, count in source["malformed"]["reasons"].items())
            console.print(Text(f"Malformed lines skipped in {source['source']} (last {source['malformed']['last_at']}): "
                               f"{reasons}", style="yellow"))


def _deliveries(console: Console, deliveries: dict[str, Any]) -> None:
    pending = ", ".join(f"{channel} {n}" for channel, n in deliveries["pending"].items()) or "none"
    failed = ", ".join(f"{channel} {n}" for channel, n in deliveries["failed"].items()) or "none"
    console.print(f"Deliveries pending: {pending}; failed: {failed}")
    for problem in deliveries["problems"]:
        console.print(
            Text(
                f"  #{problem['id']} {problem['channel']} {problem['status']} after {problem['attempts']} attempts: {problem['last_error'] or ''}"
            )
        )


def _fingerprints(console: Console, fingerprints: dict[str, Any]) -> None:
    states = fingerprints["by_state"]
    console.print(
        f"Errors: {fingerprints['total']} fingerprints ({states['active']} active, {states['resolved']} resolved, {states['ignored']} ignored)"
    )
    for title, rows in (("Most recent", fingerprints["recent"]), ("Most frequent", fingerprints["frequent"])):
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for column in ("fingerprint", "count", "last seen", "state", "code", "template"):
            table.add_column(column, overflow="fold")
        for row in rows:
            state = row["state"] if not row["state_until"] else f"{row['state']} until {row['state_until']}"
            table.add_row(
                row["fingerprint"],
                str(row["count"]),
                row["last_seen"],
                state,
                row["error_code"] or "",
                Text(row["template"]),
            )
        console.print(table)


def _autofix(console: Console, autofix: dict[str, Any]) -> None:
    console.print(f"Autofix: {autofix['pulls']} pull requests, {len(autofix['refusals'])} recent refusals")
    for refusal in autofix["refusals"]:
        rule = f" [{refusal['rule']}]" if refusal.get("rule") else ""  # the guard rule a refusal broke
        console.print(Text(f"  {refusal['fingerprint']} {refusal['outcome']}{rule}: {refusal.get('reason') or ''}"))
