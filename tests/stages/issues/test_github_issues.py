"""``aimon open-issue`` against a mocked GitHub API (PyGithub over ``responses``): exact requests, exact rows."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from aimon.remotes import github as github_client
from aimon.stages import delivery as outbox
from aimon.state.db import iso, transaction
from tests.stages.delivery_support import (
    FP,
    T0,
    bodies,
    connect,
    db_path,
    deliveries,
    diagnose,
    rows,
    seed,
)

API = "https://api.github.com:443"  # PyGithub spells the port out
ISSUES = f"{API}/repos/o/r/issues"
SEARCH = f"{API}/search/issues"
ISSUE_7 = f"{ISSUES}/7"
QUERY = f'repo:o/r is:issue in:body "aimon:fingerprint={FP}"'
MARKER = f"<!-- aimon:fingerprint={FP} -->"


@pytest.fixture(autouse=True)
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("AIMON_GITHUB_REPO", "o/r")
    monkeypatch.setattr(github_client, "WRITE_SPACING", 0.0)  # GitHub's 1 s between writes: not in tests


@pytest.fixture
def github() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def issue_json(number: int = 7, state: str = "open", labels: tuple[str, ...] = ("aimon", "high"), body: str = MARKER, **extra: Any) -> dict[str, Any]:
    return {
        "number": number,
        "url": f"https://api.github.com/repos/o/r/issues/{number}",
        "html_url": f"https://github.com/o/r/issues/{number}",
        "state": state,
        "title": "Database pool exhausted under load",
        "body": body,
        "labels": [{"name": name} for name in labels],
        **extra,
    }


def search_returns(github: Any, *items: dict[str, Any]) -> None:
    github.add(
        responses.GET, SEARCH, json={"total_count": len(items), "incomplete_results": False, "items": list(items)},
        match=[matchers.query_param_matcher({"q": QUERY})],
    )


def newest_returns(github: Any, *items: dict[str, Any]) -> None:
    """The newest issues labelled aimon, as the issue list gives them (it does not lag like the search index)."""
    newest = {"state": "all", "labels": "aimon", "sort": "created", "direction": "desc"}
    github.add(responses.GET, ISSUES, json=list(items), match=[matchers.query_param_matcher(newest)])


def created(github: Any) -> None:
    github.add(responses.POST, ISSUES, json=issue_json(), status=201)


def comment_json(comment_id: int = 501) -> dict[str, Any]:
    return {"id": comment_id, "html_url": f"https://github.com/o/r/issues/7#issuecomment-{comment_id}", "body": "…"}


def calls(github: Any) -> list[tuple[str, str]]:
    return [(call.request.method, call.request.url.split("?")[0]) for call in github.calls]


def sent(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


EXPECTED_BODY = f"""**Severity:** high · **Error code:** `E_DB_POOL` · **Level:** ERROR · **Target:** `shop::db`

### Summary
Requests wait for a pooled connection and time out.

### Root cause
The pool has 5 connections; checkout holds one during a slow HTTP call.

### Suggested fix
Release the connection before calling the payment API.

### Evidence
```text
connection pool exhausted after 30s
```

### Occurrences
| | |
|---|---|
| Occurrences | 3 |
| First seen | 2030-01-02 01:50:00 UTC |
| Last seen | 2030-01-02 02:00:00 UTC |
| Detection | new: 3 between 2030-01-02 01:55:00 UTC and 2030-01-02 02:00:00 UTC |
| Request id | req-7f3a |
| Fingerprint | `{FP}` |

### Sample
```text
connection pool exhausted after 30s
```

### Request trail (`req-7f3a`)
```text
2030-01-02T02:00:00.000000Z ERROR shop::db: connection pool exhausted after 30s
```

### Source
[src/db.rs:42](https://github.com/o/r/blob/4f2c9e1/src/db.rs#L42)

---
<sub>Filed by aimon · diagnosis: llm gpt-4o-mini, 80% confident. Closing this issue marks the error resolved; aimon reopens it if the error comes back (unless it is labelled wontfix).</sub>

{MARKER}"""


def test_issue_creation_searches_the_marker_then_posts_title_body_labels(cli, clock, github, monkeypatch) -> None:
    monkeypatch.setenv("AIMON_DEPLOYED_COMMIT", "4f2c9e1")
    seed()
    diagnose()
    search_returns(github)
    created(github)

    result = cli("open-issue", "--json")

    assert result.exit_code == 0, result.stderr
    assert calls(github) == [("GET", SEARCH), ("POST", ISSUES)]
    search, post = (call.request for call in github.calls)
    for request in (search, post):
        assert request.headers["Authorization"] == "token test-token"
        assert request.headers["User-Agent"] == "aimon/0.1.0"
    assert sent(github.calls[1]) == {"title": "Database pool exhausted under load", "body": EXPECTED_BODY, "labels": ["aimon", "high"]}
    assert result.json()["created"] == [{"fingerprint": FP, "number": 7, "url": "https://github.com/o/r/issues/7", "deliveries": [1]}]
    [issue] = rows("SELECT fingerprint, number, url, state, labels, last_comment_at FROM issues")
    assert issue == {"fingerprint": FP, "number": 7, "url": "https://github.com/o/r/issues/7", "state": "open",
                     "labels": '["aimon", "high"]', "last_comment_at": iso(T0)}
    [row] = deliveries()
    assert (row["channel"], row["status"], row["remote_id"], row["remote_url"]) == ("github-issue", "sent", "7", "https://github.com/o/r/issues/7")

    assert cli("open-issue").exit_code == 0  # nothing new, and the new issue is not read back at once
    assert len(github.calls) == 2


def test_enterprise_base_url_and_default_branch_link(cli, clock, github, monkeypatch) -> None:
    monkeypatch.setenv("AIMON_GITHUB_API_URL", "https://ghe.example.com/api/v3")
    seed()
    diagnose()
    github.add(responses.GET, "https://ghe.example.com:443/api/v3/search/issues", json={"total_count": 0, "items": []})
    github.add(responses.POST, "https://ghe.example.com:443/api/v3/repos/o/r/issues", json=issue_json(), status=201)
    assert cli("open-issue").exit_code == 0
    assert "[src/db.rs:42](https://ghe.example.com/o/r/blob/HEAD/src/db.rs#L42)" in sent(github.calls[1])["body"]


def test_a_lost_state_file_adopts_the_existing_issue_instead_of_a_duplicate(cli, clock, github) -> None:
    seed()
    diagnose()
    search_returns(github)
    created(github)
    cli("open-issue")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path()}{suffix}").unlink(missing_ok=True)
    seed()  # the same error, detected again from scratch
    diagnose()
    github.replace(responses.GET, SEARCH, json={"total_count": 2, "incomplete_results": False, "items": [
        issue_json(number=3, body="mentions aimon:fingerprint without the marker"),  # a loose match is not ours
        issue_json(number=7),
    ]})

    result = cli("open-issue", "--json")

    assert calls(github)[2:] == [("GET", SEARCH)]  # no POST: adopted
    assert result.json()["adopted"] == [{"fingerprint": FP, "number": 7, "url": "https://github.com/o/r/issues/7", "state": "open"}]
    assert rows("SELECT number, state, labels, last_comment_at FROM issues") == [
        {"number": 7, "state": "open", "labels": '["aimon", "high"]', "last_comment_at": None}
    ]
    assert [(row["status"], row["remote_id"]) for row in deliveries()] == [("sent", "7")]


def test_a_closed_issue_found_by_marker_is_reopened(cli, clock, github) -> None:
    seed()
    diagnose()
    search_returns(github, issue_json(state="closed"))
    github.add(responses.PATCH, ISSUE_7, json=issue_json(state="open"))
    github.add(responses.POST, f"{ISSUE_7}/comments", json=comment_json(), status=201)
    result = cli("open-issue", "--json")
    assert calls(github) == [("GET", SEARCH), ("PATCH", ISSUE_7), ("POST", f"{ISSUE_7}/comments")]
    assert sent(github.calls[1]) == {"state": "open"}
    assert result.json()["reopened"][0]["number"] == 7


def test_recurrences_add_at_most_one_comment_per_interval_with_current_counts(cli, clock, github) -> None:
    seed()
    diagnose()
    search_returns(github)
    created(github)
    cli("open-issue")
    github.add(responses.GET, ISSUE_7, json=issue_json())  # the read-back of open issues, every 10 minutes at most

    clock.advance(hours=1)
    seed(kind="spike", count=40, created_at=clock.at - timedelta(minutes=5))
    result = cli("open-issue", "--json")
    assert calls(github)[2:] == [("GET", ISSUE_7)]  # the comment is throttled without a request; only the read-back
    assert result.json()["deferred"][0]["reason"] == "one comment per AIMON_ISSUE_COMMENT_INTERVAL (6h); next try 2030-01-02T09:00:00.000000Z"
    comment_rows = deliveries("github-comment")
    assert [(row["status"], row["next_attempt_at"]) for row in comment_rows] == [("pending", iso(T0 + timedelta(hours=6)))]

    clock.advance(hours=2)
    seed(kind="spike", count=90, created_at=clock.at - timedelta(minutes=5))
    cli("open-issue")
    assert calls(github)[3:] == [("GET", ISSUE_7)]

    clock.advance(hours=3, minutes=1)
    github.add(responses.POST, f"{ISSUE_7}/comments", json=comment_json(), status=201)
    result = cli("open-issue", "--json")

    assert calls(github)[4:] == [("GET", ISSUE_7), ("POST", f"{ISSUE_7}/comments")]  # and no read-back: just read
    assert sent(github.calls[5]) == {"body": (
        "**Still happening** (2 spike).\n\n"
        "| | |\n|---|---|\n| Occurrences | 90 |\n| Last seen | 2030-01-02 05:55:00 UTC |\n"
        "| Latest window | 90 between 2030-01-02 05:50:00 UTC and 2030-01-02 05:55:00 UTC |"
    )}
    assert [(row["status"], row["remote_id"]) for row in deliveries("github-comment")] == [("sent", "501"), ("sent", "501")]
    assert rows("SELECT last_comment_at FROM issues") == [{"last_comment_at": iso(clock.at)}]
    assert result.json()["commented"][0]["deliveries"] == [2, 3]


def test_a_regression_reopens_the_closed_issue_with_a_comment(cli, clock, github) -> None:
    seed()
    diagnose()
    search_returns(github)
    created(github)
    cli("open-issue")
    clock.advance(minutes=30)  # a regression does not wait for the comment interval
    seed(kind="regression", count=5, created_at=clock.at - timedelta(minutes=5))
    github.add(responses.GET, ISSUE_7, json=issue_json(state="closed", state_reason="completed"))
    github.add(responses.PATCH, ISSUE_7, json=issue_json(state="open"))
    github.add(responses.POST, f"{ISSUE_7}/comments", json=comment_json(502), status=201)

    result = cli("open-issue", "--json")

    assert calls(github)[2:] == [("GET", ISSUE_7), ("PATCH", ISSUE_7), ("POST", f"{ISSUE_7}/comments")]
    assert sent(github.calls[3]) == {"state": "open"}
    assert sent(github.calls[4])["body"].startswith(
        "**Regression:** this error came back after the issue was closed (regression), so aimon reopened it."
    )
    assert result.json()["reopened"] == [
        {"fingerprint": FP, "number": 7, "url": "https://github.com/o/r/issues/7#issuecomment-502", "deliveries": [2]}
    ]
    assert rows("SELECT state FROM issues") == [{"state": "open"}]


def test_a_regression_after_aimons_merged_fix_names_the_fix_in_the_one_regression_comment(cli, clock, github) -> None:
    """open-issue alone tells the issue about a regression (autofix only tells its pull request), naming the fix."""
    seed()
    diagnose()
    search_returns(github)
    created(github)
    cli("open-issue")
    with connect() as conn:
        conn.execute(
            "INSERT INTO pulls (fingerprint, number, url, branch, title, issue_number, state, created_at, merged_at)"
            " VALUES (?, 12, 'https://github.com/o/r/pull/12', 'aimon/fix-x', 'fix', 7, 'merged', ?, '2030-01-02T03:10:00Z')",
            (FP, iso(clock.at)),
        )
    clock.advance(minutes=30)
    seed(kind="regression", count=5, created_at=clock.at - timedelta(minutes=5))
    github.add(responses.GET, ISSUE_7, json=issue_json(state="closed", state_reason="completed"))
    github.add(responses.PATCH, ISSUE_7, json=issue_json(state="open"))
    github.add(responses.POST, f"{ISSUE_7}/comments", json=comment_json(502), status=201)

    cli("open-issue")

    assert calls(github)[2:] == [("GET", ISSUE_7), ("PATCH", ISSUE_7), ("POST", f"{ISSUE_7}/comments")]
    assert sent(github.calls[4])["body"].startswith(
        "**Regression:** this error came back after the issue was closed (regression), so aimon reopened it."
        " Regression of the fix in #12 (merged 2030-01-02T03:10:00Z).\n\n"
    )


def test_wontfix_keeps_the_issue_closed(cli, clock, github, monkeypatch) -> None:
    seed()
    diagnose()
    search_returns(github)
    created(github)
    cli("open-issue")
    seed(kind="regression", created_at=T0 - timedelta(minutes=5))
    github.add(responses.GET, ISSUE_7, json=issue_json(state="closed", labels=("aimon", "wontfix")))

    result = cli("open-issue", "--json")

    assert calls(github)[2:] == [("GET", ISSUE_7)]
    assert result.json()["skipped"][0]["reason"] == "issue #7 is closed and labelled wontfix: not reopened"
    assert deliveries("github-comment")[0]["status"] == "skipped"
    assert rows("SELECT state, labels FROM issues") == [{"state": "closed", "labels": '["aimon", "wontfix"]'}]

    monkeypatch.setenv("AIMON_NO_REOPEN_LABELS", "not-a-bug")  # configurable: wontfix alone no longer blocks
    seed(kind="regression", created_at=T0 - timedelta(minutes=4))
    github.add(responses.PATCH, ISSUE_7, json=issue_json(state="open"))
    github.add(responses.POST, f"{ISSUE_7}/comments", json=comment_json(), status=201)
    assert cli("open-issue").exit_code == 0
    assert calls(github)[3:] == [("GET", ISSUE_7), ("PATCH", ISSUE_7), ("POST", f"{ISSUE_7}/comments")]


@pytest.mark.parametrize(
    ("status", "body", "headers", "wait"),
    [
        (403, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}, {}, 60),
        (403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "120"}, 120),
        (429, {"message": "Too Many Requests"}, {"Retry-After": "30"}, 30),
        (403, {"message": "API rate limit exceeded for user ID 1."}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(T0.timestamp()) + 600)}, 600),
    ],
)
def test_rate_limits_leave_the_work_pending_until_github_allows_it(cli, clock, github, status, body, headers, wait) -> None:
    seed()
    diagnose()
    seed(fingerprint="f" * 16)
    search_returns(github)
    github.add(responses.POST, ISSUES, status=status, json=body, headers=headers)

    result = cli("open-issue", "--json")

    assert result.exit_code == 0
    assert calls(github) == [("GET", SEARCH), ("POST", ISSUES)]  # the second fingerprint is not tried against a limit
    first, second = deliveries()
    assert (first["status"], first["attempts"], first["next_attempt_at"]) == ("pending", 0, iso(T0 + timedelta(seconds=wait)))
    assert first["last_error"].startswith(f"GitHub {status}: ")
    assert (second["status"], second["attempts"], second["next_attempt_at"]) == ("pending", 0, None)
    assert result.json()["deferred"][1]["reason"] == "not tried: GitHub rate limit"


def test_a_search_rate_limit_is_a_rate_limit_too(cli, clock, github) -> None:
    seed()
    diagnose()
    github.add(responses.GET, SEARCH, status=403, json={"message": "You have exceeded a secondary rate limit."})
    assert cli("open-issue").exit_code == 0
    [row] = deliveries()
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("pending", 0, iso(T0 + timedelta(seconds=60)))


def test_5xx_backs_off_and_succeeds_on_a_later_tick(cli, clock, github) -> None:
    seed()
    diagnose()
    search_returns(github)
    github.add(responses.POST, ISSUES, status=502, json={"message": "Server Error"})
    cli("open-issue")
    [row] = deliveries()
    assert (row["status"], row["attempts"], row["next_attempt_at"], row["last_error"]) == (
        "pending", 1, iso(T0 + timedelta(seconds=60)), "GitHub 502: Server Error"
    )
    github.replace(responses.POST, ISSUES, json=issue_json(), status=201)
    cli("open-issue")
    assert len(github.calls) == 2  # not due yet
    clock.advance(seconds=61)
    newest_returns(github)
    cli("open-issue")
    assert deliveries()[0]["status"] == "sent"
    # Tried before, so besides the search (GitHub's index may lag) the newest issues are read: none has the marker.
    assert [(call.request.method, call.request.url.split("?")[0]) for call in github.calls[2:]] == [
        ("GET", SEARCH), ("GET", ISSUES), ("POST", ISSUES)]


def test_an_issue_created_by_a_tick_that_never_heard_back_is_adopted_from_the_newest_issues(cli, clock, github) -> None:
    seed()
    diagnose()
    conn = connect()  # a tick claimed the row, created the issue and was killed before it could record it
    outbox.enqueue_github(conn, T0 - timedelta(seconds=1))
    [row] = deliveries()
    assert outbox.claim(conn, [row["id"]], T0) == [row["id"]]
    clock.advance(seconds=outbox.LEASE + 1)
    search_returns(github)  # the search index has not caught up yet
    pull = issue_json(number=9, html_url="https://github.com/o/r/pull/9")  # a pull request carrying the marker: not it
    newest_returns(github, pull, issue_json(number=8))
    result = cli("open-issue", "--json")
    assert result.exit_code == 0, result.stdout
    assert [call.request.method for call in github.calls] == ["GET", "GET"]  # no POST: no second issue
    assert rows("SELECT fingerprint, number, url, state FROM issues") == [
        {"fingerprint": FP, "number": 8, "url": "https://github.com/o/r/issues/8", "state": "open"}]
    assert (deliveries()[0]["status"], deliveries()[0]["remote_id"]) == ("sent", "8")


def test_a_refused_token_stops_the_stage_with_exit_1_and_keeps_the_work(cli, clock, github) -> None:
    seed()
    diagnose()
    github.add(responses.GET, SEARCH, status=401, json={"message": "Bad credentials"})
    result = cli("open-issue", "--json")
    assert result.exit_code == 1
    assert result.json()["error"].startswith("GitHub 401: Bad credentials: GITHUB_TOKEN was refused.")
    assert [(row["status"], row["attempts"]) for row in deliveries()] == [("pending", 0)]
    assert "test-token" not in result.stdout + result.stderr


def test_an_issue_closed_by_a_merged_pr_resolves_the_fingerprint_and_remembers_the_fix(cli, clock, github) -> None:
    seed()
    diagnose()
    search_returns(github)
    created(github)
    cli("open-issue")
    clock.advance(minutes=11)
    github.add(responses.GET, ISSUE_7, json=issue_json(state="closed", state_reason="completed"))
    github.add(responses.GET, f"{ISSUE_7}/timeline", json=[
        {"event": "cross-referenced", "source": {"type": "issue", "issue": {
            "number": 9, "title": "Release the pool connection early", "html_url": "https://github.com/o/r/pull/9",
            "pull_request": {"merged_at": "2030-01-02T03:05:00Z"}}}},
        {"event": "closed", "commit_id": "abc123def4567890"},
    ])

    result = cli("open-issue", "--json")

    assert calls(github)[2:] == [("GET", ISSUE_7), ("GET", f"{ISSUE_7}/timeline")]
    assert result.json()["resolved"] == [{
        "fingerprint": FP, "number": 7, "url": "https://github.com/o/r/issues/7", "state_reason": "completed",
        "fix": "PR merged: Release the pool connection early", "fix_url": "https://github.com/o/r/pull/9",
    }]
    assert rows("SELECT state, resolved_at FROM fingerprints") == [{"state": "resolved", "resolved_at": iso(clock.at)}]
    assert rows("SELECT state FROM issues") == [{"state": "closed"}]
    assert rows("SELECT fingerprint, how, url FROM fixes") == [
        {"fingerprint": FP, "how": "PR merged: Release the pool connection early", "url": "https://github.com/o/r/pull/9"}
    ]
    cli("open-issue")  # a closed issue is not polled again
    assert len(github.calls) == 4


def test_an_issue_closed_as_not_planned_resolves_without_a_fix(cli, clock, github) -> None:
    seed()
    diagnose()
    search_returns(github)
    created(github)
    cli("open-issue")
    clock.advance(minutes=11)
    github.add(responses.GET, ISSUE_7, json=issue_json(state="closed", state_reason="not_planned"))
    assert cli("open-issue").exit_code == 0
    assert calls(github)[2:] == [("GET", ISSUE_7)]
    assert rows("SELECT state FROM fingerprints") == [{"state": "resolved"}]
    assert rows("SELECT * FROM fixes") == []


def test_open_issues_are_read_back_at_most_every_ten_minutes(cli, clock, github) -> None:
    seed()
    diagnose()
    search_returns(github)
    created(github)
    cli("open-issue")
    github.add(responses.GET, ISSUE_7, json=issue_json())
    for _ in range(6):  # every 4 minutes: read back at +12 and +24 only
        clock.advance(minutes=4)
        cli("open-issue")
    assert calls(github)[2:] == [("GET", ISSUE_7), ("GET", ISSUE_7)]
    assert rows("SELECT checked_at FROM issue_polls") == [{"checked_at": iso(T0 + timedelta(minutes=24))}]


def test_below_the_minimum_severity_no_issue_is_filed(cli, clock, github) -> None:
    seed()
    diagnose(severity="low")
    result = cli("open-issue", "--json")
    assert len(github.calls) == 0
    assert result.json()["skipped"][0]["reason"] == "severity low is below AIMON_ISSUE_MIN_SEVERITY=medium"
    assert deliveries()[0]["status"] == "skipped"


def test_the_catalog_gives_the_severity_when_there_is_no_diagnosis(cli, clock, github, isolated) -> None:
    (isolated / "aimon.toml").write_text('[catalog.E_DB_POOL]\nseverity = "critical"\n')
    seed()
    search_returns(github)
    created(github)
    assert cli("open-issue").exit_code == 0
    payload = sent(github.calls[1])
    assert payload["labels"] == ["aimon", "critical"]
    assert payload["title"] == "E_DB_POOL: connection pool exhausted after 30s"
    assert "*No diagnosis yet" in payload["body"]


def test_an_issue_waits_for_the_diagnosis_within_the_grace(cli, clock, github) -> None:
    seed(created_at=T0)
    result = cli("open-issue", "--json")
    assert len(github.calls) == 0
    assert result.json()["waiting"][0]["reason"] == "waiting for its diagnosis until 2030-01-02T03:02:00.000000Z"


def test_ignored_fingerprints_get_no_issue(cli, clock, github) -> None:
    seed(state="ignored")
    result = cli("open-issue", "--json")
    assert len(github.calls) == 0
    assert result.json()["skipped"][0]["reason"] == "fingerprint is ignored"


def test_planted_secrets_and_markers_never_reach_github(cli, clock, github) -> None:
    secrets = ["hunter2-pa55", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "jane.doe@example.com"]
    forged = "<!-- aimon:fingerprint=ffffffffffffffff -->"
    seed(message=f"auth failed password={secrets[0]} user {secrets[2]} {forged}", request_id=f"token={secrets[1]}")
    diagnose(summary=f"Token {secrets[1]} rejected for @octocat", evidence=[f"password={secrets[0]}", "```\n# not a heading"])
    search_returns(github)
    created(github)
    cli("open-issue")
    seed(kind="spike", message=f"again {secrets[2]}", request_id=f"token={secrets[1]}", created_at=T0 + timedelta(hours=7))
    clock.advance(hours=7, minutes=10)
    github.add(responses.GET, ISSUE_7, json=issue_json())
    github.add(responses.POST, f"{ISSUE_7}/comments", json=comment_json(), status=201)
    cli("open-issue")

    assert ("POST", f"{ISSUE_7}/comments") in calls(github)
    for body in bodies(github.calls):
        for secret in secrets:
            assert secret not in body
        assert "ffffffffffffffff -->" not in body or "aimon:\\u200bfingerprint=ffffffffffffffff" in body
    issue_body = sent(github.calls[1])["body"]
    assert issue_body.count("aimon:fingerprint=") == 1  # only the real marker
    assert issue_body.endswith(MARKER)
    assert "@\u200boctocat" in issue_body
    assert "````text\npassword=<secret:password#1>\n```\n# not a heading\n````" in issue_body


def test_dry_run_shows_title_body_labels_and_changes_nothing(cli, clock, github) -> None:
    seed()
    diagnose()
    before = db_path().read_bytes()
    result = cli("open-issue", "--dry-run", "--json")
    assert result.exit_code == 0
    assert len(github.calls) == 0
    [request] = result.json()["would_send"]
    assert (request["action"], request["title"], request["labels"]) == ("create", "Database pool exhausted under load", ["aimon", "high"])
    assert request["body"].endswith(MARKER)
    assert db_path().read_bytes() == before
    text = cli("open-issue", "--dry-run")
    assert "title:  Database pool exhausted under load" in text.stdout
    assert "labels: aimon, high" in text.stdout


def test_dry_run_of_a_recurrence_shows_the_comment(cli, clock, github) -> None:
    seed()
    diagnose()
    with transaction(connect()) as conn:
        conn.execute("INSERT INTO issues (fingerprint, number, url, state, labels) VALUES (?, 7, 'https://github.com/o/r/issues/7', 'closed', '[]')", (FP,))
    seed(kind="regression")
    result = cli("open-issue", "--dry-run", "--json")
    [request] = result.json()["would_send"]
    assert (request["action"], request["number"]) == ("reopen", 7)
    assert request["body"].startswith("**Regression:**")
    assert len(github.calls) == 0


def test_without_token_it_says_so_once_and_shows_what_it_would_file(cli, clock, github, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    seed()
    diagnose()
    before = db_path().read_bytes()
    result = cli("open-issue", "--dry-run", "--json")
    assert result.exit_code == 0
    assert result.stderr.count("GITHUB_TOKEN not set") == 1
    assert result.json()["configured"] is False
    assert result.json()["would_send"][0]["title"] == "Database pool exhausted under load"
    assert db_path().read_bytes() == before
    assert len(github.calls) == 0
    # a real run (cron) says so and prints no issue: it would print the same one every minute
    real = cli("open-issue", "--json")
    assert real.exit_code == 0
    assert real.stderr.count("GITHUB_TOKEN not set") == 1
    assert real.json()["would_send"] == []
    assert len(github.calls) == 0
    again = cli("open-issue")  # said once, not every minute
    assert (again.exit_code, again.stderr, again.stdout) == (0, "", "Nothing to file: GITHUB_TOKEN or AIMON_GITHUB_REPO is not set.\n")


def test_a_malformed_repo_is_a_configuration_error(cli, clock, monkeypatch) -> None:
    monkeypatch.setenv("AIMON_GITHUB_REPO", "just-a-name")
    result = cli("open-issue")
    assert result.exit_code == 2
    assert "AIMON_GITHUB_REPO='just-a-name' is not valid: 'just-a-name' is not owner/name (e.g. acme/shop)." in result.stderr


def test_writes_per_tick_are_bounded_and_the_rest_waits(cli, clock, github) -> None:
    from aimon.stages.issues.ledger import MAX_WRITES

    for index in range(MAX_WRITES + 2):
        seed(fingerprint=f"{index:016x}")
    github.add(responses.GET, SEARCH, json={"total_count": 0, "incomplete_results": False, "items": []})
    created(github)
    result = cli("open-issue", "--json")
    assert [method for method, _ in calls(github)].count("POST") == MAX_WRITES
    assert [row["reason"] for row in result.json()["deferred"]] == [f"not tried: {MAX_WRITES} GitHub writes this tick"] * 2
    assert [row["status"] for row in deliveries()][-2:] == ["pending", "pending"]


def test_the_search_budget_defers_creation_instead_of_hitting_the_limit(cli, clock, github) -> None:
    from aimon.stages.issues.ledger import SEARCHES_PER_MINUTE
    from aimon.state import meta

    seed()
    diagnose()
    with transaction(connect()) as conn:
        meta.set_github_searches(conn, [iso(T0 - timedelta(seconds=30)) or ""] * SEARCHES_PER_MINUTE)
    result = cli("open-issue", "--json")
    assert len(github.calls) == 0
    assert result.json()["deferred"][0]["reason"].startswith(f"search API budget: {SEARCHES_PER_MINUTE} a minute; next try")
    assert deliveries()[0]["next_attempt_at"] == iso(T0 + timedelta(seconds=60))


def test_a_deleted_issue_is_forgotten_and_filed_again(cli, clock, github) -> None:
    seed()
    diagnose()
    search_returns(github)
    created(github)
    cli("open-issue")
    clock.advance(hours=7)
    seed(kind="spike", created_at=clock.at - timedelta(minutes=5))
    github.add(responses.GET, ISSUE_7, status=410, json={"message": "This issue was deleted"})
    result = cli("open-issue", "--json")
    assert calls(github)[2:] == [("GET", ISSUE_7)]
    assert result.json()["deferred"][0]["error"] == "issue #7 is gone (410); filing again"
    assert rows("SELECT * FROM issues") == []
    github.replace(responses.POST, ISSUES, json=issue_json(number=8), status=201)
    cli("open-issue")
    assert calls(github)[3:] == [("GET", SEARCH), ("POST", ISSUES)]
    assert rows("SELECT number FROM issues") == [{"number": 8}]
    assert [(row["channel"], row["status"], row["remote_id"]) for row in deliveries()] == [
        ("github-issue", "sent", "7"), ("github-comment", "sent", "8")
    ]


def test_the_read_back_skips_a_deleted_issue_and_reads_the_others(cli, clock, github) -> None:
    seed()
    seed(fingerprint="b" * 16)
    diagnose()
    diagnose(fingerprint="b" * 16)
    with transaction(connect()) as conn:
        for fingerprint, number in ((FP, 7), ("b" * 16, 8)):
            conn.execute(
                "INSERT INTO issues (fingerprint, number, url, state, labels) VALUES (?, ?, ?, 'open', '[]')",
                (fingerprint, number, f"https://github.com/o/r/issues/{number}"),
            )
            conn.execute("INSERT INTO deliveries (detection_id, fingerprint, channel, status, created_at, updated_at) "
                         "VALUES (?, ?, 'github-issue', 'sent', 'x', 'x')", (1 if number == 7 else 2, fingerprint))
    github.add(responses.GET, ISSUE_7, status=404, json={"message": "Not Found"})
    github.add(responses.GET, f"{ISSUES}/8", json=issue_json(number=8, state="closed", state_reason="not_planned"))
    result = cli("open-issue", "--json")
    assert result.exit_code == 0
    assert calls(github) == [("GET", ISSUE_7), ("GET", f"{ISSUES}/8")]
    assert [row["number"] for row in result.json()["resolved"]] == [8]
    assert len(rows("SELECT * FROM issue_polls")) == 2


def test_text_output_says_what_happened(cli, clock, github) -> None:
    seed()
    diagnose()
    seed(fingerprint="b" * 16, state="ignored")
    search_returns(github)
    created(github)
    text = cli("open-issue")
    assert text.exit_code == 0
    assert f"created #7 for {FP}: https://github.com/o/r/issues/7" in text.stdout
    assert "skipped: bbbbbbbbbbbbbbbb (detection 2) fingerprint is ignored" in text.stdout
    assert cli("open-issue").stdout == "Nothing to file.\n"
