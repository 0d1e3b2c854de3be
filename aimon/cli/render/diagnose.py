"""Text rendering of ``aimon diagnose``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aimon.stages.diagnose.stage import Diagnosed, DiagnoseResult

if TYPE_CHECKING:  # rich is imported only when there is something to draw (see plain())
    from rich.console import Console

NOTHING = "Nothing to diagnose: every detected error has a current diagnosis."
_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


def plain(result: DiagnoseResult) -> str | None:
    """The one line of an idle tick (no rich import), else ``None``."""
    if result.dry_run or result.diagnosed or result.pending or result.would_send or result.llm_calls or result.model:
        return None
    return NOTHING


def render(console: Console, result: DiagnoseResult) -> None:
    """Each diagnosis (title, severity, source, confidence, cause, fix, evidence), what stays pending, the spend."""
    from rich.text import Text

    if result.dry_run:
        console.print("Dry run: no LLM request is sent and nothing is recorded.")
    if not result.diagnosed and not result.pending:
        console.print(NOTHING)
    for item in result.diagnosed:
        _diagnosis(console, item)
    for waiting in result.pending:
        console.print(Text(f"{waiting['fingerprint']} pending: {waiting['reason']}", style="yellow"))
    for sent in result.would_send:
        console.print(Text(f"{sent['fingerprint']}: would ask {sent['model']} with a prompt of ~{sent['prompt_tokens']} tokens "
                           "(the whole prompt is in --json)", style="dim"))
    if result.offline_reason and result.diagnosed:
        console.print(Text(f"Offline: {result.offline_reason}.", style="dim"))
    if result.llm_calls or result.model:
        spent = sum(item.cost_usd for item in result.diagnosed)
        flag = " (model not in the price table: cost unknown)" if result.unpriced_model else ""
        console.print(Text(f"LLM: {result.llm_calls} call(s), ${spent:.4f} this run; ${result.month_spend_usd:.2f} of "
                           f"${result.budget_usd:.2f} this month{flag}.", style="dim"))


def _diagnosis(console: Console, item: Diagnosed) -> None:
    from rich.text import Text

    res = item.result
    severity = str(res.get("severity", ""))
    head = Text.assemble((item.fingerprint, "bold"), "  ", (severity.upper(), _SEVERITY_STYLE.get(severity, "")), "  ", (str(res.get("title", "")), "bold"))
    console.print(head)
    source = item.source if item.source != "llm" else f"llm {item.model}"
    if item.memory_of:
        source += f" (from diagnosis #{item.memory_of})"
    meta = f"  {source} · confidence {float(res.get('confidence', 0)):.2f} · {res.get('category', '')}"
    if item.tokens_in or item.tokens_out:
        meta += f" · {item.tokens_in}+{item.tokens_out} tokens · ${item.cost_usd:.5f}"
    if item.reason != "new":
        meta += f" · {item.reason}"
    console.print(Text(meta, style="dim"))
    if res.get("insufficient_evidence"):
        console.print(Text("  Insufficient evidence for a confident cause.", style="yellow"))
    console.print(Text(f"  Summary: {res.get('summary', '')}"))
    console.print(Text(f"  Cause: {res.get('root_cause', '')}"))
    console.print(Text(f"  Fix: {res.get('suggested_fix', '')}"))
    for line in list(res.get("evidence", []))[:5]:
        console.print(Text(f"    {line}", style="dim"))
    if res.get("auto_fixable"):
        console.print(Text(f"  Auto-fixable: {res.get('auto_fixable_reason', '')}", style="green"))
    console.print()
