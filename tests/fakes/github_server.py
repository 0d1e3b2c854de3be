"""A small GitHub-REST-compatible HTTP server on 127.0.0.1 for tests: PyGithub, as aimon configures it, talks to it.

It implements the calls aimon's issue stage makes (``aimon/sinks/github_issues.py``, ``github_readback.py``), with
GitHub's JSON shapes (https://docs.github.com/rest):

- ``GET /repos/{owner}/{repo}`` — the repository;
- ``GET /search/issues?q=...`` — ``{"total_count", "incomplete_results", "items"}``; the query's ``repo:`` qualifier
  and every quoted phrase must match (phrases are looked up in the issue body, as ``in:body`` asks);
- ``POST /repos/{owner}/{repo}/issues`` (``201``), ``GET``/``PATCH /repos/{owner}/{repo}/issues/{number}``;
- ``GET``/``POST /repos/{owner}/{repo}/issues/{number}/comments``, ``POST .../labels``, ``GET .../timeline``.

Requests without ``Authorization: token <token>`` (or ``Bearer``) get ``401 Bad credentials``. Every request is
recorded with its arrival time; issues and comments are kept (:attr:`FakeGitHub.issues`, :attr:`FakeGitHub.comments`).
Faults are queued with :meth:`FakeGitHub.fail` (optionally only for one method and path pattern); helpers build
GitHub's primary (``x-ratelimit-remaining: 0`` + reset) and secondary (``retry-after``) rate-limit answers.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Mapping
from typing import Any, ClassVar

from tests.fakes.http import Fault, JsonFake, Request

DOCS = "https://docs.github.com/rest"


def primary_rate_limit(reset_epoch: float, *, method: str | None = None, path: str | None = None) -> Fault:
    """GitHub's primary rate limit: 403, ``x-ratelimit-remaining: 0`` and the reset time (epoch seconds)."""
    headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
               "x-ratelimit-reset": str(int(reset_epoch)), "x-ratelimit-resource": "core"}
    body = {"message": "API rate limit exceeded for user ID 1.", "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api"}
    return Fault(403, body, headers, method=method, path=path)


def secondary_rate_limit(retry_after: int | None = 60, *, method: str | None = None, path: str | None = None) -> Fault:
    """GitHub's secondary rate limit: 403 with its message, and ``retry-after`` when GitHub gives one."""
    headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4990"}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you "
                       "reach out to GitHub Support for help, please include the request ID 1234:5678.",
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}
    return Fault(403, body, headers, method=method, path=path)




class FakeGitHub(JsonFake):
    """Start with ``FakeGitHub()``; set ``AIMON_GITHUB_API_URL`` to :attr:`api_url`; read :attr:`issues`; ``close()``."""

    content_type = "application/json; charset=utf-8"
    fault_status = 502
    headers: ClassVar[Mapping[str, str]] = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999"}

    def __init__(self, repo: str = "o/r", token: str = "test-token") -> None:
        self.repo = repo
        self.token = token
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self._next_comment = 900_000
        self.created_at: dict[int, float] = {}
        self.search_lag = 0.0  # seconds before a new issue shows in search (GitHub's index lags behind)
        super().__init__()

    # -- for tests -----------------------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.base

    def answer_late(self, delay: float, *, method: str | None = None, path: str | None = None) -> None:
        """The next matching request is carried out, but answered only after ``delay`` seconds (the client gave up)."""
        self.faults.append(Fault(0, None, {}, delay, method, path, late=True))

    def close_issue(self, number: int, *, state_reason: str = "completed") -> None:
        """A person closes an issue on GitHub."""
        with self.lock:
            self.issues[number].update(state="closed", state_reason=state_reason)

    def with_marker(self, text: str) -> list[dict[str, Any]]:
        """Issues whose body contains ``text``."""
        with self.lock:
            return [issue for issue in self.issues.values() if text in (issue.get("body") or "")]

    @property
    def created(self) -> list[Request]:
        """The POSTs that created an issue."""
        return [r for r in self.requests if r.method == "POST" and r.status == 201 and r.path.endswith("/issues")]

    # -- the model -----------------------------------------------------------------------------------------------------

    def _repo_url(self) -> str:
        return f"{self.api_url}/repos/{self.repo}"

    def _issue(self, number: int, title: str, body: str, labels: list[str]) -> dict[str, Any]:
        return {
            "id": 10_000 + number, "node_id": f"I_{number}", "number": number, "title": title, "body": body,
            "state": "open", "state_reason": None, "locked": False, "comments": 0,
            "url": f"{self._repo_url()}/issues/{number}",
            "html_url": f"{self.api_url}/{self.repo}/issues/{number}",
            "repository_url": self._repo_url(),
            "labels": [self._label(name) for name in labels],
            "user": {"login": "aimon-bot", "id": 1, "type": "User"},
            "created_at": "2030-01-01T00:00:00Z", "updated_at": "2030-01-01T00:00:00Z", "closed_at": None,
        }

    def _label(self, name: str) -> dict[str, Any]:
        return {"id": zlib.crc32(name.encode()), "name": name, "color": "ededed", "url": f"{self._repo_url()}/labels/{name}"}

    def _search(self, q: str) -> list[dict[str, Any]]:
        phrases = re.findall(r'"([^"]*)"', q)
        repo = re.search(r"\brepo:(\S+)", q)
        if repo and repo.group(1) != self.repo:
            return []
        indexed = time.time() - self.search_lag
        found = [issue for number, issue in self.issues.items()
                 if self.created_at.get(number, 0.0) <= indexed and all(p in (issue.get("body") or "") for p in phrases)]
        return [dict(issue, score=1.0) for issue in sorted(found, key=lambda issue: -issue["number"])]

    def _list(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /repos/{repo}/issues``: ``state`` (open, closed, all), ``labels`` (all of them), ``sort=created``
        with ``direction``, first page of ``per_page`` (30). Not searched, so never behind."""
        state, labels = query.get("state", "open"), [name for name in query.get("labels", "").split(",") if name]
        with self.lock:
            found = [dict(issue) for issue in self.issues.values()
                     if state in ("all", issue["state"]) and all(name in [label["name"] for label in issue["labels"]] for name in labels)]
        found.sort(key=lambda issue: issue["number"], reverse=query.get("direction", "desc") == "desc")
        return found[: int(query.get("per_page", "30"))]

    # -- the server ----------------------------------------------------------------------------------------------------

    def refuse(self, request: Request) -> tuple[int, Any] | None:
        if request.headers.get("authorization", "") not in (f"token {self.token}", f"Bearer {self.token}"):
            return 401, {"message": "Bad credentials", "documentation_url": DOCS}
        return None

    def route(self, request: Request) -> tuple[int, Any]:  # one branch per endpoint
        repo = f"/repos/{self.repo}"
        path, method, data = request.path, request.method, request.json if isinstance(request.json, dict) else {}
        if method == "GET" and path == repo:
            owner, name = self.repo.split("/")
            return 200, {"id": 1, "name": name, "full_name": self.repo, "owner": {"login": owner}, "default_branch": "main",
                         "url": self._repo_url(), "html_url": f"{self.api_url}/{self.repo}", "private": True}
        if method == "GET" and path == "/search/issues":
            items = self._search(request.query.get("q", ""))
            return 200, {"total_count": len(items), "incomplete_results": False, "items": items}
        if method == "GET" and path == f"{repo}/issues":
            return 200, self._list(request.query)
        if method == "POST" and path == f"{repo}/issues":
            if not data.get("title"):
                return 422, {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing_field"}]}
            with self.lock:
                number = max(self.issues, default=0) + 1
                self.issues[number] = self._issue(number, data["title"], data.get("body") or "", list(data.get("labels") or []))
                self.created_at[number] = time.time()
                return 201, dict(self.issues[number])
        match = re.fullmatch(rf"{re.escape(repo)}/issues/(\d+)(/comments|/labels|/timeline)?", path)
        if match is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS}
        number, tail = int(match.group(1)), match.group(2)
        with self.lock:
            issue = self.issues.get(number)
            if issue is None:
                return 404, {"message": "Not Found", "documentation_url": DOCS}
            if tail is None and method == "GET":
                return 200, dict(issue)
            if tail is None and method == "PATCH":
                for key in ("title", "body", "state", "state_reason"):
                    if key in data:
                        issue[key] = data[key]
                if "labels" in data:
                    issue["labels"] = [self._label(str(name)) for name in data["labels"]]
                if data.get("state") == "open":
                    issue["state_reason"] = "reopened"
                return 200, dict(issue)
            if tail == "/comments" and method == "POST":
                self._next_comment += 1
                comment = {"id": self._next_comment, "body": data.get("body", ""), "user": {"login": "aimon-bot", "id": 1},
                           "url": f"{self._repo_url()}/issues/comments/{self._next_comment}",
                           "html_url": f"{issue['html_url']}#issuecomment-{self._next_comment}",
                           "created_at": "2030-01-01T00:00:00Z", "updated_at": "2030-01-01T00:00:00Z"}
                self.comments.setdefault(number, []).append(comment)
                issue["comments"] += 1
                return 201, comment
            if tail == "/comments" and method == "GET":
                return 200, list(self.comments.get(number, []))
            if tail == "/labels" and method == "POST":
                names = data.get("labels") if isinstance(request.json, dict) else request.json
                for name in names or []:
                    if all(label["name"] != name for label in issue["labels"]):
                        issue["labels"].append(self._label(str(name)))
                return 200, list(issue["labels"])
            if tail == "/timeline" and method == "GET":
                closed = [{"event": "closed", "commit_id": None}] if issue["state"] == "closed" else []
                return 200, closed
        return 404, {"message": "Not Found", "documentation_url": DOCS}
