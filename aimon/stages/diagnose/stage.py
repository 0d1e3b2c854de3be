"""``aimon diagnose``: every detected error without a current diagnosis gets one (LLM, memory, or offline).

A fingerprint is pending when it has a detection, is not ignored, and has no diagnosis yet — or a regression was
detected since its diagnosis, or its error code changed. A recurrence never calls the LLM again. For each pending
fingerprint:

1. the diagnosis of the *same* error (:func:`memory.recurrence`: a learned alias, the same template at the same
   ``file:line``; or, for a regression with no fix recorded, its own) is stored as ``memory``, without a call;
2. else the context is gathered and redacted with one redactor, and the LLM is asked (structured output, validated;
   one repair), similar past errors in its context; its answer is stored as ``llm``;
3. without an LLM (no key, budget spent, credentials refused) or when its output stays invalid, the offline diagnoser's
   answer is stored as ``heuristic`` (a similar error is never taken for this one's diagnosis);
4. on 429/5xx/timeouts the fingerprint stays pending and no further LLM call is started this run (the next tick
   retries); near the tick's deadline no new LLM call is started either.

Every stored diagnosis carries the similar past errors beside it (``similar``: "looks like #N", a suggestion for the
alert and the issue, never the diagnosis) and the lines its evidence cites (``cited``). Each diagnosis is written in
its own transaction. ``--dry-run`` sends nothing: it shows what would be sent.
"""

from __future__ import annotations

from aimon.runtime import Context
from aimon.stages.diagnose.result import Diagnosed, DiagnoseResult
from aimon.state import diagnoses
from aimon.state.db import utcnow

__all__ = ["DiagnoseResult", "Diagnosed", "run_diagnose"]


def run_diagnose(ctx: Context, limit: int = 20) -> DiagnoseResult:
    """Diagnose up to ``limit`` pending fingerprints; see the module docstring. With none pending nothing else is
    loaded (the LLM client, the prompt, the offline diagnoser): what an idle tick pays is this one query."""
    work = diagnoses.pending(ctx.db, utcnow(), limit)
    if not work:
        return DiagnoseResult(dry_run=ctx.dry_run, budget_usd=ctx.settings.llm.monthly_budget_usd,
                              month_spend_usd=diagnoses.monthly_spend(ctx.db))
    from aimon.stages.diagnose.running import Run

    return Run(ctx).run(work)
