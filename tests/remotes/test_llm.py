"""The LLM client against a real OpenAI-compatible HTTP server on 127.0.0.1, through the real ``openai`` SDK."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aimon.config import load_settings
from aimon.model import CATEGORIES, SEVERITIES, Diagnosis
from aimon.remotes.llm import LLM, LLMInvalid, LLMTransient, LLMUnavailable, cost_usd, price_of
from aimon.remotes.schema import response_schema
from aimon.runtime import Context
from aimon.state.db import iso, open_db, utcnow
from aimon.state.diagnoses import month_start, monthly_spend
from tests.fakes.openai_server import FakeOpenAI
from tests.stages.diagnose.diagnose_support import answer

KEY = "sk-test-0123456789abcdefghijklmnop"
SCHEMA = response_schema(Diagnosis)


def make_ctx(tmp_path: Path, server: FakeOpenAI | None, **env: str) -> Context:
    environ = {"AIMON_DB": str(tmp_path / "state.db"), "AIMON_LLM_TIMEOUT": "2s", **env}
    if server is not None:
        environ.setdefault("AIMON_LLM_BASE_URL", server.base_url)
        environ.setdefault("OPENAI_API_KEY", KEY)
    settings = load_settings(environ=environ)
    return Context(settings=settings, db=open_db(settings.db_path))


def ask(llm: LLM, **kwargs: Any) -> Any:
    return llm.structured(purpose="diagnose", fingerprint="fp1", system="SYS", user="USER", schema_name="diagnosis", answer=Diagnosis,
                          **kwargs)


def calls(ctx: Context) -> list[dict[str, Any]]:
    rows = ctx.db.execute("SELECT purpose, fingerprint, model, tokens_in, tokens_out, cached_tokens, cost_usd, priced, outcome, error,"
                          " prompt_hash FROM llm_calls ORDER BY id").fetchall()
    return [dict(row) for row in rows]


def test_exact_request_and_recorded_call(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    openai_server.reply(answer())
    result = ask(LLM(ctx))
    assert result.data == Diagnosis(**answer())
    assert (result.tokens_in, result.tokens_out, result.model, result.repaired) == (900, 150, "gpt-4o-mini", False)
    assert result.cost_usd == pytest.approx((900 * 0.15 + 150 * 0.60) / 1e6)
    [request] = openai_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "SYS"}, {"role": "user", "content": "USER"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "diagnosis", "schema": SCHEMA, "strict": True}},
        "temperature": 0,
    }
    # Strict mode: no additional properties, every property required.
    assert SCHEMA["additionalProperties"] is False and set(SCHEMA["required"]) == set(SCHEMA["properties"])
    [row] = calls(ctx)
    assert row | {"prompt_hash": None} == {
        "purpose": "diagnose", "fingerprint": "fp1", "model": "gpt-4o-mini", "tokens_in": 900, "tokens_out": 150, "cached_tokens": 0,
        "cost_usd": pytest.approx(0.000225), "priced": 1, "outcome": "ok", "error": None, "prompt_hash": None,
    }
    assert len(row["prompt_hash"]) == 64


def test_invalid_output_gets_one_repair_attempt(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    openai_server.reply("Sure! Here is the diagnosis: {")
    openai_server.reply(answer(), prompt_tokens=1000, completion_tokens=100)
    result = ask(LLM(ctx))
    assert result.repaired and result.data == Diagnosis(**answer())
    assert (result.tokens_in, result.tokens_out) == (1900, 250)
    second = openai_server.requests[1].body["messages"]
    assert second[:2] == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "USER"}]
    assert second[2] == {"role": "assistant", "content": "Sure! Here is the diagnosis: {"}
    assert second[3]["role"] == "user" and second[3]["content"].startswith("That reply is not valid: not JSON")
    assert [(c["purpose"], c["outcome"]) for c in calls(ctx)] == [("diagnose", "invalid"), ("diagnose-repair", "ok")]


def test_schema_violation_is_named_in_the_repair_request(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    openai_server.reply(answer(confidence=1.7))
    openai_server.reply(answer())
    ask(LLM(ctx))
    assert "confidence: 1.7 is greater than the maximum of 1" in openai_server.requests[1].body["messages"][3]["content"]


def test_still_invalid_after_repair_raises(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    bad = answer()
    del bad["severity"]
    openai_server.reply(bad)
    openai_server.reply(answer(severity="catastrophic"))
    with pytest.raises(LLMInvalid, match="after one repair"):
        ask(LLM(ctx))
    assert [c["outcome"] for c in calls(ctx)] == ["invalid", "invalid"]
    assert len(openai_server.requests) == 2


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(429, "rate_limited"), (500, "server_error"), (503, "server_error")],
)
def test_rate_limits_and_server_errors_are_transient(tmp_path: Path, openai_server: FakeOpenAI, status: int, outcome: str) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    for _ in range(2):  # the SDK retries once by itself
        openai_server.reply(status=status, body={"error": {"message": "slow down", "type": "x"}}, headers={"retry-after-ms": "1"})
    with pytest.raises(LLMTransient, match=f"HTTP {status}"):
        ask(LLM(ctx))
    assert len(openai_server.requests) == 2
    [row] = calls(ctx)
    assert (row["outcome"], row["cost_usd"]) == (outcome, 0)
    assert row["error"].startswith(f"HTTP {status}")


def test_timeout_is_transient(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server, AIMON_LLM_TIMEOUT="150ms")
    openai_server.reply(answer(), delay=0.5)
    with pytest.raises(LLMTransient, match="timed out"):
        ask(LLM(ctx), max_retries=0)
    assert [c["outcome"] for c in calls(ctx)] == ["timeout"]


def test_refused_credentials_make_the_llm_unavailable(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    openai_server.reply(status=401, body={"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}})
    with pytest.raises(LLMUnavailable, match="OPENAI_API_KEY"):
        ask(LLM(ctx))
    [row] = calls(ctx)
    assert row["outcome"] == "rejected"
    assert KEY not in row["error"]  # error texts are redacted before they are stored


def test_no_key_and_no_base_url_is_unavailable_without_a_request(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, None)
    llm = LLM(ctx)
    assert not llm.available
    assert "no OPENAI_API_KEY and no AIMON_LLM_BASE_URL" in (llm.unavailable_reason or "")
    with pytest.raises(LLMUnavailable):
        ask(llm)


def test_monthly_budget_counts_this_month_only(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server, AIMON_LLM_MONTHLY_BUDGET_USD="1")
    last_month = iso(month_start().replace(year=month_start().year - 1))
    ctx.db.execute("INSERT INTO llm_calls (purpose, model, prompt_hash, cost_usd, outcome, created_at) VALUES ('diagnose', 'm', 'h', 5, 'ok', ?)", (last_month,))
    llm = LLM(ctx)
    assert monthly_spend(ctx.db) == 0 and llm.available
    ctx.db.execute("INSERT INTO llm_calls (purpose, model, prompt_hash, cost_usd, outcome, created_at) VALUES ('diagnose', 'm', 'h', 1.25, 'ok', ?)", (iso(utcnow()),))
    assert monthly_spend(ctx.db) == 1.25
    assert not llm.available
    assert "reached AIMON_LLM_MONTHLY_BUDGET_USD=$1.00" in (llm.unavailable_reason or "")
    with pytest.raises(LLMUnavailable):
        ask(llm)
    assert openai_server.requests == []


def test_base_url_without_a_key_works_for_local_servers(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server, OPENAI_API_KEY="", AIMON_LLM_MODEL="llama3.1:8b")
    openai_server.reply(answer())
    result = ask(LLM(ctx))
    assert openai_server.requests[0].body["model"] == "llama3.1:8b"
    assert (result.cost_usd, result.priced) == (0.0, False)
    assert calls(ctx)[0]["priced"] == 0


def test_price_table() -> None:
    assert price_of("gpt-4o-mini-2024-07-18") == price_of("gpt-4o-mini") == (0.15, 0.075, 0.60)
    assert price_of("llama3") is None
    assert cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd("gpt-4o-mini", 1_000_000, 0, cached=1_000_000) == pytest.approx(0.075)
    assert cost_usd("mystery-model", 10**6, 10**6) == 0


def test_importing_the_stage_modules_does_not_import_openai() -> None:
    code = ("import sys, aimon.remotes.llm, aimon.stages.diagnose, aimon.stages.diagnose.stage, aimon.redact; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'httpx2'))))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_servers_without_json_schema_support_get_json_mode_and_the_schema_in_the_prompt(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server, AIMON_LLM_MODEL="qwen2.5:7b")
    openai_server.reply(status=400, body={"error": {"message": "response_format type 'json_schema' is not supported", "type": "invalid_request_error"}})
    openai_server.reply(answer())
    result = ask(LLM(ctx))
    assert result.data == Diagnosis(**answer())
    first, second = (r.body for r in openai_server.requests)
    assert first["response_format"]["type"] == "json_schema"
    assert second["response_format"] == {"type": "json_object"}
    assert second["messages"][0]["content"] == "SYS\n\nAnswer with one JSON object that validates against this JSON Schema (every property " \
        "required, no other properties):\n" + json.dumps(SCHEMA, ensure_ascii=False)
    assert [c["outcome"] for c in calls(ctx)] == ["rejected", "ok"]


def test_other_bad_requests_are_not_retried(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    openai_server.reply(status=404, body={"error": {"message": "model 'gpt-9' not found"}})
    with pytest.raises(LLMInvalid, match="check AIMON_LLM_MODEL"):
        ask(LLM(ctx))
    assert len(openai_server.requests) == 1


# What is sent for a diagnosis: strict mode's shape (every property required, nothing else), and no bound keyword,
# since the endpoints differ in which they accept (the bounds are checked on our side, below).
EXPECTED_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "summary", "root_cause", "evidence", "suggested_fix", "severity", "category", "auto_fixable",
                 "auto_fixable_reason", "confidence", "insufficient_evidence"],
    "properties": {
        "title": {"type": "string", "description": "One line (under 100 characters) naming the failure, not the symptom."},
        "summary": {"type": "string", "description": "Two or three sentences: what fails, for whom, since when, how often."},
        "root_cause": {"type": "string", "description": "The most likely cause, grounded in the data; say what is inferred."},
        "evidence": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Context lines that support the diagnosis, each starting with its reference, e.g. '[T3] ...' or '[src/db.rs:42] ...'.",
        },
        "suggested_fix": {"type": "string", "description": "What to change or check first, concretely (file, function, setting)."},
        "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
        "category": {"type": "string", "enum": ["connectivity", "timeout", "dns", "tls", "resource-exhaustion", "database", "panic",
                                                "concurrency", "runtime-misuse", "configuration", "upstream", "rate-limit",
                                                "serialization", "validation", "permission", "storage", "memory", "logic", "unknown"]},
        "auto_fixable": {"type": "boolean", "description": "True only for a small, local, low-risk code change in the shown source."},
        "auto_fixable_reason": {"type": "string"},
        "confidence": {"type": "number", "description": "0 to 1: how sure the diagnosis is, given the evidence."},
        "insufficient_evidence": {"type": "boolean", "description": "True when the data does not support a confident cause."},
    },
}


def test_the_schema_sent_is_generated_from_the_model_in_strict_shape() -> None:
    assert SCHEMA == EXPECTED_SCHEMA
    assert list(SEVERITIES) == EXPECTED_SCHEMA["properties"]["severity"]["enum"]  # type: ignore[index]
    assert list(CATEGORIES) == EXPECTED_SCHEMA["properties"]["category"]["enum"]  # type: ignore[index]


@pytest.mark.parametrize("overrides", [
    {"title": "t" * 200}, {"summary": "s" * 2000}, {"root_cause": "r" * 4000}, {"suggested_fix": "f" * 4000},
    {"evidence": []}, {"evidence": ["e" * 1000] * 20}, {"confidence": 0}, {"confidence": 1}, {"auto_fixable_reason": "a" * 5000},
], ids=lambda o: next(iter(o)))
def test_answers_at_the_bounds_are_accepted(overrides: dict[str, Any]) -> None:
    Diagnosis.model_validate(answer(**overrides))


@pytest.mark.parametrize("overrides", [
    {"title": ""}, {"title": "t" * 201}, {"summary": "s" * 2001}, {"root_cause": "r" * 4001}, {"suggested_fix": "f" * 4001},
    {"evidence": ["e"] * 21}, {"evidence": ["e" * 1001]}, {"evidence": "one line"}, {"confidence": -0.01}, {"confidence": 1.01},
    {"confidence": "0.8"}, {"auto_fixable": 1}, {"insufficient_evidence": "false"}, {"title": 3}, {"severity": "catastrophic"},
    {"category": "cosmic-rays"}, {"extra": "not allowed"},
], ids=lambda o: f"{next(iter(o))}={str(next(iter(o.values())))[:12]}")
def test_answers_past_the_bounds_are_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Diagnosis.model_validate(answer(**overrides))


@pytest.mark.parametrize(("reply", "problem"), [
    ({k: v for k, v in answer().items() if k != "severity"}, "(top level): 'severity' is a required property"),
    (answer(extra=1), "(top level): Additional properties are not allowed ('extra' was unexpected)"),
    (answer(confidence=-0.5), "confidence: -0.5 is less than the minimum of 0"),
    (answer(evidence=["ok", 7]), "evidence/1: Input should be a valid string (got 7)"),
    (["a", "list"], "not a JSON object"),
])
def test_the_repair_request_names_the_first_problem(tmp_path: Path, openai_server: FakeOpenAI, reply: Any, problem: str) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    openai_server.reply(reply)
    openai_server.reply(answer())
    assert ask(LLM(ctx)).repaired
    assert openai_server.requests[1].body["messages"][3]["content"] == (
        f"That reply is not valid: {problem}. Reply again with only the JSON object, matching the schema exactly.")


def test_a_dry_run_sends_no_request_to_the_llm(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    ctx.dry_run = True
    openai_server.reply(answer())
    with pytest.raises(LLMUnavailable, match="dry run: no request is sent to the LLM"):
        ask(LLM(ctx))
    assert openai_server.requests == [] and calls(ctx) == []


def test_an_answer_without_usage_is_estimated_and_recorded_as_an_estimate(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    content = json.dumps(answer())
    openai_server.reply(answer(), usage=False)
    result = LLM(ctx).structured(purpose="diagnose", fingerprint="fp1", system="S" * 100, user="U" * 220,
                                 schema_name="diagnosis", answer=Diagnosis)
    # The provider counts the response format's schema as prompt too: 320 characters of messages plus the schema, at 3.2.
    schema = len(json.dumps(openai_server.requests[0].body["response_format"], separators=(",", ":")))
    expected = math.ceil((320 + schema) / 3.2)
    assert (result.tokens_in, result.tokens_out) == (expected, math.ceil(len(content) / 3.2))
    [row] = ctx.db.execute("SELECT tokens_in, tokens_out, cost_usd, usage_estimated FROM llm_calls").fetchall()
    assert (row["tokens_in"], row["usage_estimated"]) == (expected, 1)
    assert row["cost_usd"] == pytest.approx(cost_usd("gpt-4o-mini", expected, row["tokens_out"])) and row["cost_usd"] > 0
    assert monthly_spend(ctx.db) == pytest.approx(row["cost_usd"])


def test_an_answer_with_usage_is_not_an_estimate(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    openai_server.reply(answer())
    ask(LLM(ctx))
    assert ctx.db.execute("SELECT tokens_in, usage_estimated FROM llm_calls").fetchone()[:] == (900, 0)
