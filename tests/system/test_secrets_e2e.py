"""Nothing secret leaves the machine, end to end: a log with planted secrets in every field position goes through a
whole ``aimon run`` against the fake LLM, Discord and GitHub servers, and no captured request carries any of them.

The positions: the message, an event field, a span field, a panic's payload, the source snippet around the error's
``file:line``, and the request trail (an earlier line of the same request). The fake model even echoes a secret in
its diagnosis, as a model may: what aimon then sends to Discord and GitHub must still be clean.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aimon.remotes import github as github_client
from aimon.runtime import Runtime
from aimon.state.db import utcnow
from tests import envelope
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.github_server import FakeGitHub
from tests.fakes.openai_server import FakeOpenAI
from tests.redact.corpus import B64, HEX, URLSAFE, Maker
from tests.stages.diagnose.diagnose_support import answer

_m = Maker("secrets-e2e")
SECRETS = {
    "message": "gh" + "p_" + _m.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 36),
    "event field": _m.chars("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 14),  # a URL's password
    "event field (header)": _m.chars(URLSAFE, 40),  # a Bearer token
    "span field": "AK" + "IA" + _m.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16),
    "span field (session)": _m.chars(HEX, 32),
    "panic payload": _m.chars("abcdefghijklmnopqrstuvwxyz", 6) + _m.chars("0123456789", 3),
    "source snippet": "sk" + "_live_" + _m.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 24),
    "source snippet (const)": _m.chars(B64.replace("+", "").replace("/", ""), 24),
    "request trail": "np" + "m_" + _m.chars("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 36),
    "request trail (e-mail)": "carol.payer@" + "example.org",
    "model answer": "hv" + "s." + _m.chars(URLSAFE, 40),
}
SOURCE = f"""use reqwest::Client;

pub async fn charge(client: &Client, amount: u64) -> Result<(), PayError> {{
    const SIGNING_KEY: &str = "{SECRETS["source snippet (const)"]}";
    let psp_key = "{SECRETS["source snippet"]}";
    let response = client.post(PSP_URL).bearer_auth(psp_key).json(&amount).send().await?;
    if !response.status().is_success() {{
        return Err(PayError::Declined);
    }}
    Ok(())
}}
"""


def stamp(seconds_ago: float) -> str:
    return (utcnow() - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_lines() -> list[str]:
    request = {"name": "request", "request_id": "req-7f3a", "method": "POST", "uri": "/api/pay",
               "api_key": SECRETS["span field"], "session_id": SECRETS["span field (session)"]}
    trail = {"timestamp": stamp(62), "level": "INFO", "target": "shop::pay",
             "fields": {"message": f"charging with npm mirror token {SECRETS['request trail']} for {SECRETS['request trail (e-mail)']}"},
             "span": request, "spans": [request]}
    error = {"timestamp": stamp(60), "level": "ERROR", "target": "shop::pay", "filename": "src/pay.rs", "line_number": 6,
             "fields": {"message": f"payment declined, token {SECRETS['message']} rejected", "error_code": "PAY_DECLINED",
                        "db_url": f"postgres://pay:{SECRETS['event field']}@db.internal:5432/pay",
                        "authorization": f"Bearer {SECRETS['event field (header)']}"},
             "span": request, "spans": [request]}
    panic = ["thread 'tokio-runtime-worker' panicked at src/pay.rs:8:16:",
             f"login failed for admin with password '{SECRETS['panic payload']}'",
             "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"]
    return [json.dumps(trail), json.dumps(error), *panic]


@pytest.fixture
def servers(isolated: Path, openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOpenAI, FakeDiscord, FakeGitHub]]:
    discord, github = FakeDiscord(), FakeGitHub()
    monkeypatch.setattr(github_client, "WRITE_SPACING", 0.0)  # GitHub's second between writes: not in tests
    repo = isolated / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "pay.rs").write_text(SOURCE, encoding="utf-8")
    (isolated / "app.log").write_text("\n".join(log_lines()) + "\n", encoding="utf-8")
    env = {
        "AIMON_CONFIG": "", "AIMON_LOG_PATHS": str(isolated / "app.log"), "AIMON_REPO_DIR": str(repo),
        "OPENAI_API_KEY": "s" + "k-test-e2e-0123456789abcdefghij", "AIMON_LLM_BASE_URL": openai_server.base_url,
        "DISCORD_WEBHOOK_URL": discord.webhook_url,
        "GITHUB_TOKEN": github.token, "AIMON_GITHUB_REPO": github.repo, "AIMON_GITHUB_API_URL": github.api_url,
        "AIMON_ISSUE_MIN_SEVERITY": "low",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield openai_server, discord, github
    discord.close()
    github.close()


def captured(llm: FakeOpenAI, discord: FakeDiscord, github: FakeGitHub) -> list[tuple[str, str]]:
    """Every request that reached a remote, as (which, text of path, query and body); headers carry aimon's own
    credentials for that remote and nothing from the logs."""
    sent = [("llm", request.path + json.dumps(request.body)) for request in llm.requests]
    for name, server in (("discord", discord), ("github", github)):
        sent += [(name, request.path + json.dumps(request.query) + json.dumps(request.json)) for request in server.requests]
    return sent


def test_no_planted_secret_reaches_any_remote(servers: tuple[FakeOpenAI, FakeDiscord, FakeGitHub]) -> None:
    from aimon.cli.app import app

    llm, discord, github = servers
    echoed = answer(summary=f"The PSP rejected the key; the vault token {SECRETS['model answer']} was used.")
    for _ in range(4):
        llm.reply(echoed)
    result = CliRunner().invoke(app, ["run", "--json"], catch_exceptions=False, obj=Runtime())
    stages = envelope.result(result.stdout, result.exit_code, "run")["stages"]
    assert result.exit_code == 0, (result.stdout, result.stderr)

    prompts = [json.dumps(request.body) for request in llm.requests]
    assert len(prompts) >= 2, stages  # the error and the panic were diagnosed by the model
    assert any("src/pay.rs" in prompt and "bearer_auth" in prompt for prompt in prompts)  # the source snippet was sent
    # Not vacuous: every planted position did reach the model, as a placeholder that names its kind.
    for shape in ("<secret:github-token#", "postgres://pay:<secret:password#", "Bearer <secret:bearer#", "<secret:aws-key#",
                  "session_id=<secret:session#", "'<secret:password#", "<secret:stripe-key#", 'SIGNING_KEY: &str = \\"<secret:',
                  "<secret:npm-token#", "<email#"):
        assert any(shape in prompt for prompt in prompts), shape
    assert discord.posts, stages
    assert [request for request in github.requests if request.method == "POST" and request.path.endswith("/issues")], stages

    sent = captured(llm, discord, github)
    leaks = [(where, name) for where, text in sent for name, secret in SECRETS.items() if secret in text]
    assert leaks == []
