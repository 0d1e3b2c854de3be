"""Faults: every remote fails in every way, and nothing is lost — the work waits and completes once it recovers.

One parametrized matrix through the real pipeline (``aimon run``) against real loopback servers (real sockets, real
timeouts): Discord (``tests/fakes/discord_server.py``), GitHub (``tests/fakes/github_server.py``, spoken to by
PyGithub), the LLM (``tests/fakes/openai_server.py``, spoken to by the ``openai`` SDK) and Loki
(``tests/fakes/loki_server.py``). Each case: the remote fails on the first run → the exact pending state is asserted
(outbox row, missing diagnosis, unmoved checkpoint) and the exit code; the remote recovers and the outbox clock
moves past the retry time → the next run completes the work, and the exact final state is asserted (one alert, one
issue, one diagnosis, every line counted once); a last run sends nothing new.

The per-stage suites test the same failures with ``responses`` and exact request bodies (see the report of this suite
for the table); this file is the one place where the whole matrix is proven end to end.

Then the local faults: a full disk under the state file, a log file that is read-only or unreadable, and a log path
that does not exist yet.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import aimon.logs.loki as loki_source
from aimon.remotes import discord as discord_http
from aimon.remotes import github as github_client
from aimon.runtime import Runtime
from aimon.state.db import iso, utcnow
from tests import envelope
from tests.fakes.discord_server import FakeDiscord, fingerprint_of, rate_limited
from tests.fakes.github_server import FakeGitHub, primary_rate_limit, secondary_rate_limit
from tests.fakes.loki_server import FakeLoki
from tests.fakes.openai_server import FakeOpenAI
from tests.stages.diagnose.diagnose_support import answer

KEY = "sk-test-faults-0123456789abcdefghij"
QUERY = '{job="app"} |~ "(?i)error|panic"'
MESSAGES = ("timed out waiting for a connection from the pool after 5000ms",
            "timed out waiting for a connection from the pool after 5003ms")


class Clock:
    """The outbox's wall clock, starting now and moved by the test."""

    def __init__(self) -> None:
        self.at = utcnow().replace(microsecond=0)  # whole seconds, as GitHub's reset header has them

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class Remotes:
    discord: FakeDiscord
    github: FakeGitHub
    llm: FakeOpenAI
    loki: FakeLoki
    clock: Clock
    monkeypatch: pytest.MonkeyPatch
    folder: Path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def remotes(isolated: Path, openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Iterator[Remotes]:
    discord, github, loki = FakeDiscord(), FakeGitHub(), FakeLoki()
    monkeypatch.setattr(github_client, "WRITE_SPACING", 0.0)  # GitHub's second between writes: not in tests
    monkeypatch.setattr(loki_source, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setenv("AIMON_CONFIG", "")  # no aimon.toml
    yield Remotes(discord, github, openai_server, loki, clock, monkeypatch, isolated)
    for server in (discord, github, loki):
        server.close()


def stamp(seconds_ago: float) -> str:
    return (utcnow() - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_line(message: str, seconds_ago: float, request_id: str) -> str:
    return json.dumps({
        "timestamp": stamp(seconds_ago), "level": "ERROR", "target": "shop::handlers::orders",
        "fields": {"message": message, "error_code": "DB_POOL_TIMEOUT"}, "filename": "src/handlers/orders.rs",
        "line_number": 26, "span": {"request_id": request_id, "name": "request"},
    })


def write_log(path: Path, count: int = 2, seconds_ago: float = 60.0) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for index in range(count):
            handle.write(error_line(MESSAGES[index % 2], seconds_ago - index, f"req-{index}") + "\n")


def rows(folder: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    conn = sqlite3.connect(folder / "state.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def only_fingerprint(folder: Path) -> str:
    [row] = rows(folder, "SELECT fingerprint FROM fingerprints")
    return str(row["fingerprint"])


def delivery(folder: Path, channel: str) -> dict[str, Any]:
    [row] = rows(folder, "SELECT status, attempts, next_attempt_at, last_error, remote_id FROM deliveries WHERE channel = ?", channel)
    return row


def stage(result: Any, name: str) -> dict[str, Any]:
    return dict(result.json()["stages"][name])


# -- the remotes: how each is configured, what "pending" and "done" look like --------------------------------------


def use_discord(r: Remotes) -> None:
    r.monkeypatch.setenv("DISCORD_WEBHOOK_URL", r.discord.webhook_url)
    r.monkeypatch.setattr(discord_http, "READ_TIMEOUT", 0.3)
    write_log(r.folder / "app.log")
    r.monkeypatch.setenv("AIMON_LOG_PATHS", str(r.folder / "app.log"))


def discord_done(r: Remotes, attempts: int) -> None:
    fingerprint = only_fingerprint(r.folder)
    [post] = r.discord.posts
    assert fingerprint_of(post.json) == fingerprint
    assert post.json["allowed_mentions"] == {"parse": []}
    assert delivery(r.folder, "discord") == {"status": "sent", "attempts": attempts, "next_attempt_at": None,
                                             "last_error": None, "remote_id": post_id(r, post)}


def post_id(r: Remotes, post: Any) -> str:
    [message_id] = [mid for mid, message in r.discord.messages.items() if message["embeds"] == post.json["embeds"]]
    return message_id


def use_github(r: Remotes) -> None:
    r.monkeypatch.setenv("GITHUB_TOKEN", r.github.token)
    r.monkeypatch.setenv("AIMON_GITHUB_REPO", r.github.repo)
    r.monkeypatch.setenv("AIMON_GITHUB_API_URL", r.github.api_url)
    r.monkeypatch.setenv("AIMON_ISSUE_MIN_SEVERITY", "low")
    r.monkeypatch.setattr(github_client, "TIMEOUT", 1)  # PyGithub's timeout: 1 s (its minimum) instead of 15
    write_log(r.folder / "app.log")
    r.monkeypatch.setenv("AIMON_LOG_PATHS", str(r.folder / "app.log"))


def github_done(r: Remotes, attempts: int) -> None:
    fingerprint = only_fingerprint(r.folder)
    [issue] = r.github.with_marker(f"<!-- aimon:fingerprint={fingerprint} -->")
    assert len(r.github.issues) == 1, "exactly one issue, whatever failed before"
    assert issue["labels"][0]["name"] == "aimon"
    assert rows(r.folder, "SELECT fingerprint, number, state FROM issues") == [
        {"fingerprint": fingerprint, "number": issue["number"], "state": "open"}]
    assert delivery(r.folder, "github-issue") == {"status": "sent", "attempts": attempts, "next_attempt_at": None,
                                                  "last_error": None, "remote_id": str(issue["number"])}


def use_llm(r: Remotes) -> None:
    r.monkeypatch.setenv("OPENAI_API_KEY", KEY)
    r.monkeypatch.setenv("AIMON_LLM_BASE_URL", r.llm.base_url)
    write_log(r.folder / "app.log")
    r.monkeypatch.setenv("AIMON_LOG_PATHS", str(r.folder / "app.log"))


def diagnoses(r: Remotes) -> list[dict[str, Any]]:
    return rows(r.folder, "SELECT fingerprint, source, model, note FROM diagnoses ORDER BY id")


def llm_outcomes(r: Remotes) -> list[str]:
    return [row["outcome"] for row in rows(r.folder, "SELECT outcome FROM llm_calls ORDER BY id")]


def use_loki(r: Remotes) -> None:
    r.monkeypatch.setenv("AIMON_SOURCE", "loki")
    r.monkeypatch.setenv("AIMON_LOKI_URL", r.loki.url)
    r.monkeypatch.setenv("AIMON_LOKI_QUERY", QUERY)
    now_ns = int(utcnow().timestamp() * 1e9)
    lines = [error_line(MESSAGES[i % 2], 60 - i, f"req-{i}") for i in range(2)]
    r.loki.push({"job": "app"}, [(now_ns - (60 - i) * 10**9, line) for i, line in enumerate(lines)])


def loki_done(r: Remotes) -> None:
    assert rows(r.folder, "SELECT error_code, count FROM fingerprints") == [{"error_code": "DB_POOL_TIMEOUT", "count": 2}]
    assert [row["kind"] for row in rows(r.folder, "SELECT kind FROM detections")] == ["new"]


# -- the matrix -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``inject`` makes the remote fail; ``pending`` checks the first run; ``heal`` lets it recover (and time pass);
    ``done`` checks the final state."""

    inject: Callable[[Remotes], None]
    pending: Callable[[Remotes, Any], None]
    heal: Callable[[Remotes], None]
    done: Callable[[Remotes], None]
    setup: Callable[[Remotes], None]


def discord_case(inject: Callable[[Remotes], None], pending: Callable[[Remotes, Any], None], wait: float,
                 heal: Callable[[Remotes], None] | None = None, attempts: int = 2) -> Case:
    def healed(r: Remotes) -> None:
        r.clock.advance(wait)
        if heal:
            heal(r)

    return Case(inject, pending, healed, lambda r: discord_done(r, attempts), use_discord)


def discord_pending(attempts: int, error: str, due_in: float) -> Callable[[Remotes, Any], None]:
    def check(r: Remotes, result: Any) -> None:
        assert result.exit_code == 0, result.stderr
        row = delivery(r.folder, "discord")
        assert row["status"] == "pending" and row["attempts"] == attempts and row["remote_id"] is None
        assert row["last_error"].startswith(error), row
        assert row["next_attempt_at"] == iso(r.clock.at + timedelta(seconds=due_in))
        assert r.discord.posts == []

    return check


def discord_gone(r: Remotes, result: Any) -> None:
    assert result.exit_code == 1
    assert "the Discord webhook answered HTTP 404 Unknown Webhook" in stage(result, "notify")["error"]
    row = delivery(r.folder, "discord")
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, "Discord: webhook gone (HTTP 404 Unknown Webhook)")
    asked = len(r.discord.requests)
    again = run(r)  # the same URL is not tried again: the alert stays queued, the run says why
    assert again.exit_code == 1 and len(r.discord.requests) == asked
    assert delivery(r.folder, "discord")["status"] == "pending"


def new_webhook(r: Remotes) -> None:
    r.monkeypatch.setenv("DISCORD_WEBHOOK_URL", r.discord.add_webhook("223344556677889900", "Replaced-Token"))


def short_429_sent_in_the_same_tick(r: Remotes, result: Any) -> None:
    assert result.exit_code == 0
    assert [request.status for request in r.discord.requests] == [429, 200]
    discord_done(r, attempts=1)


def github_case(inject: Callable[[Remotes], None], pending: Callable[[Remotes, Any], None], wait: float, attempts: int) -> Case:
    return Case(inject, pending, lambda r: r.clock.advance(wait), lambda r: github_done(r, attempts), use_github)


def github_pending(attempts: int, error: str, due_in: float) -> Callable[[Remotes, Any], None]:
    def check(r: Remotes, result: Any) -> None:
        assert result.exit_code == 0, result.stderr  # a rate limit or an outage is not a failure of the stage
        row = delivery(r.folder, "github-issue")
        assert row["status"] == "pending" and row["attempts"] == attempts and row["remote_id"] is None
        assert row["last_error"].startswith(error), row
        assert row["next_attempt_at"] == iso(r.clock.at + timedelta(seconds=due_in))
        assert rows(r.folder, "SELECT * FROM issues") == []

    return check


def lagging_search_and_late_create(r: Remotes) -> None:
    r.github.search_lag = 3600.0
    r.github.answer_late(1.6, method="POST")


def created_but_unanswered(r: Remotes, result: Any) -> None:
    assert result.exit_code == 0, result.stderr
    row = delivery(r.folder, "github-issue")
    assert (row["status"], row["attempts"]) == ("pending", 1) and row["last_error"].startswith("GitHub unreachable (")
    assert len(r.github.issues) == 1  # GitHub did create it; aimon could not know


def llm_case(replies: list[dict[str, Any]], pending: Callable[[Remotes, Any], None], done: Callable[[Remotes], None],
             timeout: str | None = None) -> Case:
    def inject(r: Remotes) -> None:
        if timeout:
            r.monkeypatch.setenv("AIMON_LLM_TIMEOUT", timeout)
        for reply in replies:
            r.llm.reply(**reply)

    def heal(r: Remotes) -> None:
        r.monkeypatch.delenv("AIMON_LLM_TIMEOUT", raising=False)
        r.llm.replies.clear()  # failing until now (however many retries the SDK made), answering from now on
        r.llm.reply(answer(title="Connection pool exhausted"))

    return Case(inject, pending, heal, done, use_llm)


def llm_pending(outcome: str, reason: str) -> Callable[[Remotes, Any], None]:
    def check(r: Remotes, result: Any) -> None:
        assert result.exit_code == 0, result.stderr
        fingerprint = only_fingerprint(r.folder)
        assert stage(result, "diagnose")["result"]["pending"] == [{"fingerprint": fingerprint, "reason": reason}]
        assert diagnoses(r) == []
        assert set(llm_outcomes(r)) == {outcome}

    return check


def llm_diagnosed(outcomes: list[str], note: str | None = None) -> Callable[[Remotes], None]:
    def check(r: Remotes) -> None:
        fingerprint = only_fingerprint(r.folder)
        assert diagnoses(r) == [{"fingerprint": fingerprint, "source": "llm", "model": "gpt-4o-mini", "note": note}]
        assert llm_outcomes(r)[-len(outcomes):] == outcomes

    return check


def repaired_in_the_same_run(outcomes: list[str]) -> Callable[[Remotes, Any], None]:
    def check(r: Remotes, result: Any) -> None:
        assert result.exit_code == 0
        [diagnosed] = stage(result, "diagnose")["result"]["diagnosed"]
        assert diagnosed["source"] == "llm"
        assert llm_outcomes(r) == outcomes
        assert len(r.llm.requests) == 2
        repair = r.llm.requests[1].body["messages"][-1]["content"]
        assert repair.startswith("That reply is not valid:")

    return check


def offline_instead(r: Remotes, result: Any) -> None:
    assert result.exit_code == 0
    [row] = diagnoses(r)
    assert row["source"] == "heuristic" and row["note"].startswith("LLM answer unusable, offline diagnosis instead")
    assert llm_outcomes(r) == ["invalid", "invalid"]


def still_offline(r: Remotes) -> None:
    # Recorded as such: the recovered LLM is not asked again for this fingerprint (no third request).
    assert [row["source"] for row in diagnoses(r)] == ["heuristic"]
    assert len(r.llm.requests) == 2


def replies(r: Remotes, *contents: Any) -> None:
    """The model's next answers, in order."""
    for content in contents:
        r.llm.reply(content)


def loki_case(inject: Callable[[Remotes], None]) -> Case:
    def pending(r: Remotes, result: Any) -> None:
        assert result.exit_code == 1
        assert stage(result, "scan")["status"] == "failed"
        assert "next tick retries" in stage(result, "scan")["error"]
        assert rows(r.folder, "SELECT * FROM fingerprints") == []
        assert rows(r.folder, "SELECT * FROM checkpoints") == []

    return Case(inject, pending, lambda r: None, loki_done, use_loki)


def _loki_timeout(r: Remotes) -> None:
    r.monkeypatch.setattr(loki_source, "TIMEOUT", (1.0, 0.1))
    r.loki.fail(200, delay=0.3, times=3)  # the request and both retries time out


CASES: dict[str, Case] = {
    "discord-429-retry_after-short": Case(lambda r: r.discord.queue(rate_limited(0.2)), short_429_sent_in_the_same_tick,
                                          lambda r: None, lambda r: discord_done(r, 1), use_discord),
    "discord-429-retry_after-long": discord_case(lambda r: r.discord.queue(rate_limited(30.0)),
                                                 discord_pending(0, "Discord: rate limited for 30.0s", 30), 31, attempts=1),
    "discord-500": discord_case(lambda r: r.discord.fail(500, body={"message": "500: Internal Server Error", "code": 0}),
                                discord_pending(1, "Discord: HTTP 500", 60), 61),
    "discord-timeout": discord_case(lambda r: r.discord.fail(504, delay=1.0),
                                    discord_pending(1, "Discord: timed out", 60), 61),
    "discord-404": discord_case(lambda r: r.discord.delete_webhook(), discord_gone, 0, heal=new_webhook, attempts=1),
    "github-403-primary-rate-limit": github_case(
        lambda r: r.github.queue(primary_rate_limit(r.clock.at.timestamp() + 120)),
        github_pending(0, "GitHub 403: API rate limit exceeded", 120), 121, attempts=1),
    "github-403-secondary-rate-limit": github_case(
        lambda r: r.github.queue(secondary_rate_limit(60)),
        github_pending(0, "GitHub 403: You have exceeded a secondary rate limit", 60), 61, attempts=1),
    "github-502": github_case(lambda r: r.github.fail(502, body={"message": "Server Error"}),
                              github_pending(1, "GitHub 502: Server Error", 60), 61, attempts=2),
    "github-timeout": github_case(lambda r: r.github.fail(502, delay=1.6),
                                  github_pending(1, "GitHub unreachable (", 60), 61, attempts=2),
    "github-timeout-after-the-issue-was-created": github_case(
        lambda r: r.github.answer_late(1.6, method="POST"), created_but_unanswered, 61, attempts=2),
    # GitHub's search index has not caught up a minute later: the issue list (which never lags) finds the issue.
    "github-timeout-after-the-issue-was-created-search-lagging": github_case(
        lagging_search_and_late_create, created_but_unanswered, 61, attempts=2),
    "llm-429": llm_case([{"status": 429, "body": {"error": {"message": "Rate limit reached"}}, "headers": {"retry-after-ms": "1"}}] * 5,
                        llm_pending("rate_limited", "the LLM endpoint answered HTTP 429; it will be retried next tick"),
                        llm_diagnosed(["ok"])),
    "llm-500": llm_case([{"status": 500, "body": {"error": {"message": "The server had an error"}}, "headers": {"retry-after-ms": "1"}}] * 5,
                        llm_pending("server_error", "the LLM endpoint answered HTTP 500; it will be retried next tick"),
                        llm_diagnosed(["ok"])),
    # Under a tick budget a call's timeout is at least 1 s (aimon/diagnose/stage.py, _call_limits).
    "llm-timeout": llm_case([{"content": json.dumps(answer()), "delay": 1.5}] * 3,
                            llm_pending("timeout", "the LLM request timed out after 1s; it will be retried next tick"),
                            llm_diagnosed(["ok"]), timeout="1s"),
    "llm-invalid-json": Case(lambda r: replies(r, "{not json", answer()),
                             repaired_in_the_same_run(["invalid", "ok"]), lambda r: None,
                             llm_diagnosed(["invalid", "ok"], "repaired after one invalid answer"), use_llm),
    "llm-schema-violating-json": Case(lambda r: replies(r, {"title": "only a title"}, answer()),
                                      repaired_in_the_same_run(["invalid", "ok"]), lambda r: None,
                                      llm_diagnosed(["invalid", "ok"], "repaired after one invalid answer"), use_llm),
    "llm-invalid-twice-offline-instead": Case(lambda r: replies(r, "{not json", {"title": 3}),
                                              offline_instead, lambda r: r.llm.reply(answer()), still_offline, use_llm),
    "loki-500": loki_case(lambda r: r.loki.fail(500, times=3)),
    "loki-timeout": loki_case(_loki_timeout),
}


def run(r: Remotes) -> Any:
    from typer.testing import CliRunner

    from aimon.cli.app import app

    result = CliRunner().invoke(app, ["run", "--json"], catch_exceptions=False, obj=Runtime(clock=r.clock))
    result.json = lambda: envelope.result(result.stdout, result.exit_code, "run")  # type: ignore[attr-defined]
    return result


@pytest.mark.parametrize("name", list(CASES))
def test_a_failing_remote_delays_the_work_and_loses_nothing(name: str, remotes: Remotes) -> None:
    case = CASES[name]
    case.setup(remotes)
    case.inject(remotes)

    first = run(remotes)
    case.pending(remotes, first)

    case.heal(remotes)
    second = run(remotes)
    assert second.exit_code == 0, second.stderr
    case.done(remotes)

    # Once done, done: another tick sends nothing new anywhere.
    before = (len(remotes.discord.posts), len(remotes.github.created), len(remotes.llm.requests))
    remotes.clock.advance(3600)
    assert run(remotes).exit_code == 0
    assert (len(remotes.discord.posts), len(remotes.github.created), len(remotes.llm.requests)) == before


# -- local faults ---------------------------------------------------------------------------------------------------


def distinct_errors(path: Path, first: int, count: int) -> None:
    """``count`` errors of as many kinds (error codes), so that recording them takes many rows."""
    with path.open("a", encoding="utf-8") as handle:
        for index in range(first, first + count):
            handle.write(json.dumps({"timestamp": stamp(30), "level": "ERROR", "target": "shop",
                                     "fields": {"message": f"failure number {index}", "error_code": f"E{index}"}}) + "\n")


def aimon_with_file_size_limit(folder: Path, limit: int | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``aimon ARGS`` in a child process that cannot write past ``limit`` bytes in any file (RLIMIT_FSIZE): to SQLite
    the state file's disk is full. SIGXFSZ is ignored so the write fails (EFBIG) instead of killing the process."""

    def limited() -> None:
        assert limit is not None
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {key: value for key, value in os.environ.items() if key != "AIMON_DEBUG"}
    return subprocess.run([sys.executable, "-m", "aimon", *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=60, check=False, preexec_fn=limited if limit is not None else None)


def integrity(db: Path) -> list[tuple[str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def test_a_full_disk_under_the_state_file_is_a_clear_error_and_corrupts_nothing(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, db = isolated / "app.log", isolated / "state.db"
    monkeypatch.setenv("AIMON_LOG_PATHS", str(log))
    distinct_errors(log, 0, 20)
    assert aimon_with_file_size_limit(isolated, None, "run").returncode == 0
    before = rows(isolated, "SELECT fingerprint, count FROM fingerprints ORDER BY fingerprint")
    checkpoint = rows(isolated, "SELECT offset FROM checkpoints")
    distinct_errors(log, 20, 3000)  # recording 3,000 new kinds needs far more room than the limit leaves

    full = aimon_with_file_size_limit(isolated, db.stat().st_size, "run", "--json")
    assert full.returncode == 1
    scan = envelope.result(full.stdout, full.returncode, "run")["stages"]["scan"]
    assert scan["status"] == "failed"
    assert scan["error"].startswith(f"StateError: state file {db}: ")
    assert "Free space on its disk" in scan["error"] and "the next run does it again" in scan["error"]
    assert integrity(db) == [("ok",)]
    assert rows(isolated, "SELECT fingerprint, count FROM fingerprints ORDER BY fingerprint") == before
    assert rows(isolated, "SELECT offset FROM checkpoints") == checkpoint

    alone = aimon_with_file_size_limit(isolated, db.stat().st_size, "scan")  # a stage on its own: the same words
    assert alone.returncode == 1
    assert alone.stderr.startswith(f"aimon: state file {db}: ") and "Traceback" not in alone.stderr

    assert aimon_with_file_size_limit(isolated, None, "run").returncode == 0  # space again: nothing lost, nothing twice
    assert integrity(db) == [("ok",)]
    counts = rows(isolated, "SELECT error_code, count FROM fingerprints")
    assert len(counts) == 3020 and {row["count"] for row in counts} == {1}


def test_a_full_disk_before_the_state_file_exists_is_a_clear_error(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMON_LOG_PATHS", str(isolated / "app.log"))
    distinct_errors(isolated / "app.log", 0, 3)
    result = aimon_with_file_size_limit(isolated, 0, "run")
    assert result.returncode == 1
    assert result.stderr.startswith(f"aimon: state file {isolated / 'state.db'}: ")
    assert "free space" in result.stderr and "Traceback" not in result.stderr


def test_a_read_only_log_file_is_read_like_any_other(cli: Any, isolated: Path) -> None:
    log = isolated / "app.log"
    write_log(log)
    log.chmod(0o444)  # aimon never writes to a log
    result = cli("scan", str(log), "--json")
    assert result.exit_code == 0
    assert result.json()["lines"] == 2
    assert rows(isolated, "SELECT count FROM fingerprints") == [{"count": 2}]


def test_an_unreadable_log_path_is_reported_and_read_once_it_can_be(cli: Any, isolated: Path) -> None:
    log = isolated / "app.log"
    if os.geteuid() == 0:
        log.mkdir()  # root reads any file: an unreadable path here is a directory where the log should be
    else:
        write_log(log)
        log.chmod(0)
    other = isolated / "other.log"
    write_log(other)
    result = cli("scan", str(log), str(other), "--json")
    assert result.exit_code == 1  # a blind spot fails the scan, loudly…
    [source, fine] = result.json()["sources"]
    assert source["note"].startswith(f"{log}: cannot read it"), source
    assert source["up"] is False and source["problem"].startswith("cannot read it (")
    assert f"scan: {log}: cannot read it (" in result.stderr
    assert result.json()["errors"] == [f"{log}: {source['problem']}"]
    assert fine["up"] is True and result.json()["lines"] == 2  # …and does not stop the others
    assert rows(isolated, "SELECT up, problem FROM source_health WHERE source = ?", str(log)) == [{"up": 0, "problem": source["problem"]}]
    triage = cli("scan", str(log), "--since", "1h", "--json")  # read-only triage says so too, and does not crash
    assert triage.exit_code == 1
    assert triage.json()["sources"][0]["note"].startswith(f"{log}: cannot read it")

    if os.geteuid() == 0:
        log.rmdir()
        write_log(log)
    else:
        log.chmod(0o644)
    again = cli("scan", str(log), "--json")
    assert again.exit_code == 0 and again.json()["lines"] == 2  # from the start, once
    assert rows(isolated, "SELECT count FROM fingerprints") == [{"count": 4}]  # its two and the other log's two
    assert rows(isolated, "SELECT up FROM source_health WHERE source = ?", str(log)) == [{"up": 1}]


def test_a_log_path_that_does_not_exist_yet_is_read_from_the_start_once_it_appears(cli: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = isolated / "logs" / "app.log"
    monkeypatch.setenv("AIMON_LOG_PATHS", str(log))
    first = cli("run", "--json")
    assert first.exit_code == 1  # a monitor that cannot see says so: the scan stage fails, the others still run
    [source] = first.json()["stages"]["scan"]["result"]["sources"]
    assert source == {"source": str(log), "note": f"{log}: no such file (yet)", "lines": 0, "bytes": 0, "up": False,
                      "problem": "no such file", "since": source["since"]}
    assert first.json()["stages"]["scan"]["error"] == f"{log}: no such file"
    assert first.json()["stages"]["notify"]["status"] == "ok"
    text = cli("scan")
    assert text.exit_code == 1 and f"{log}: no such file (yet)" in text.stdout

    log.parent.mkdir()
    write_log(log)
    second = cli("run", "--json")
    assert second.exit_code == 0
    assert second.json()["stages"]["scan"]["result"]["lines"] == 2
    assert rows(isolated, "SELECT count FROM fingerprints") == [{"count": 2}]
    assert [row["kind"] for row in rows(isolated, "SELECT kind FROM detections")] == ["new"]
