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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aimon import __version__
from aimon.config import Settings
from aimon.errors import ConfigError

if TYPE_CHECKING:
    from github import Github

TIMEOUT = 15
WRITE_SPACING = 1.0
SECONDARY_WAIT = 60.0  # GitHub: after a secondary rate limit without retry-after, wait at least a minute
USER_AGENT = f"aimon/{__version__}"


def make_github(settings: Settings, *, timeout: float = TIMEOUT) -> Github:
    """A PyGithub client for ``settings.github_api_url`` with ``GITHUB_TOKEN``, throttled as the module describes."""
    if not settings.github_token:
        raise ConfigError("GITHUB_TOKEN is not set. Create a token with Issues (and Pull requests) read/write on the repository and put it in .env.")
    from github import Auth, Github
    from urllib3.util import Retry

    retry = Retry(total=2, connect=2, read=0, redirect=0, status=0, other=0, backoff_factor=0.5, backoff_max=2.0,
                  raise_on_status=False, respect_retry_after_header=False)
    return Github(
        base_url=settings.github_api_url,
        auth=Auth.Token(settings.github_token.reveal()),
        timeout=max(1, min(TIMEOUT, math.floor(timeout))),
        user_agent=USER_AGENT,
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=WRITE_SPACING,
        lazy=True,
    )


def repo_name(settings: Settings) -> str:
    """``AIMON_GITHUB_REPO`` checked to be ``owner/name``."""
    name = settings.github_repo.strip().strip("/")
    if name.count("/") != 1 or not all(name.split("/")):
        raise ConfigError(f"AIMON_GITHUB_REPO={settings.github_repo!r} is not owner/name (e.g. acme/shop).")
    return name


def web_url(settings: Settings) -> str:
    """The web address that goes with the API (``https://github.com``, or the Enterprise host)."""
    api = settings.github_api_url.rstrip("/")
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
    if status == 429 or (status == 403 and (_is_rate_limit(exc) or "retry-after" in headers)):
        return Trouble("rate-limited", detail, at + timedelta(seconds=_wait(headers, at)))
    if status == 401:
        return Trouble("gone", f"{detail}: GITHUB_TOKEN was refused. Create a new token and put it in .env.")
    if status in (403, 404, 410):
        return Trouble("gone", f"{detail}: the token cannot use the issues of AIMON_GITHUB_REPO (check the name and the token's access).")
    if status >= 500:
        return Trouble("transient", detail)
    return Trouble("rejected", detail)


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
