"""``aimon notify`` against a mocked Discord: the exact requests that leave, and the outbox rows they leave behind."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses

from aimon import PROJECT_URL, __version__
from aimon.stages.delivery import pending_and_failed
from aimon.state.db import iso, transaction
from tests.stages.delivery_support import (
    FP,
    POST_URL,
    T0,
    WEBHOOK,
    Clock,
    bodies,
    connect,
    db_path,
    deliveries,
    diagnose,
    rows,
    seed,
)

RATE_LIMITED = {"message": "You are being rate limited.", "retry_after": 0.01, "global": False}


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", WEBHOOK)
    return WEBHOOK


@pytest.fixture
def discord() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def sent_json(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


EXPECTED_FIRST_ALERT = {
    "content": "**New error** (high): Database pool exhausted under load",
    "embeds": [
        {
            "title": "New error: Database pool exhausted under load",
            "description": (
                "Requests wait for a pooled connection and time out.\n\n"
                "**Root cause**\nThe pool has 5 connections; checkout holds one during a slow HTTP call.\n\n"
                "**Suggested fix**\nRelease the connection before calling the payment API.\n\n"
                "```\nconnection pool exhausted after 30s\n```"
            ),
            "color": 0xE67E22,
            "fields": [
                {"name": "Severity", "value": "high", "inline": True},
                {"name": "Error code", "value": "E\\_DB\\_POOL", "inline": True},
                {"name": "Count", "value": "3 total, 3 in the window", "inline": True},
                {"name": "First seen", "value": "2030-01-02 01:50:00 UTC", "inline": True},
                {"name": "Last seen", "value": "2030-01-02 02:00:00 UTC", "inline": True},
                {"name": "Target", "value": "shop::db", "inline": True},
                {"name": "Request id", "value": "req-7f3a", "inline": True},
                {"name": "Fingerprint", "value": f"`{FP}`", "inline": True},
            ],
            "footer": {"text": "aimon · detection #1 · diagnosis: llm gpt-4o-mini (80% confident)"},
            "timestamp": "2030-01-02T02:00:00.000000Z",
        }
    ],
    "allowed_mentions": {"parse": []},
}


def test_first_alert_posts_one_embed_and_records_the_message(cli, clock, webhook, discord) -> None:
    seed()
    diagnose()
    discord.add(responses.POST, POST_URL, json={"id": "1190000000000000001", "channel_id": "42"})

    result = cli("notify", "--json")

    assert result.exit_code == 0, result.stderr
    assert len(discord.calls) == 1
    request = discord.calls[0].request
    assert request.url == POST_URL
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"DiscordBot ({PROJECT_URL}, {__version__})"
    assert sent_json(discord.calls[0]) == EXPECTED_FIRST_ALERT
    assert result.json()["sent"] == [
        {"message_id": "1190000000000000001", "kind": "alert", "deliveries": [1], "fingerprints": [FP]}
    ]
    [row] = deliveries()
    assert (row["channel"], row["status"], row["attempts"], row["remote_id"]) == ("discord", "sent", 1, "1190000000000000001")
    [message] = rows("SELECT * FROM discord_messages")
    assert (message["kind"], message["fingerprint"], message["diagnosis_id"], message["issue_url"]) == ("alert", FP, 1, None)

    again = cli("notify", "--json")  # nothing new: nothing sent twice
    assert again.exit_code == 0
    assert len(discord.calls) == 1


def test_the_webhook_url_never_appears_in_output(cli, clock, webhook, discord) -> None:
    seed()
    discord.add(responses.POST, POST_URL, status=502, json={"message": "Bad Gateway"})
    result = cli("notify", "--json")
    text = cli("notify")
    for output in (result.stdout, result.stderr, text.stdout, text.stderr, json.dumps(deliveries())):
        assert "Sup3rS3cretWebhookToken" not in output


def test_a_storm_becomes_one_digest_and_every_row_points_at_it(cli, clock, webhook, discord) -> None:
    for index in range(7):
        seed(fingerprint=f"{index:016x}", message=f"failure number {index} in handler")
    discord.add(responses.POST, POST_URL, json={"id": "777"})

    result = cli("notify", "--json")

    assert result.exit_code == 0, result.stderr
    assert len(discord.calls) == 1
    payload = sent_json(discord.calls[0])
    assert payload["content"] == "**7 alerts** at once: one digest instead of 7 messages."
    assert payload["allowed_mentions"] == {"parse": []}
    [embed] = payload["embeds"]
    assert embed["title"] == "aimon digest: 7 alerts"
    lines = embed["description"].split("\n")
    assert len(lines) == 7
    assert lines[0] == "**medium** · New error: E\\_DB\\_POOL: failure number 0 in handler · 3× · `0000000000000000`"
    assert [(row["status"], row["remote_id"]) for row in deliveries()] == [("sent", "777")] * 7
    assert result.json()["sent"][0]["kind"] == "digest"
    assert rows("SELECT kind, fingerprint, edit_state FROM discord_messages") == [
        {"kind": "digest", "fingerprint": None, "edit_state": "closed"}
    ]


def test_at_the_threshold_alerts_still_go_one_by_one(cli, clock, webhook, discord, monkeypatch) -> None:
    monkeypatch.setenv("AIMON_DIGEST_THRESHOLD", "2")
    seed(fingerprint="a" * 16)
    seed(fingerprint="b" * 16)
    discord.add(responses.POST, POST_URL, json={"id": "1"})
    discord.add(responses.POST, POST_URL, json={"id": "2"})
    assert cli("notify").exit_code == 0
    assert [sent_json(call)["embeds"][0]["fields"][-1]["value"] for call in discord.calls] == ["`" + "a" * 16 + "`", "`" + "b" * 16 + "`"]
    assert [row["remote_id"] for row in deliveries()] == ["1", "2"]


def test_429_is_waited_out_within_the_tick_then_sent(cli, clock, webhook, discord) -> None:
    seed()
    discord.add(responses.POST, POST_URL, status=429, json=RATE_LIMITED, headers={"Retry-After": "1"})
    discord.add(responses.POST, POST_URL, json={"id": "900"})

    result = cli("notify", "--json")

    assert result.exit_code == 0
    assert [call.request.url for call in discord.calls] == [POST_URL, POST_URL]
    assert sent_json(discord.calls[0]) == sent_json(discord.calls[1])
    [row] = deliveries()
    assert (row["status"], row["remote_id"], row["attempts"]) == ("sent", "900", 1)


def test_a_long_429_leaves_the_alert_pending_without_counting_a_failure(cli, clock, webhook, discord) -> None:
    seed()
    discord.add(responses.POST, POST_URL, status=429, json={**RATE_LIMITED, "retry_after": 120.5})

    result = cli("notify", "--json")

    assert result.exit_code == 0
    assert len(discord.calls) == 1
    [row] = deliveries()
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["next_attempt_at"] == iso(T0 + timedelta(seconds=120.5))
    assert row["last_error"] == "Discord: rate limited for 120.5s"


def test_5xx_backs_off_and_is_retried_on_a_later_tick(cli, clock, webhook, discord) -> None:
    seed(fingerprint="a" * 16)
    seed(fingerprint="b" * 16)
    discord.add(responses.POST, POST_URL, status=503, json={"message": "upstream"})

    first = cli("notify", "--json")

    assert first.exit_code == 0
    assert len(discord.calls) == 1  # an outage stops the tick: the second alert is not tried against it
    assert [(row["status"], row["attempts"], row["next_attempt_at"]) for row in deliveries()] == [
        ("pending", 1, iso(T0 + timedelta(seconds=60))),
        ("pending", 0, None),
    ]
    assert first.json()["deferred"][1]["reason"] == "not tried: Discord is failing"

    discord.replace(responses.POST, POST_URL, json={"id": "31"})
    clock.advance(seconds=30)
    cli("notify")  # second alert due, the first is still backing off
    assert [row["status"] for row in deliveries()] == ["pending", "sent"]
    clock.advance(seconds=31)
    cli("notify")
    assert [row["status"] for row in deliveries()] == ["sent", "sent"]
    assert deliveries()[0]["attempts"] == 2


def test_timeouts_back_off_like_5xx(cli, clock, webhook, discord) -> None:
    seed()
    discord.add(responses.POST, POST_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    assert cli("notify").exit_code == 0
    [row] = deliveries()
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "Discord: timed out")


def test_after_max_attempts_the_alert_is_failed_and_status_shows_it(cli, clock, webhook, discord) -> None:
    seed()
    discord.add(responses.POST, POST_URL, status=500, json={"message": "oops"})
    for _ in range(8):
        cli("notify")
        clock.advance(hours=2)
    assert len(discord.calls) == 8
    [row] = deliveries()
    assert (row["status"], row["attempts"]) == ("failed", 8)
    conn = connect()
    summary = pending_and_failed(conn)
    assert summary["counts"] == {"discord": {"pending": 0, "failed": 1}}
    assert summary["failed"][0]["error"] == "Discord: HTTP 500 oops"
    cli("notify")
    assert len(discord.calls) == 8


def test_a_deleted_webhook_stops_the_stage_with_exit_1_and_keeps_the_alerts(cli, clock, webhook, discord, monkeypatch) -> None:
    seed()
    discord.add(responses.POST, POST_URL, status=404, json={"message": "Unknown Webhook", "code": 10015})

    result = cli("notify", "--json")

    assert result.exit_code == 1
    assert "HTTP 404 Unknown Webhook" in result.json()["error"]
    assert "DISCORD_WEBHOOK_URL" in result.json()["error"]
    [row] = deliveries()
    assert (row["status"], row["attempts"]) == ("pending", 0)
    [gone] = rows("SELECT value FROM meta WHERE key = 'discord.webhook_gone'")
    assert json.loads(gone["value"])["detail"] == "HTTP 404 Unknown Webhook"

    again = cli("notify")  # not used again…
    assert again.exit_code == 1
    assert "deleted or DISCORD_WEBHOOK_URL is wrong" in again.stderr + again.stdout
    assert len(discord.calls) == 1

    new_url = "https://discord.com/api/webhooks/99/NewToken"  # …until the URL changes
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", new_url)
    discord.add(responses.POST, new_url + "?wait=true", json={"id": "5"})
    assert cli("notify").exit_code == 0
    assert deliveries()[0]["status"] == "sent"
    assert rows("SELECT value FROM meta WHERE key = 'discord.webhook_gone'") == []


def test_a_401_is_a_gone_webhook_too(cli, clock, webhook, discord) -> None:
    seed()
    discord.add(responses.POST, POST_URL, status=401, json={"message": "Invalid Webhook Token", "code": 50027})
    assert cli("notify").exit_code == 1
    assert deliveries()[0]["status"] == "pending"


def test_log_text_cannot_mention_anyone_or_break_out_of_its_code_block(cli, clock, webhook, discord) -> None:
    hostile = "@everyone ``` **pwned** <@&123456789> [click](https://evil.example) @here\n# heading"
    seed(message=hostile, error_code=None)
    diagnose(title="Crash near @everyone", summary="Log says ```` then @here and *stars*")
    discord.add(responses.POST, POST_URL, json={"id": "1"})

    assert cli("notify").exit_code == 0
    payload = sent_json(discord.calls[0])
    embed = payload["embeds"][0]
    assert payload["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in payload["content"] and "@everyone" not in embed["title"]
    description = embed["description"]
    # Exactly one code block, opened and closed by the only two triple-backtick runs.
    assert description.count("```") == 2
    block = description[description.index("```") : ]
    assert block.startswith("```\n@everyone `\u200b`\u200b` **pwned**")
    assert block.endswith("\n# heading\n```")
    assert "Log says `\u200b`" not in description  # outside code, backticks are escaped instead
    assert "Log says \\`\\`\\`\\` then @\u200bhere and \\*stars\\*" in description


def test_a_configured_mention_is_the_only_one_allowed(cli, clock, webhook, discord, monkeypatch) -> None:
    monkeypatch.setenv("AIMON_DISCORD_MENTION", "<@&987654321012>")
    seed(message="@everyone down")
    discord.add(responses.POST, POST_URL, json={"id": "1"})
    assert cli("notify").exit_code == 0
    payload = sent_json(discord.calls[0])
    assert payload["content"].startswith("<@&987654321012> **New error**")
    assert payload["allowed_mentions"] == {"roles": ["987654321012"]}


def test_a_malformed_mention_is_a_configuration_error(cli, clock, webhook, monkeypatch) -> None:
    monkeypatch.setenv("AIMON_DISCORD_MENTION", "@everyone")
    seed()
    result = cli("notify")
    assert result.exit_code == 2
    assert "AIMON_DISCORD_MENTION" in result.stderr


def test_planted_secrets_never_reach_discord(cli, clock, webhook, discord) -> None:
    secrets = ["hunter2-pa55", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "jane.doe@example.com", "sk-proj-ABCDEFGHIJKLMNOPQRSTUV"]
    seed(
        message=f"login failed password={secrets[0]} for {secrets[2]}",
        request_id=f"token={secrets[1]}",
        target=f"auth key {secrets[3]}",
    )
    diagnose(summary=f"The token {secrets[1]} of {secrets[2]} was rejected", root_cause=f"password={secrets[0]}")
    discord.add(responses.POST, POST_URL, json={"id": "1"})
    discord.add(responses.POST, POST_URL, json={"id": "2"})
    discord.add(responses.PATCH, WEBHOOK + "/messages/1", json={"id": "1"})
    cli("notify")  # one alert
    for index in range(6):
        seed(fingerprint=f"{index + 1:016x}", message=f"user {secrets[2]} key {secrets[3]}")
    cli("notify")  # one digest
    diagnose(created_at=T0, summary=f"still {secrets[3]}")
    cli("notify")  # one edit
    dry = cli("notify", "--dry-run", "--json")

    assert [call.request.method for call in discord.calls] == ["POST", "POST", "PATCH"]
    assert "<secret:github-token#1>" in sent_json(discord.calls[0])["embeds"][0]["description"].replace("\\", "")
    for body in [*bodies(discord.calls), dry.stdout]:
        for secret in secrets:
            assert secret not in body


def test_ignored_fingerprints_are_skipped_with_a_reason(cli, clock, webhook, discord) -> None:
    seed(state="ignored")
    seed(fingerprint="b" * 16, state="ignored", state_until=T0 - timedelta(minutes=1))  # ran out: counts as active
    discord.add(responses.POST, POST_URL, json={"id": "1"})
    result = cli("notify", "--json")
    assert [(row["status"], row["last_error"]) for row in deliveries()] == [("skipped", "fingerprint is ignored"), ("sent", None)]
    assert result.json()["skipped"][0]["reason"] == "fingerprint is ignored"


def test_one_alert_per_incident_and_realert_only_for_spikes_and_regressions(cli, clock, webhook, discord) -> None:
    seed()
    discord.add(responses.POST, POST_URL, json={"id": "1"})
    cli("notify")
    seed(kind="new", created_at=T0)  # a second "new" for the same fingerprint: never alerted again
    seed(kind="spike", created_at=T0)
    result = cli("notify", "--json")
    assert len(discord.calls) == 1
    assert [row["status"] for row in deliveries()] == ["sent", "skipped", "skipped"]
    reasons = [row["reason"] for row in result.json()["skipped"]]
    assert reasons[0] == "already alerted (message 1); only spikes and regressions alert again"
    assert reasons[1] == "last alert at 2030-01-02T03:00:00.000000Z; AIMON_REALERT allows one per 1h"

    clock.advance(minutes=61)
    seed(kind="regression", created_at=clock.at - timedelta(minutes=5))  # past the diagnosis grace
    seed(kind="spike", created_at=clock.at - timedelta(minutes=5))
    result = cli("notify", "--json")
    assert len(discord.calls) == 2
    assert sent_json(discord.calls[1])["embeds"][0]["title"].startswith("Regression: ")
    assert result.json()["skipped"][0]["reason"] == "in the same alert as detection #4"


def test_a_regression_alerts_at_once_inside_the_realert_window(cli, clock, webhook, discord) -> None:
    """Resolved, then back ten minutes later: the regression is told now, not after AIMON_REALERT (1h)."""
    seed()
    discord.add(responses.POST, POST_URL, json={"id": "1"})
    discord.add(responses.POST, POST_URL, json={"id": "2"})
    cli("notify")
    clock.advance(minutes=10)
    seed(kind="regression", created_at=clock.at - timedelta(minutes=5))  # past the diagnosis grace

    result = cli("notify", "--json")

    assert len(discord.calls) == 2
    assert sent_json(discord.calls[1])["embeds"][0]["title"].startswith("Regression: ")
    assert result.json()["skipped"] == []
    assert [row["status"] for row in deliveries()] == ["sent", "sent"]


def test_an_alert_waits_for_its_diagnosis_then_goes_without_and_is_edited_later(cli, clock, webhook, discord) -> None:
    seed(created_at=T0)
    result = cli("notify", "--json")
    assert discord.calls == [] or len(discord.calls) == 0
    assert result.json()["waiting"][0]["reason"] == "waiting for its diagnosis until 2030-01-02T03:02:00.000000Z"
    assert deliveries()[0]["status"] == "pending"

    clock.advance(minutes=2, seconds=1)
    discord.add(responses.POST, POST_URL, json={"id": "4242"})
    cli("notify")
    first = sent_json(discord.calls[0])["embeds"][0]
    assert first["title"] == "New error: E_DB_POOL: connection pool exhausted after 30s".replace("_", "\\_")
    assert first["description"].startswith("*Diagnosis not ready yet; this message is updated when it is.*")

    diagnose(created_at=clock.at)
    edit_url = WEBHOOK + "/messages/4242"
    discord.add(responses.PATCH, edit_url, json={"id": "4242"})
    result = cli("notify", "--json")
    assert [call.request.method for call in discord.calls] == ["POST", "PATCH"]
    assert discord.calls[1].request.url == edit_url
    edited = sent_json(discord.calls[1])
    assert edited["embeds"][0]["title"] == "New error: Database pool exhausted under load"
    assert edited["allowed_mentions"] == {"parse": []}
    assert result.json()["edited"] == [{"message_id": "4242", "fingerprint": FP, "detection": 1}]

    cli("notify")  # up to date: no further edit
    assert len(discord.calls) == 2

    with transaction(connect()) as conn:  # the GitHub issue appears: the link is added
        conn.execute(
            "INSERT INTO issues (fingerprint, number, url, state, labels) VALUES (?, 12, 'https://github.com/o/r/issues/12', 'open', '[]')",
            (FP,),
        )
    cli("notify")
    assert len(discord.calls) == 3
    linked = sent_json(discord.calls[2])["embeds"][0]
    assert linked["url"] == "https://github.com/o/r/issues/12"
    assert {"name": "GitHub issue", "value": "[#12](https://github.com/o/r/issues/12)", "inline": True} in linked["fields"]


def test_an_edit_of_a_deleted_message_is_given_up(cli, clock, webhook, discord) -> None:
    seed()
    discord.add(responses.POST, POST_URL, json={"id": "77"})
    cli("notify")
    diagnose(created_at=T0)
    discord.add(responses.PATCH, WEBHOOK + "/messages/77", status=404, json={"message": "Unknown Message", "code": 10008})
    assert cli("notify").exit_code == 0
    assert rows("SELECT edit_state FROM discord_messages") == [{"edit_state": "closed"}]
    cli("notify")
    assert len(discord.calls) == 2


def test_dry_run_prints_the_payload_and_changes_nothing(cli, clock, webhook, discord) -> None:
    seed()
    diagnose()
    before = db_path().read_bytes()

    result = cli("notify", "--dry-run", "--json")

    assert result.exit_code == 0
    assert len(discord.calls) == 0
    [request] = result.json()["would_send"]
    assert request["method"] == "POST"
    assert request["url"] == "DISCORD_WEBHOOK_URL?wait=true"
    assert request["json"] == EXPECTED_FIRST_ALERT
    assert db_path().read_bytes() == before
    text = cli("notify", "--dry-run")
    assert "Would send 1 request(s) to Discord (dry run):" in text.stdout
    assert '"title": "New error: Database pool exhausted under load"' in text.stdout


def test_without_a_webhook_it_says_so_once_shows_the_payload_and_touches_nothing(cli, clock, discord) -> None:
    seed()
    diagnose()
    before = db_path().read_bytes()

    result = cli("notify", "--dry-run", "--json")

    assert result.exit_code == 0
    assert result.stderr.count("DISCORD_WEBHOOK_URL is not set") == 1
    assert result.json()["configured"] is False
    assert result.json()["would_send"][0]["json"] == EXPECTED_FIRST_ALERT
    assert result.json()["would_send"][0]["deliveries"] == [None]
    assert db_path().read_bytes() == before
    assert deliveries() == []


def test_without_a_webhook_a_real_run_says_so_and_prints_no_payload(cli, clock, discord) -> None:
    """Under cron an unconfigured sink must not print the same payloads again every minute."""
    seed()
    diagnose()
    result = cli("notify", "--json")
    assert result.exit_code == 0
    assert result.stderr.count("DISCORD_WEBHOOK_URL is not set") == 1
    assert "below" not in result.stderr
    assert result.json()["configured"] is False
    assert result.json()["would_send"] == []
    assert deliveries() == []  # nothing enqueued: configuring the webhook later still alerts
    # said once: the next ticks say nothing on stderr (a cron log would get the line every minute)
    again = cli("notify")
    assert (again.exit_code, again.stderr, again.stdout) == (0, "", "Nothing to post: DISCORD_WEBHOOK_URL is not set.\n")
    # configured, then unconfigured again: said once more
    discord.add(responses.POST, POST_URL, json={"id": "1"}, status=200)
    cli("notify", env={"DISCORD_WEBHOOK_URL": WEBHOOK})
    assert cli("notify").stderr.count("DISCORD_WEBHOOK_URL is not set") == 1


def test_retry_after_header_alone_is_honoured(cli, clock, webhook, discord) -> None:
    seed()
    discord.add(responses.POST, POST_URL, status=429, body="rate limited", headers={"Retry-After": "0"})
    discord.add(responses.POST, POST_URL, json={"id": "9"})
    assert cli("notify").exit_code == 0
    assert len(discord.calls) == 2
    assert deliveries()[0]["status"] == "sent"


def test_a_tick_out_of_time_starts_no_post(clock, runtime, webhook, discord) -> None:
    from aimon.clock import Deadline
    from aimon.config import load_settings
    from aimon.runtime import Context
    from aimon.stages.notify.stage import run_notify

    seed()
    settings = load_settings()
    result = run_notify(Context(settings=settings, db=connect(), deadline=Deadline(1.0), runtime=runtime))
    assert len(discord.calls) == 0
    assert result.deferred[0]["reason"] == "not tried: the tick ran out of time"
    assert [(row["status"], row["attempts"], row["next_attempt_at"]) for row in deliveries()] == [("pending", 0, None)]


def test_text_output_says_what_happened(cli, clock, webhook, discord) -> None:
    seed()
    seed(fingerprint="b" * 16, created_at=T0)
    discord.add(responses.POST, POST_URL, json={"id": "5"})
    text = cli("notify")
    assert text.exit_code == 0
    assert f"posted alert for {FP} (message 5)" in text.stdout
    assert "waiting: bbbbbbbbbbbbbbbb (detection 2) waiting for its diagnosis until 2030-01-02T03:02:00.000000Z" in text.stdout


def _claimed_by_a_killed_run() -> None:
    """What a run killed between its claim and the POST leaves: a pending row leased to nobody alive."""
    from aimon.stages import delivery

    conn = connect()
    delivery.enqueue_discord(conn, CLOCK_T0)
    assert delivery.claim(conn, [1], CLOCK_T0) == [1]
    conn.close()


CLOCK_T0 = Clock().at


def test_the_next_run_takes_over_a_lease_left_by_a_killed_run_at_once(cli, clock, webhook, discord) -> None:
    seed()
    diagnose()
    _claimed_by_a_killed_run()
    discord.add(responses.POST, POST_URL, json={"id": "1190000000000000001", "channel_id": "42"})

    result = cli("notify")  # the same minute: the lease has not run out

    assert result.exit_code == 0, result.stderr
    assert len(discord.calls) == 1
    assert "took over 1 deliveries claimed by an earlier run that did not finish" in result.stderr
    [row] = deliveries()
    assert (row["status"], row["attempts"], row["remote_id"]) == ("sent", 1, "1190000000000000001")


def test_a_caller_without_the_run_lock_keeps_to_the_lease(clock, runtime, webhook, discord) -> None:
    from aimon.config import load_settings
    from aimon.runtime import Context
    from aimon.stages.notify.stage import run_notify

    seed()
    diagnose()
    _claimed_by_a_killed_run()
    result = run_notify(Context(settings=load_settings(), db=connect(), runtime=runtime))  # another process may hold it
    assert len(discord.calls) == 0 and result.sent == []
    [row] = deliveries()
    assert row["status"] == "pending" and row["next_attempt_at"] == iso(CLOCK_T0 + timedelta(minutes=5))


def test_the_user_agent_has_the_form_discord_asks_for() -> None:
    """Discord's API reference: ``User-Agent: DiscordBot ($url, $versionNumber)``."""
    import re
    import tomllib
    from pathlib import Path

    from aimon.remotes.discord import USER_AGENT

    match = re.fullmatch(r"DiscordBot \((https://\S+), (\d+\.\d+\.\d+)\)", USER_AGENT)
    assert match is not None, USER_AGENT
    project = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())["project"]
    assert match.groups() == (PROJECT_URL, project["version"])
