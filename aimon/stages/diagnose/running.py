"""The diagnose stage's work, loaded only when a fingerprint is pending (:func:`aimon.stages.diagnose.stage.run_diagnose`)."""

from __future__ import annotations

import sqlite3
from typing import Any

from aimon.model import Diagnosis
from aimon.remotes.egress import Egress
from aimon.remotes.llm import LLM, LLMInvalid, LLMTransient, LLMUnavailable, price_of
from aimon.runtime import Context
from aimon.stages.diagnose import evidence, heuristics, memory
from aimon.stages.diagnose.context import build_context
from aimon.stages.diagnose.prompt import build_prompt
from aimon.stages.diagnose.result import Diagnosed, DiagnoseResult
from aimon.state import diagnoses
from aimon.state.db import transaction

MIN_CALL_SECONDS = 5.0  # below this much time left in the tick, no new LLM call is started
SCHEMA_NAME = "diagnosis"  # the name the structured-output request gives the Diagnosis schema


class Run:
    """One diagnose run over the pending fingerprints it is given."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.conn = ctx.db
        self.settings = ctx.settings
        self.llm = LLM(ctx)
        self.result = DiagnoseResult(dry_run=ctx.dry_run, budget_usd=self.settings.llm.monthly_budget_usd)
        self.paused: str | None = None  # set after a transient LLM failure: no more calls this run
        self.similar: list[dict[str, Any]] = []  # the suggestions of the fingerprint at hand
        self.shown: dict[str, str] = {}
        self.announced = False

    def run(self, work: list[sqlite3.Row]) -> DiagnoseResult:
        first_call = diagnoses.last_llm_call_id(self.conn)
        if work:
            self.result.offline_reason = self.llm.unavailable_reason
            if self.result.offline_reason is None:
                self.result.model = self.llm.model
                self.result.unpriced_model = price_of(self.llm.model) is None
        for row in work:
            if self.ctx.deadline.expired():
                self._leave(row, "the tick's time budget is spent")
                continue
            self._one(row)
        self.result.llm_calls = diagnoses.llm_calls_after(self.conn, first_call)
        self.result.month_spend_usd = diagnoses.monthly_spend(self.conn)
        return self.result

    def _announce(self, message: str) -> None:
        """Say once per run why diagnoses are offline."""
        if not self.announced:
            self.announced = True
            self.ctx.notice(f"diagnose: {message}")

    # -- one fingerprint ----------------------------------------------------------------------------------------------

    def _one(self, row: sqlite3.Row) -> None:
        fp = dict(row)
        reason = _reason(self.conn, fp)
        previous = diagnoses.latest_diagnosis(self.conn, fp["fingerprint"]) if reason != "new" else None
        own_fixes = diagnoses.fixes_for(self.conn, fp["fingerprint"])
        matches = self._remembered(fp, reason, previous, own_fixes)
        if matches is None:
            return
        detection = {"kind": fp["detection_kind"], "window_start": fp["window_start"], "window_end": fp["window_end"],
                     "count": fp["window_count"], "baseline": fp["baseline"]}
        raw = build_context(self.conn, self.settings, row, detection, memory.context_lines(matches, previous, own_fixes))
        ctx = raw.redacted(Egress.of(self.settings).redactor())
        self.shown = evidence.references(ctx)
        offline = self.result.offline_reason
        if offline is not None:
            self._announce(offline)
            self._fallback(fp, reason, ctx, matches, own_fixes, note=offline)
            return
        if self.paused is not None:
            self._leave(row, self.paused)
            return
        remaining = self.ctx.deadline.remaining()
        if remaining < MIN_CALL_SECONDS:
            self._leave(row, "too little of the tick's time budget is left for an LLM call")
            return
        prompt = build_prompt(ctx, self.settings.llm.max_prompt_tokens, self.llm.chars_per_token())
        if self.ctx.dry_run:
            self.result.would_send.append({"fingerprint": fp["fingerprint"], "model": self.llm.model, "prompt_tokens": prompt.tokens,
                                           "left_out": prompt.left_out, "system": prompt.system, "user": prompt.user})
            self._fallback(fp, reason, ctx, matches, own_fixes, note="dry run: the LLM was not asked", prompt_tokens=prompt.tokens)
            return
        timeout, retries = _call_limits(self.settings.llm.timeout, remaining)
        try:
            answer = self.llm.structured(purpose="diagnose", fingerprint=fp["fingerprint"], system=prompt.system, user=prompt.user,
                                         schema_name=SCHEMA_NAME, answer=Diagnosis, timeout=timeout, max_retries=retries)
        except LLMTransient as exc:
            self.paused = str(exc)
            self._leave(row, str(exc))
            return
        except LLMUnavailable as exc:
            self.result.offline_reason = str(exc)
            self._announce(str(exc))
            self._fallback(fp, reason, ctx, matches, own_fixes, note=str(exc), prompt_tokens=prompt.tokens)
            return
        except LLMInvalid as exc:
            self._fallback(fp, reason, ctx, matches, own_fixes, note=f"LLM answer unusable, offline diagnosis instead: {exc}",
                           prompt_tokens=prompt.tokens)
            return
        note = "repaired after one invalid answer" if answer.repaired else None
        if not answer.priced:
            note = f"{note + '; ' if note else ''}{answer.model} is not in the price table: cost counted as 0"
        self._store(fp, reason, "llm", answer.data, model=answer.model, tokens_in=answer.tokens_in, tokens_out=answer.tokens_out,
                    cost=answer.cost_usd, note=note, prompt_tokens=prompt.tokens)

    def _remembered(self, fp: dict[str, Any], reason: str, previous: dict[str, Any] | None,
                    own_fixes: tuple[diagnoses.Fix, ...]) -> list[memory.Match] | None:
        """Store the same error's stored diagnosis when memory has one (None: done, no call); else the similar past
        errors, which are only ever suggestions (:mod:`aimon.stages.diagnose.memory`)."""
        same = memory.recurrence(self.conn, fp) if reason == "new" else None
        matches = memory.similar(self.conn, fp, exclude=frozenset({same.fingerprint}) if same else frozenset())
        self.similar = memory.suggestions(self.conn, matches)
        self.shown = {}  # what the context showed, by reference: a reused diagnosis was shown none
        if same is not None:
            self._store_memory(fp, reason, same, note=f"memory: the same error ({same.why}) as {same.fingerprint}")
            return None
        if reason == "regression" and previous is not None and not own_fixes:
            # Resolved, then back, with no fix recorded: the diagnosis of this very error still holds.
            root = diagnoses.memory_root(self.conn, previous["id"])
            self._store(fp, reason, "memory", Diagnosis.model_validate(previous["result"]), memory_of=root,
                        note="memory: a regression of the same error, no fix recorded since its diagnosis")
            return None
        return matches

    # -- outcomes -----------------------------------------------------------------------------------------------------

    def _fallback(self, fp: dict[str, Any], reason: str, ctx: Any, matches: list[memory.Match], own_fixes: tuple[diagnoses.Fix, ...],
                  *, note: str, prompt_tokens: int | None = None) -> None:
        """The offline diagnosis. A similar error is never its diagnosis; a fix recorded for one is named as a hint."""
        result = heuristics.diagnose(ctx)
        fixed = [match for match in matches if match.fixes]
        if fixed:
            result.suggested_fix = (f"{result.suggested_fix} A similar but different error ({fixed[0].fingerprint[:8]}, {fixed[0].why}) "
                                    f"was fixed before: {memory.fix_note(fixed[0].fixes)}")
        if reason == "regression" and own_fixes:
            result.summary = f"{result.summary} It was marked fixed before ({memory.fix_note(own_fixes)}) and came back."
        self._store(fp, reason, "heuristic", result, note=note, prompt_tokens=prompt_tokens)

    def _store_memory(self, fp: dict[str, Any], reason: str, match: memory.Match, *, note: str) -> None:
        root = diagnoses.memory_root(self.conn, match.diagnosis_id)
        self._store(fp, reason, "memory", memory.reused(match), memory_of=root, note=note)

    def _store(self, fp: dict[str, Any], reason: str, source: str, result: Diagnosis, *, model: str | None = None,
               tokens_in: int = 0, tokens_out: int = 0, cost: float = 0.0, memory_of: int | None = None, note: str | None = None,
               prompt_tokens: int | None = None) -> None:
        with transaction(self.conn) as conn:
            stored = diagnoses.insert_diagnosis(
                conn, fingerprint=fp["fingerprint"], detection_id=fp["detection_id"], source=source, result=result, model=model,
                tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost, memory_of=memory_of, error_code=fp.get("error_code"), note=note,
                similar=self.similar, cited=evidence.cited(result.evidence, self.shown) if self.shown else None,
            )
        self.result.diagnosed.append(Diagnosed(stored, fp["fingerprint"], fp["detection_id"], reason, source, model,
                                               result.model_dump(), tokens_in, tokens_out, cost, memory_of, note, prompt_tokens,
                                               list(self.similar)))

    def _leave(self, row: sqlite3.Row, why: str) -> None:
        self.result.pending.append({"fingerprint": row["fingerprint"], "reason": why})


def _reason(conn: sqlite3.Connection, fp: dict[str, Any]) -> str:
    if fp["diagnosis_id"] is None:
        return "new"
    if (diagnoses.diagnosed_error_code(conn, fp["diagnosis_id"]) or "") != (fp.get("error_code") or ""):
        return "new-error-code"
    return "regression"


def _call_limits(timeout: float, remaining: float) -> tuple[float | None, int | None]:
    """Per-call timeout and retries that fit in what is left of the tick (None: the client's defaults)."""
    if remaining == float("inf"):
        return None, None
    per_call = max(1.0, min(timeout, remaining - 1.0))
    # The SDK's one retry may wait (Retry-After up to minutes): only allow it when two full calls still fit.
    return per_call, (1 if remaining >= 2 * per_call + 10 else 0)
