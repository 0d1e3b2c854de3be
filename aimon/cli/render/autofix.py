"""Text rendering of ``aimon autofix``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aimon.stages.autofix.stage import AutofixResult

if TYPE_CHECKING:  # rich is imported only when there is something to draw (see plain())
    from rich.console import Console

_STYLE = {"opened": "green", "proposed": "green", "ineligible": "yellow", "deferred": "yellow", "refused": "red", "failed": "red"}


def plain(result: AutofixResult) -> str | None:
    """The one line of an idle tick (autofix off, or nothing to fix or check: no rich import), else ``None``."""
    if result.mode == "off":
        return result.message or "autofix is off."
    busy = result.attempts or result.regressions or result.skipped or result.pulls_checked or result.errors
    return None if result.mode == "dry-run" or busy else "Nothing to fix."


def render(console: Console, result: AutofixResult) -> None:
    """Per error: what happened and why; the diff of every fix proposed (dry-run) or opened; regressions reported."""
    from rich.syntax import Syntax
    from rich.text import Text

    if result.mode == "off":
        console.print(result.message or "autofix is off.")
        return
    if result.mode == "dry-run":
        console.print("Autofix dry run: nothing is pushed, no pull request is opened, no comment is posted.")
    if not result.attempts and not result.regressions:
        console.print("Nothing to fix." + (f" ({len(result.skipped)} waiting: see --json)" if result.skipped else ""))
    for attempt in result.attempts:
        rule = f" [{attempt.rule}]" if attempt.rule else ""  # the guard rule a refusal broke
        line = Text.assemble((attempt.fingerprint, "bold"), " ", (attempt.outcome, _STYLE.get(attempt.outcome, "")), rule,
                             f": {attempt.reason}")
        if attempt.pull_url:
            line.append(f" {attempt.pull_url}")
        console.print(line)
        if attempt.test:
            verdict = "passed" if attempt.test.get("passed") else "failed"
            console.print(Text(f"  test: {attempt.test['command']} {verdict} in {attempt.test['seconds']} s"))
            if not attempt.test.get("passed") and attempt.test.get("output_tail"):
                console.print(Text(_tail(attempt.test["output_tail"]), style="dim"))
        if attempt.diff and attempt.outcome in ("proposed", "opened", "failed", "refused"):
            console.print(Syntax(attempt.diff, "diff", theme="ansi_dark", background_color="default"))
        if attempt.would_comment:
            console.print(Text(f"  would comment on #{attempt.issue_number}: {attempt.would_comment}", style="dim"))
        elif attempt.commented:
            console.print(Text(f"  commented on #{attempt.issue_number}", style="dim"))
        if attempt.error:
            console.print(Text(f"  {attempt.error}", style="yellow"))
    for regression in result.regressions:
        verb = "reported" if regression.get("sent") else "would report"
        console.print(
            Text(f"{regression['fingerprint']} regression: came back at {regression['seen_at']} after PR #{regression['pull']} "
                 f"was merged; {verb} on the PR and issue #{regression['issue']}", style="red")
        )
    if result.pulls_checked:
        console.print(f"Checked {result.pulls_checked} open pull request(s).")
    for error in result.errors:
        console.print(Text(error, style="red"))


def _tail(output: str, lines: int = 15) -> str:
    return "\n".join("  " + line for line in output.rstrip().splitlines()[-lines:])
