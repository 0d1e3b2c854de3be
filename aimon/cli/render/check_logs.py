"""Text rendering of ``aimon check-logs``."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from aimon.tools.checklogs import CheckLogsResult

TOP_VIOLATIONS = 10


def render(console: Console, result: CheckLogsResult) -> None:
    """The share of conforming lines, the most common violations with an example, the ERROR lines aimon cannot use."""
    files = ", ".join(result.files)
    if not result.lines:
        console.print(f"{files}: no log lines to check.")
        return
    style = "green" if result.share >= 0.99 else "yellow" if result.share >= 0.8 else "red"
    console.print(
        Text.assemble(
            f"{result.conforming} of {result.lines} lines conform to the log specification (",
            (f"{result.share:.1%}", style),
            f") in {files}",
        )
    )
    if result.violations:
        # One block per violation rather than a table: example lines are long and must stay readable.
        console.print("Most common violations:")
        for violation in result.violations[:TOP_VIOLATIONS]:
            example = violation.example
            console.print(Text.assemble((f"{violation.count:>7} lines  ", "bold"), violation.violation))
            console.print(Text(f"{'':>15}e.g. {example.file}:{example.line_number}  {example.text}", style="dim"))
        if len(result.violations) > TOP_VIOLATIONS:
            console.print(f"… and {len(result.violations) - TOP_VIOLATIONS} more kinds (see --json).")
    if result.error_lines:
        console.print(
            f"{result.error_lines} ERROR lines: {result.errors_without_error_code} without an error_code, "
            f"{result.errors_without_request_id} without a request_id."
        )
        for line in result.error_examples:
            console.print(
                Text(
                    f"  {line.example.file}:{line.example.line_number} (no {' and no '.join(line.missing)})  {line.example.text}"
                )
            )
    else:
        console.print("No ERROR lines.")
