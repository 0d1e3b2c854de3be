"""GitHub's own rules, as its REST API documents them: the media type and API version on every request, a spent
quota is a rate limit to wait out (not a refused token), labels read in either of the shapes GitHub returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import responses
from github import GithubException

from aimon.config import load_settings
from aimon.remotes.github import API_VERSION, IssueTracker, classify, label_names

API = "https://api.github.com:443"


@responses.activate
def test_every_request_names_the_media_type_and_the_api_version(tmp_path: Path) -> None:
    settings = load_settings(environ={"AIMON_DB": str(tmp_path / "s.db"), "AIMON_CONFIG": "", "GITHUB_TOKEN": "ghp_" + "a" * 36})
    responses.add(responses.POST, f"{API}/repos/o/r/issues", json={"number": 7, "html_url": "https://github.com/o/r/issues/7"}, status=201)
    responses.add(responses.GET, f"{API}/search/issues", json={"total_count": 0, "incomplete_results": False, "items": []})
    tracker = IssueTracker(settings, "o/r", datetime.now(UTC), timeout=10)
    tracker.search('"aimon:fingerprint=1" repo:o/r is:issue', "aimon:fingerprint=1")
    tracker.create("title", "body", ["aimon"])
    assert len(responses.calls) == 2
    for call in responses.calls:
        assert call.request.headers["Accept"] == "application/vnd.github+json"
        assert call.request.headers["X-GitHub-Api-Version"] == API_VERSION == "2022-11-28"
        assert call.request.headers["Authorization"] in ("token " + "ghp_" + "a" * 36, "Bearer " + "ghp_" + "a" * 36)


def test_a_403_with_the_quota_spent_is_a_rate_limit_until_the_reset() -> None:
    at = datetime(2030, 1, 2, 3, 0, tzinfo=UTC)
    reset = at + timedelta(minutes=17)
    exc = GithubException(403, {"message": "Forbidden"}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset.timestamp()))})
    trouble = classify(exc, at)
    assert (trouble.kind, trouble.retry_at, trouble.status) == ("rate-limited", reset, 403)


def test_a_403_with_quota_left_is_still_a_refusal() -> None:
    exc = GithubException(403, {"message": "Resource not accessible by integration"}, headers={"X-RateLimit-Remaining": "4000"})
    assert classify(exc, datetime.now(UTC)).kind == "gone"


def test_labels_are_read_as_objects_or_strings() -> None:
    assert label_names({"labels": [{"name": "aimon"}, "wontfix", {"id": 3}, None, ""]}) == ["aimon", "wontfix"]
    assert label_names({}) == [] and label_names({"labels": None}) == []
