"""Token accounting: the provider's reported usage calibrates the estimate; the budget refuses before it overspends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aimon.config import load_settings
from aimon.model import Diagnosis
from aimon.remotes.llm import LLM, LLMUnavailable
from aimon.runtime import Context
from aimon.stages.diagnose.prompt import estimate_tokens
from aimon.state.db import open_db
from aimon.state.diagnoses import insert_llm_call, measured_ratio
from tests.fakes.openai_server import FakeOpenAI
from tests.stages.diagnose.diagnose_support import answer

KEY = "sk-test-0123456789abcdefghijklmnop"


def make_ctx(tmp_path: Path, server: FakeOpenAI, **env: str) -> Context:
    settings = load_settings(environ={"AIMON_DB": str(tmp_path / "state.db"), "AIMON_LLM_BASE_URL": server.base_url,
                                      "OPENAI_API_KEY": KEY, **env})
    return Context(settings=settings, db=open_db(settings.db_path))


def ask(llm: LLM, user: str = "USER") -> Any:
    return llm.structured(purpose="diagnose", fingerprint="fp1", system="SYS", user=user, schema_name="diagnosis", answer=Diagnosis)


def test_the_default_estimate_is_a_conservative_3_2_characters_per_token() -> None:
    assert estimate_tokens("x" * 320) == 100  # characters / 4 would say 80: a fifth too few for log text
    assert estimate_tokens("x" * 321) == 101 and estimate_tokens("") == 0


def test_reported_usage_is_kept_per_model_and_sets_the_next_estimate(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    assert LLM(ctx).chars_per_token() == 3.2  # nothing measured yet
    openai_server.reply(answer(), prompt_tokens=1000)
    ask(LLM(ctx), user="U" * 2000)
    [row] = ctx.db.execute("SELECT model, prompt_chars, tokens_in FROM llm_calls").fetchall()
    body = openai_server.requests[0].body
    sent = sum(len(m["content"]) for m in body["messages"]) + len(json.dumps(body["response_format"], separators=(",", ":")))
    assert (row["model"], row["prompt_chars"], row["tokens_in"]) == ("gpt-4o-mini", sent, 1000)
    assert LLM(ctx).chars_per_token() == pytest.approx(sent / 1000)
    assert measured_ratio(ctx.db, "gpt-4.1") is None  # per model: another model has no measurement


def test_estimated_usage_and_absurd_ratios_do_not_calibrate(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server)
    insert_llm_call(ctx.db, purpose="diagnose", fingerprint=None, model="gpt-4o-mini", prompt_hash="h", outcome="ok",
                    tokens_in=100, prompt_chars=320, estimated=True)
    insert_llm_call(ctx.db, purpose="diagnose", fingerprint=None, model="m2", prompt_hash="h", outcome="ok", tokens_in=10, prompt_chars=5000)
    assert measured_ratio(ctx.db, "gpt-4o-mini") is None and measured_ratio(ctx.db, "m2") is None


def test_the_budget_refuses_a_call_that_would_overspend_before_sending_it(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    ctx = make_ctx(tmp_path, openai_server, AIMON_LLM_MONTHLY_BUDGET_USD="0.0004")
    insert_llm_call(ctx.db, purpose="diagnose", fingerprint=None, model="gpt-4o-mini", prompt_hash="h", outcome="ok",
                    tokens_in=1000, tokens_out=100, cost_usd=0.0002, prompt_chars=3200)
    openai_server.reply(answer())
    # 0.0002 spent; a 40k-character prompt is ~12.5k tokens, about $0.0019 more: refused, nothing sent.
    with pytest.raises(LLMUnavailable, match=r"plus this call's estimated \$0\.00\d+ would pass AIMON_LLM_MONTHLY_BUDGET_USD"):
        ask(LLM(ctx), user="U" * 40_000)
    assert openai_server.requests == []
    ask(LLM(ctx), user="small")  # a call that fits is still made
    assert len(openai_server.requests) == 1
