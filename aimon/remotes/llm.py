"""The LLM client every stage shares: structured output, validation, one repair, cost accounting, the monthly budget.

Any OpenAI-compatible endpoint works (``AIMON_LLM_BASE_URL``: Ollama, vLLM, llama.cpp's server, other vendors).
Every request is recorded in ``llm_calls`` (model, prompt hash, tokens, latency, cost, outcome); the month's spend is
read back from there, and past ``AIMON_LLM_MONTHLY_BUDGET_USD`` :attr:`LLM.available` turns false.

The shape of an answer is a pydantic model: the JSON Schema sent is generated from it (:func:`response_schema`), and
the answer is validated with it (:mod:`aimon.remotes.schema`), so what is asked for and what is accepted cannot drift
apart.

``openai`` is imported only when a request is really made, so the idle cron path never pays for it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from aimon.errors import AimonError, RemoteError
from aimon.remotes.egress import Egress
from aimon.remotes.schema import parse_answer, response_schema, schema_note
from aimon.runtime import Context
from aimon.state import diagnoses
from aimon.state.db import transaction

M = TypeVar("M", bound=BaseModel)

# Dollars per 1M tokens: (input, cached input, output). Unknown models cost 0 and are flagged (a local model is free;
# an unlisted paid one would make the budget blind, so the result says so).
PRICES: dict[str, tuple[float, float, float]] = {
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4.1": (2.00, 0.50, 8.00),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1-nano": (0.10, 0.025, 0.40),
}
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")
# A key is required by the SDK even when a local server ignores it.
_NO_KEY = "no-key"


class LLMUnavailable(AimonError):
    """No key and no base URL, the month's budget is spent, or the endpoint refuses our credentials."""


class LLMTransient(RemoteError):
    """429, 5xx, a timeout or a dropped connection: leave the work pending for the next tick."""


class LLMInvalid(AimonError):
    """The model's answer did not match the schema, even after one repair attempt (or the request was rejected)."""


@dataclass
class LLMResult(Generic[M]):
    """A validated structured answer and what it cost (summed over the repair attempt, when there was one)."""

    data: M
    tokens_in: int
    tokens_out: int
    cost_usd: float
    model: str
    cached_tokens: int = 0
    latency_ms: int = 0
    repaired: bool = False
    priced: bool = True
    call_ids: list[int] = field(default_factory=list)


def price_of(model: str) -> tuple[float, float, float] | None:
    """The price row of ``model`` (dated snapshots like ``gpt-4o-mini-2024-07-18`` share their family's), or None."""
    name = model.strip().lower()
    return PRICES.get(name) or PRICES.get(_DATED.sub("", name))


CHARS_PER_TOKEN = 3.2  # conservative for English and code with GPT tokenizers: an estimate errs towards more tokens
DEFAULT_ANSWER_TOKENS = 800  # what an answer is expected to cost before any answer of the model was measured


def estimate_tokens(text: str, chars_per_token: float = CHARS_PER_TOKEN) -> int:
    """Tokens of ``text`` when the provider did not say (rounded up; at least 1 for any text)."""
    return math.ceil(len(text) / chars_per_token) if text else 0


def cost_usd(model: str, tokens_in: int, tokens_out: int, cached: int = 0) -> float:
    """Dollars for one call at list price; 0 for a model not in :data:`PRICES`."""
    price = price_of(model)
    if price is None:
        return 0.0
    uncached = max(0, tokens_in - cached)
    return (uncached * price[0] + cached * price[1] + tokens_out * price[2]) / 1_000_000


def prompt_hash(messages: list[dict[str, str]]) -> str:
    """sha256 of the request messages (what ``llm_calls.prompt_hash`` holds)."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class LLM:
    """The configured LLM endpoint. Build one per stage run: ``LLM(ctx)``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.model = ctx.settings.llm.model
        self._egress = Egress.of(ctx.settings)
        self._client: Any = None
        self._ratio: float | None = None

    @property
    def configured(self) -> bool:
        """A key or a base URL is set."""
        return bool(self.settings.llm.api_key) or bool(self.settings.llm.base_url)

    @property
    def unavailable_reason(self) -> str | None:
        """Why no call can be made now (a sentence for the user), or None when calls are possible."""
        if not self.configured:
            return "no OPENAI_API_KEY and no AIMON_LLM_BASE_URL set: using the offline diagnoser"
        spent = diagnoses.monthly_spend(self.ctx.db)
        budget = self.settings.llm.monthly_budget_usd
        if spent >= budget:
            return f"this month's LLM spend ${spent:.2f} reached AIMON_LLM_MONTHLY_BUDGET_USD=${budget:.2f}: using the offline diagnoser"
        return None

    def chars_per_token(self) -> float:
        """Characters per token of this model's prompts, measured from the usage the provider reported for the recent
        calls (:func:`aimon.state.diagnoses.measured_ratio`); :data:`CHARS_PER_TOKEN` until one was measured."""
        if self._ratio is None:
            self._ratio = diagnoses.measured_ratio(self.ctx.db, self.model) or CHARS_PER_TOKEN
        return self._ratio

    def _refuse_overspend(self, messages: list[dict[str, str]], response_format: dict[str, Any]) -> None:
        """Refuse a call whose estimated cost would take this month's spend past the budget: before, never after.

        The prompt is estimated with the measured ratio (schema included: the provider counts it); the answer as the
        largest the model gave recently (or :data:`DEFAULT_ANSWER_TOKENS`)."""
        if price_of(self.model) is None:
            return  # an unpriced (local) model costs nothing the budget can count
        tokens_in = estimate_tokens(_request_text(messages, response_format), self.chars_per_token())
        tokens_out = diagnoses.largest_answer(self.ctx.db, self.model) or DEFAULT_ANSWER_TOKENS
        estimate = cost_usd(self.model, tokens_in, tokens_out)
        spent = diagnoses.monthly_spend(self.ctx.db)
        budget = self.settings.llm.monthly_budget_usd
        if spent + estimate > budget:
            raise LLMUnavailable(f"this month's LLM spend ${spent:.4f} plus this call's estimated ${estimate:.4f} would pass "
                                 f"AIMON_LLM_MONTHLY_BUDGET_USD=${budget:.2f}: using the offline diagnoser")

    @property
    def available(self) -> bool:
        """A key or base URL is set and this month's budget is not spent."""
        return self.unavailable_reason is None

    def structured(
        self,
        *,
        purpose: str,
        fingerprint: str | None,
        system: str,
        user: str,
        schema_name: str,
        answer: type[M],
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> LLMResult[M]:
        """Ask for a JSON object of the shape ``answer`` (its :func:`response_schema`, sent strict); validate the reply
        with ``answer`` itself, bounds included; one repair attempt on invalid output.

        Raises :class:`LLMUnavailable`, :class:`LLMTransient` or :class:`LLMInvalid`.
        """
        reason = self.unavailable_reason
        if reason:
            raise LLMUnavailable(reason)
        if self.ctx.dry_run:
            # --dry-run touches nothing outside, the LLM included (a stage that previews says so before it gets here).
            raise LLMUnavailable("dry run: no request is sent to the LLM")
        schema = response_schema(answer)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        response_format: dict[str, Any] = {"type": "json_schema", "json_schema": {"name": schema_name, "schema": schema, "strict": True}}
        self._refuse_overspend(messages, response_format)
        try:
            first = self._call(purpose, fingerprint, messages, response_format, timeout, max_retries)
        except _SchemaUnsupported:
            # Older OpenAI-compatible servers know JSON mode but not JSON Schema: put the schema in the prompt instead
            # (our own validation and the repair attempt still hold the answer to it).
            messages = [{"role": "system", "content": f"{system}\n\n{schema_note(schema)}"}, {"role": "user", "content": user}]
            response_format = {"type": "json_object"}
            first = self._call(purpose, fingerprint, messages, response_format, timeout, max_retries)
        parsed = parse_answer(first.content, answer)
        if not isinstance(parsed, str):
            return first.result(self.model, parsed)
        self._record_outcome(first.call_id, "invalid", parsed)
        repair = [
            *messages,
            {"role": "assistant", "content": first.content or ""},
            {"role": "user", "content": f"That reply is not valid: {parsed}. Reply again with only the JSON object, matching the schema exactly."},
        ]
        try:
            self._refuse_overspend(repair, response_format)
        except LLMUnavailable as exc:
            raise LLMInvalid(f"the model's answer did not match the {schema_name} schema, and a repair would pass the budget: {parsed}") from exc
        second = self._call(f"{purpose}-repair", fingerprint, repair, response_format, timeout, max_retries)
        reparsed = parse_answer(second.content, answer)
        if isinstance(reparsed, str):
            self._record_outcome(second.call_id, "invalid", reparsed)
            raise LLMInvalid(f"the model's answer did not match the {schema_name} schema after one repair: {reparsed}")
        result = second.result(self.model, reparsed)
        result.tokens_in += first.tokens_in
        result.tokens_out += first.tokens_out
        result.cached_tokens += first.cached
        result.cost_usd += first.cost
        result.latency_ms += first.latency_ms
        result.repaired = True
        result.call_ids.insert(0, first.call_id)
        return result

    # -- one HTTP request -------------------------------------------------------------------------------------------

    def _client_for(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            key = self.settings.llm.api_key.reveal() or _NO_KEY
            self._client = OpenAI(
                api_key=key,
                base_url=self.settings.llm.base_url or None,
                timeout=self.settings.llm.timeout,
                max_retries=1,
            )
        return self._client

    def _call(
        self,
        purpose: str,
        fingerprint: str | None,
        messages: list[dict[str, str]],
        response_format: dict[str, Any],
        timeout: float | None,
        max_retries: int | None,
    ) -> _Call:
        import openai

        client = self._client_for()
        options: dict[str, Any] = {}
        if timeout is not None:
            options["timeout"] = timeout
        if max_retries is not None:
            options["max_retries"] = max_retries
        if options:
            client = client.with_options(**options)
        # Whatever built the prompt, it leaves through the gate (built-in and the user's redaction patterns).
        messages = [{**message, "content": self._egress.text(message["content"])} for message in messages]
        digest = prompt_hash(messages)
        started = time.monotonic()
        try:
            response = client.chat.completions.create(model=self.model, messages=messages, response_format=response_format, temperature=0)
        except openai.APITimeoutError as exc:
            self._record(purpose, fingerprint, digest, started, outcome="timeout", error=_short(exc))
            raise LLMTransient(f"the LLM request timed out after {self.settings.llm.timeout:g}s; it will be retried next tick") from None
        except openai.APIConnectionError as exc:
            self._record(purpose, fingerprint, digest, started, outcome="connection", error=_short(exc))
            raise LLMTransient(f"cannot reach the LLM endpoint ({_short(exc)}); it will be retried next tick") from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            outcome = "rate_limited" if status == 429 else "server_error" if status >= 500 or status in (408, 409) else "rejected"
            self._record(purpose, fingerprint, digest, started, outcome=outcome, error=f"HTTP {status}: {_short(exc)}")
            if outcome != "rejected":
                raise LLMTransient(f"the LLM endpoint answered HTTP {status}; it will be retried next tick") from None
            if status == 400 and "json_object" not in json.dumps(response_format) and _SCHEMA_REJECTED.search(str(exc)):
                raise _SchemaUnsupported from None
            if status in (401, 403):
                raise LLMUnavailable(f"the LLM endpoint refused the credentials (HTTP {status}): check OPENAI_API_KEY and AIMON_LLM_BASE_URL") from None
            raise LLMInvalid(f"the LLM endpoint rejected the request (HTTP {status}: {_short(exc)}); check AIMON_LLM_MODEL") from None
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", 0) or 0)
        content = _content(response)
        estimated = usage is None
        chars = len(_request_text(messages, response_format))
        if estimated:
            # Some OpenAI-compatible servers send no usage; the call still cost something, so the budget counts an
            # estimate (on the high side, with the ratio measured on this model) and the ledger says it is one.
            tokens_in = estimate_tokens(_request_text(messages, response_format), self.chars_per_token())
            tokens_out = estimate_tokens(content or "", self.chars_per_token())
        call_id = self._record(purpose, fingerprint, digest, started, outcome="ok", tokens_in=tokens_in, tokens_out=tokens_out,
                               cached=cached, estimated=estimated, prompt_chars=chars)
        return _Call(call_id, content, tokens_in, tokens_out, cached, cost_usd(self.model, tokens_in, tokens_out, cached),
                     int((time.monotonic() - started) * 1000), price_of(self.model) is not None)

    def _record(
        self,
        purpose: str,
        fingerprint: str | None,
        digest: str,
        started: float,
        *,
        outcome: str,
        error: str | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cached: int = 0,
        estimated: bool = False,
        prompt_chars: int = 0,
    ) -> int:
        latency = int((time.monotonic() - started) * 1000)
        cost = cost_usd(self.model, tokens_in, tokens_out, cached)
        with transaction(self.ctx.db) as conn:
            return diagnoses.insert_llm_call(
                conn, purpose=purpose, fingerprint=fingerprint, model=self.model, prompt_hash=digest, outcome=outcome,
                error=error and self._egress.text(error)[:500], tokens_in=tokens_in, tokens_out=tokens_out, cached_tokens=cached,
                latency_ms=latency, cost_usd=cost, priced=price_of(self.model) is not None, estimated=estimated,
                prompt_chars=prompt_chars,
            )

    def _record_outcome(self, call_id: int, outcome: str, error: str) -> None:
        with transaction(self.ctx.db) as conn:
            diagnoses.set_llm_call_outcome(conn, call_id, outcome, self._egress.text(error)[:500])


class _SchemaUnsupported(Exception):
    """The endpoint rejected ``response_format: json_schema`` (HTTP 400 naming it)."""


_SCHEMA_REJECTED = re.compile(r"response_format|json_schema|structured output", re.IGNORECASE)


@dataclass
class _Call:
    call_id: int
    content: str | None
    tokens_in: int
    tokens_out: int
    cached: int
    cost: float
    latency_ms: int
    priced: bool

    def result(self, model: str, data: M) -> LLMResult[M]:
        return LLMResult(data, self.tokens_in, self.tokens_out, self.cost, model, self.cached, self.latency_ms, False, self.priced, [self.call_id])


def _content(response: Any) -> str | None:
    choices = getattr(response, "choices", None) or []
    if not choices:
        return None
    message = choices[0].message
    if getattr(choices[0], "finish_reason", None) == "length":
        return None  # a truncated JSON object is never valid; ask again
    return getattr(message, "content", None)


def _request_text(messages: list[dict[str, str]], response_format: dict[str, Any]) -> str:
    """What a request's prompt tokens are counted over: every message's text and the response format (its schema)."""
    return "".join(message["content"] for message in messages) + json.dumps(response_format, separators=(",", ":"))


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return text[:300]


__all__ = ["LLM", "PRICES", "LLMInvalid", "LLMResult", "LLMTransient", "LLMUnavailable", "cost_usd", "price_of", "response_schema"]
