"""The PyGithub client aimon uses (issues here, pull requests in autofix), configured for a cron tick.

PyGithub's defaults sleep: 0.25 s before every request, 1 s before every write, and its ``GithubRetry`` waits out a
rate-limit reset (up to an hour). In a tick with a 50 s budget none of that may happen behind our back, so:

* ``seconds_between_requests=None`` — reads are not spaced; each stage bounds how many it makes per tick instead.
* ``seconds_between_writes=WRITE_SPACING`` (1 s) — GitHub asks integrators to leave a second between requests that
  create content, to stay clear of the secondary rate limit; a stage makes at most a handful of writes per tick, so
  this costs a few seconds at most, and the stage checks its deadline before each write.
* ``retry`` retries only a failed *connection* (twice, 0.5 s / 1 s apart): the request never reached GitHub, so even a
  POST is safe to repeat. Status codes are never retried here — a 403/429 rate limit or a 5xx goes back to the stage,
  which leaves the work pending (with the reset time when GitHub gives one) for a later tick.
* ``timeout`` (int, PyGithub insists) is at most :data:`TIMEOUT` seconds and shrinks with the time the tick has left.
* ``lazy=True`` — ``get_repo``/``get_issue`` make no request until an attribute is needed, which saves a call per
  operation (creating an issue is one POST, not GET repo + POST).

Every failed call becomes one of aimon's errors in one place, :func:`mapped_errors`: :class:`GitHubGone` (a
:class:`~aimon.errors.RemoteGone`: the token or the repository is wrong) or :class:`GitHubError` (a
:class:`~aimon.errors.RemoteError`: retry on a later tick), each carrying the :class:`Trouble` that says what the work
should do. :class:`IssueTracker` is the issue side the open-issue stage talks to.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aimon import __version__
from aimon.config import Settings
from aimon.errors import ConfigError, RemoteError, RemoteGone
from aimon.remotes.egress import Egress
from aimon.state.db import utcnow

if TYPE_CHECKING:
    from github import Github

TIMEOUT = 15
WRITE_SPACING = 1.0
SECONDARY_WAIT = 60.0  # GitHub: after a secondary rate limit without retry-after, wait at least a minute
USER_AGENT = f"aimon/{__version__}"
API_VERSION = "2022-11-28"  # the REST API version aimon is written against (sent as X-GitHub-Api-Version)
MEDIA_TYPE = "application/vnd.github+json"


def label_names(data: dict[str, Any]) -> list[str]:
    """The label names of an issue's JSON; a label may come back as an object or as a plain string."""
    names = []
    for label in data.get("labels") or []:
        name = label.get("name") if isinstance(label, dict) else label
        if isinstance(name, str) and name:
            names.append(name)
    return names


def make_github(settings: Settings, *, timeout: float = TIMEOUT) -> Github:
    """A PyGithub client for ``settings.github.api_url`` with ``GITHUB_TOKEN``, throttled as the module describes."""
    if not settings.github.token:
        raise ConfigError("GITHUB_TOKEN is not set. Create a token with Issues (and Pull requests) read/write on the repository and put it in .env.")
    from github import Auth, Github
    from urllib3.util import Retry

    class _Token(Auth.Token):
        # PyGithub sends no Accept header of its own: GitHub asks every client for its media type.
        def authentication(self, headers: dict[str, str]) -> None:
            super().authentication(headers)
            headers.setdefault("Accept", MEDIA_TYPE)

    retry = Retry(total=2, connect=2, read=0, redirect=0, status=0, other=0, backoff_factor=0.5, backoff_max=2.0,
                  raise_on_status=False, respect_retry_after_header=False)
    return Github(
        base_url=settings.github.api_url,
        auth=_Token(settings.github.token.reveal()),
        api_version=API_VERSION,
        timeout=max(1, min(TIMEOUT, math.floor(timeout))),
        user_agent=USER_AGENT,
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=WRITE_SPACING,
        lazy=True,
    )


def repo_name(settings: Settings) -> str:
    """``AIMON_GITHUB_REPO`` checked to be ``owner/name``."""
    name = settings.github.repo.strip().strip("/")
    if name.count("/") != 1 or not all(name.split("/")):
        raise ConfigError(f"AIMON_GITHUB_REPO={settings.github.repo!r} is not owner/name (e.g. acme/shop).")
    return name


def web_url(settings: Settings) -> str:
    """The web address that goes with the API (``https://github.com``, or the Enterprise host)."""
    api = settings.github.api_url.rstrip("/")
    if api in ("https://api.github.com", "http://api.github.com"):
        return "https://github.com"
    return api.removesuffix("/api/v3")


@dataclass(frozen=True)
class Trouble:
    """What a failed GitHub call means for the work: ``rate-limited`` / ``transient`` (later), ``gone`` (stop: the
    token or repository is wrong), ``rejected`` (this item failed; count it)."""

    kind: str
    detail: str
    retry_at: datetime | None = None
    status: int | None = None  # the HTTP status, when GitHub answered


class GitHubError(RemoteError):
    """A GitHub call failed in a way a later tick may get past: rate limited, failing, or this request refused."""

    def __init__(self, message: str, trouble: Trouble) -> None:
        super().__init__(message)
        self.trouble = trouble


class GitHubGone(RemoteGone):
    """GitHub refused the token, or the repository (or the object asked for) is not there for it."""

    def __init__(self, message: str, trouble: Trouble) -> None:
        super().__init__(message)
        self.trouble = trouble


def classify(exc: Exception, at: datetime) -> Trouble:
    """Turn a PyGithub or requests exception into a :class:`Trouble`."""
    import requests
    from github import GithubException

    if isinstance(exc, requests.RequestException):
        return Trouble("transient", f"GitHub unreachable ({type(exc).__name__})")
    if not isinstance(exc, GithubException):
        raise exc
    status = exc.status
    headers = {key.lower(): value for key, value in (exc.headers or {}).items()}
    message = _message(exc)
    detail = f"GitHub {status}: {message}" if message else f"GitHub {status}"
    # A spent quota says so in its headers whatever the message: a rate limit to wait out, not a refused token.
    spent = headers.get("x-ratelimit-remaining") == "0"
    if status == 429 or (status == 403 and (_is_rate_limit(exc) or "retry-after" in headers or spent)):
        return Trouble("rate-limited", detail, at + timedelta(seconds=_wait(headers, at)), status)
    if status == 401:
        return Trouble("gone", f"{detail}: GITHUB_TOKEN was refused. Create a new token and put it in .env.", None, status)
    if status in (403, 404, 410):
        return Trouble("gone", f"{detail}: the token cannot use the issues of AIMON_GITHUB_REPO (check the name and the token's access).", None, status)
    if status >= 500:
        return Trouble("transient", detail, None, status)
    return Trouble("rejected", detail, None, status)


@contextmanager
def mapped_errors(doing: str, at: datetime | None = None) -> Iterator[None]:
    """Run GitHub calls; PyGithub's and requests' exceptions leave as :class:`GitHubGone` ("``doing``: why"; retrying
    will not help) or :class:`GitHubError` ("``doing``: why; retrying next tick"). A rate limit's end is reckoned
    from ``at`` (default: now)."""
    from github import GithubException
    from requests import RequestException

    try:
        yield
    except (GithubException, RequestException) as exc:
        trouble = classify(exc, at or utcnow())
        if trouble.kind == "gone":
            raise GitHubGone(f"{doing}: {trouble.detail}", trouble) from None
        raise GitHubError(f"{doing}: {trouble.detail}; retrying next tick", trouble) from None


def _is_rate_limit(exc: Any) -> bool:
    from github import RateLimitExceededException

    return isinstance(exc, RateLimitExceededException) or "rate limit" in (_message(exc) or "").lower()


def _message(exc: Any) -> str:
    data = exc.data
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:300]
    return ""


def _wait(headers: dict[str, str], at: datetime) -> float:
    """Seconds until GitHub accepts requests again: ``retry-after``, else the primary reset, else a minute."""
    try:
        if "retry-after" in headers:
            return max(1.0, float(headers["retry-after"]))
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            return max(1.0, float(headers["x-ratelimit-reset"]) - at.timestamp())
    except ValueError:
        pass
    return SECONDARY_WAIT


class IssueTracker:
    """The issues of one repository, as the open-issue stage uses them: each method is one request (the search and
    the issue list return their first page), and fails with :class:`GitHubError` or :class:`GitHubGone` only.

    Issues come back as plain dicts of GitHub's fields. ``at`` is the tick's time, which rate-limit ends are reckoned
    from; ``timeout`` bounds each request (at most :data:`TIMEOUT`).
    """

    def __init__(self, settings: Settings, repo: str, at: datetime, *, timeout: float) -> None:
        self._gh = make_github(settings, timeout=min(TIMEOUT, timeout))
        self._egress = Egress.of(settings)
        self._repo = self._gh.get_repo(repo)  # lazy: no request
        self._at = at
        # number → the issue object the last call used: the calls that follow go to the URL it holds.
        self._issues: dict[int, Any] = {}

    def _issue(self, number: int) -> Any:
        if number not in self._issues:
            self._issues[number] = self._repo.get_issue(number)  # lazy: no request
        return self._issues[number]

    def search(self, query: str, containing: str) -> list[dict[str, Any]]:
        """The issues on the first page of a search whose body holds ``containing`` (a search matches loosely), pull
        requests left out: ``number``, ``html_url``, ``state`` and ``labels`` of each."""
        with mapped_errors("searching the issues", self._at):
            return _holding(self._gh.search_issues(query).get_page(0), containing)

    def newest(self, label: str, containing: str) -> list[dict[str, Any]]:
        """:meth:`search` over the newest issues (open or closed) labelled ``label``: the issue list does not lag
        behind as the search index does."""
        with mapped_errors("listing the newest issues", self._at):
            return _holding(self._repo.get_issues(state="all", labels=[label], sort="created", direction="desc").get_page(0), containing)

    def create(self, title: str, body: str, labels: list[str]) -> tuple[int, str]:
        """Open an issue; ``(number, html_url)``."""
        with mapped_errors("creating the issue", self._at):
            created = self._repo.create_issue(title=self._egress.text(title), body=self._egress.text(body), labels=labels)
            return created.number, created.html_url

    def read(self, number: int) -> dict[str, Any]:
        """Issue ``number`` as GitHub has it now (its raw JSON)."""
        with mapped_errors(f"reading issue #{number}", self._at):
            self._issues[number] = issue = self._repo.get_issue(number)
            data: dict[str, Any] = issue.raw_data  # reading raw_data fetches the issue
            return data

    def reopen(self, number: int) -> None:
        """Reopen issue ``number``."""
        with mapped_errors(f"reopening issue #{number}", self._at):
            self._issue(number).edit(state="open")

    def comment(self, number: int, body: str) -> tuple[int, str]:
        """Comment on issue ``number``; ``(comment id, html_url)``."""
        with mapped_errors(f"commenting on #{number}", self._at):
            comment = self._issue(number).create_comment(self._egress.text(body))
            return comment.id, comment.html_url

    def timeline(self, number: int) -> list[dict[str, Any]]:
        """The first page of issue ``number``'s timeline, each event as raw JSON."""
        with mapped_errors(f"reading the timeline of #{number}", self._at):
            return [event.raw_data for event in self._issue(number).get_timeline().get_page(0)]


def _holding(page: Any, text: str) -> list[dict[str, Any]]:
    # Attributes, not raw_data: raw_data would fetch every result again.
    return [
        {"number": item.number, "html_url": item.html_url, "state": item.state, "labels": [{"name": label.name} for label in item.labels]}
        for item in page
        if text in (item.body or "") and "/pull/" not in (item.html_url or "")
    ]


PULL_LABELS = ("aimon", "ai-generated")


@dataclass(frozen=True)
class PullState:
    """A PR's state as GitHub reports it."""

    state: str  # open | merged | closed
    merged_at: datetime | None


class PullRequests:
    """The pull-request calls autofix makes; PyGithub's errors leave as aimon's (:func:`mapped_errors`), titles,
    bodies and comments through the egress gate."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._egress = Egress.of(settings)
        self._name = repo_name(settings)
        self._repo: Any = None

    @property
    def repo(self) -> Any:
        if self._repo is None:
            # Built on first use: a pass with nothing to send never imports PyGithub. Lazy objects: no GET /repos/...
            # before each write; the first real call tells us if the repository exists.
            self._repo = make_github(self._settings).withLazy(True).get_repo(self._name)
        return self._repo

    @property
    def owner(self) -> str:
        return str(self._name.split("/", 1)[0])

    def open_draft(self, *, base: str, head: str, title: str, body: str) -> tuple[int, str]:
        """Create a draft PR; ``(number, html_url)``."""
        with mapped_errors("opening the pull request"):
            pull = self.repo.create_pull(
                base=base, head=head, title=self._egress.text(title), body=self._egress.text(body), draft=True
            )
            return int(pull.number), str(pull.html_url)

    def add_labels(self, number: int) -> None:
        """Label a PR ``aimon`` and ``ai-generated`` (through its issue, one request)."""
        with mapped_errors("labelling the pull request"):
            self.repo.get_issue(number).add_to_labels(*PULL_LABELS)

    def find_open(self, branch: str) -> tuple[int, str] | None:
        """The open PR whose head is ``branch`` of this repository, if any (recovers one we opened but never recorded)."""
        with mapped_errors("looking for an existing pull request"):
            for pull in self.repo.get_pulls(state="open", head=f"{self.owner}:{branch}"):
                return int(pull.number), str(pull.html_url)
        return None

    def state(self, number: int) -> PullState:
        """Whether PR ``number`` is open, merged or closed."""
        with mapped_errors(f"reading pull request #{number}"):
            pull = self.repo.get_pull(number)  # lazy: the attribute reads below make the one GET
            merged = bool(pull.merged)
            state = "merged" if merged else ("open" if pull.state == "open" else "closed")
            return PullState(state, pull.merged_at if merged else None)

    def comment(self, number: int, body: str) -> None:
        """Comment on pull request ``number`` (GitHub takes PR comments on the issues endpoint)."""
        with mapped_errors(f"commenting on #{number}"):
            self.repo.get_issue(number).create_comment(self._egress.text(body))
