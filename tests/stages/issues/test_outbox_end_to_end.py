"""The real stages in a row — scan a log, diagnose offline, notify, open-issue — against mocked Discord and GitHub."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses

from aimon.remotes import github as github_client
from tests.stages.delivery_support import POST_URL, WEBHOOK, bodies, deliveries, rows

API = "https://api.github.com:443"
SECRETS = ["hunter2-pa55", "jane.doe@example.com", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"]


def error_line(message: str, seconds_ago: float, request_id: str, code: str = "DB_TIMEOUT") -> str:
    stamp = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({
        "timestamp": stamp, "level": "ERROR", "fields": {"message": message, "error_code": code, "request_id": request_id},
        "target": "shop::db", "filename": "src/db.rs", "line_number": 42,
    })


def write(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.fixture(autouse=True)
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", WEBHOOK)
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("AIMON_GITHUB_REPO", "o/r")
    monkeypatch.setattr(github_client, "WRITE_SPACING", 0.0)


def test_one_alert_and_one_issue_per_error_and_nothing_twice(cli, isolated: Path) -> None:
    log = isolated / "app.log"
    hostile = f"db timeout password={SECRETS[0]} user {SECRETS[1]} token={SECRETS[2]} @everyone ``` <!-- aimon:fingerprint=0000000000000000 -->"
    write(log, [error_line(hostile, 100 - i, f"req-{i}") for i in range(4)])
    write(log, [error_line("payment provider said no", 90, "req-9", code="PAY_DECLINED")])
    assert cli("scan", str(log)).exit_code == 0
    assert cli("diagnose").exit_code == 0

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, POST_URL, json={"id": "100"})
        mock.add(responses.POST, POST_URL, json={"id": "101"})
        mock.add(responses.GET, f"{API}/search/issues", json={"total_count": 0, "incomplete_results": False, "items": []})
        for number in (7, 8):
            mock.add(responses.POST, f"{API}/repos/o/r/issues", status=201, json={
                "number": number, "url": f"https://api.github.com/repos/o/r/issues/{number}",
                "html_url": f"https://github.com/o/r/issues/{number}", "state": "open", "labels": [],
            })
        assert cli("notify").exit_code == 0
        assert cli("open-issue").exit_code == 0
        posted = [call for call in mock.calls if call.request.url == POST_URL]
        filed = [call for call in mock.calls if call.request.url == f"{API}/repos/o/r/issues"]
        assert len(posted) == 2
        issue_count = len(filed)
        assert issue_count >= 1  # every error at or above medium severity gets one
        for body in bodies(mock.calls):
            for secret in SECRETS:
                assert secret not in body
        for call in posted:
            payload = json.loads(call.request.body)
            assert payload["allowed_mentions"] == {"parse": []}
            assert payload["embeds"][0]["description"].count("```") == 2
        for call in filed:
            assert json.loads(call.request.body)["body"].count("aimon:fingerprint=") == 1

        # The same errors again: counted, but no second alert and no second issue (a comment waits for its interval).
        # The alerts went out before their issues existed, so each is edited once to link its issue.
        for message_id in ("100", "101"):
            mock.add(responses.PATCH, f"{WEBHOOK}/messages/{message_id}", json={"id": message_id})
        write(log, [error_line(hostile, 5, "req-20"), error_line("payment provider said no", 4, "req-21", code="PAY_DECLINED")])
        assert cli("scan", str(log)).exit_code == 0
        assert cli("diagnose").exit_code == 0
        calls_before = len(mock.calls)
        assert cli("notify").exit_code == 0
        assert cli("open-issue").exit_code == 0
        later = mock.calls[calls_before:]
        assert [call.request.method for call in later] == ["PATCH"] * issue_count
        for call in later:
            assert json.loads(call.request.body)["embeds"][0]["url"].startswith("https://github.com/o/r/issues/")
        assert cli("notify").exit_code == 0
        assert cli("open-issue").exit_code == 0
        assert len(mock.calls) == calls_before + issue_count

    assert {row["status"] for row in deliveries("discord")} == {"sent"}
    assert len(rows("SELECT * FROM issues")) == issue_count
