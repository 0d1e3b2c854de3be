"""The Discord webhook over HTTP: post and edit a message, with timeouts, 429 handling and a clear verdict.

Every call ends in one :class:`Reply` whose ``kind`` tells the stage what to do with the outbox row: ``ok`` (sent), ``later``
(the tick is out of time: not tried), ``rate-limited`` (Discord said wait longer than this tick can: keep it pending until then), ``transient`` (5xx, timeout,
connection: back off), ``gone`` (401/404: the webhook was deleted or its token is wrong), ``missing`` (an edited message
no longer exists) or ``rejected`` (another 4xx: count a failure). The webhook URL carries its token, so it appears in no
message this module produces.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import requests

from aimon import PROJECT_URL, __version__
from aimon.clock import Deadline
from aimon.errors import ConfigError
from aimon.remotes.egress import Egress

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
MAX_RETRY_WAIT = 20.0  # longest 429 wait taken inside one call, even with time to spare
MAX_429_RETRIES = 2
UNKNOWN_MESSAGE = 10008  # Discord's JSON error code for an edit of a deleted message
# The form Discord asks of every client: "DiscordBot ($url, $versionNumber)".
USER_AGENT = f"DiscordBot ({PROJECT_URL}, {__version__})"


@dataclass(frozen=True)
class Reply:
    """The verdict on one webhook call."""

    kind: str
    message_id: str | None = None
    retry_after: float | None = None
    status: int | None = None
    detail: str = ""


class Webhook:
    """One Discord webhook URL (from ``DISCORD_WEBHOOK_URL``), bound to the tick's deadline."""

    def __init__(self, url: str, deadline: Deadline, egress: Egress, session: requests.Session | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                "DISCORD_WEBHOOK_URL is not an http(s) URL. Copy it from Discord: channel settings → Integrations → "
                "Webhooks → Copy Webhook URL."
            )
        self._base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self._query = urllib.parse.parse_qsl(parts.query)  # e.g. thread_id: kept on every call
        self._deadline = deadline
        self._egress = egress
        self._session = session or requests.Session()

    @property
    def post_url(self) -> str:
        """Where a new message is posted (``wait=true``: Discord answers with the message and its id)."""
        return self._url(self._base, wait="true")

    def edit_url(self, message_id: str) -> str:
        """Where message ``message_id`` is edited."""
        return self._url(f"{self._base}/messages/{message_id}")

    def post(self, payload: dict[str, Any]) -> Reply:
        """Post a message."""
        return self._call("POST", self.post_url, payload)

    def edit(self, message_id: str, payload: dict[str, Any]) -> Reply:
        """Replace the content and embeds of a message this webhook posted."""
        return self._call("PATCH", self.edit_url(message_id), payload)

    def _url(self, base: str, **extra: str) -> str:
        query = urllib.parse.urlencode([*self._query, *extra.items()])
        return f"{base}?{query}" if query else base

    def _call(self, method: str, url: str, payload: dict[str, Any]) -> Reply:
        # Content, embeds and file names: every string leaves through the gate; allowed_mentions is structure, not text.
        payload = self._egress.obj(payload, keep=("allowed_mentions",))
        for attempt in range(MAX_429_RETRIES + 1):
            remaining = self._deadline.remaining()
            if remaining < 1.0:
                return Reply("later", detail="out of time in this tick")
            timeout = (min(CONNECT_TIMEOUT, remaining), min(READ_TIMEOUT, remaining))
            try:
                response = self._session.request(
                    method, url, json=payload, timeout=timeout, headers={"User-Agent": USER_AGENT}
                )
            except requests.Timeout:
                return Reply("transient", detail="timed out")
            except requests.ConnectionError:
                return Reply("transient", detail="could not connect")
            except requests.RequestException as exc:
                return Reply("transient", detail=type(exc).__name__)
            if response.status_code != 429:
                return _verdict(response)
            wait = _retry_after(response)
            # Wait here only when it is short and the tick has the time; otherwise the row waits for a later tick.
            if attempt == MAX_429_RETRIES or wait > MAX_RETRY_WAIT or wait + 2.0 > self._deadline.remaining():
                return Reply("rate-limited", retry_after=wait, status=429, detail=f"rate limited for {wait:.1f}s")
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def _verdict(response: requests.Response) -> Reply:
    status = response.status_code
    body = _json(response)
    if 200 <= status < 300:
        message_id = str(body.get("id")) if isinstance(body, dict) and body.get("id") is not None else None
        return Reply("ok", message_id=message_id, status=status)
    detail = f"HTTP {status}"
    if isinstance(body, dict) and body.get("message"):
        detail += f" {str(body['message'])[:200]}"
    if status == 404 and isinstance(body, dict) and body.get("code") == UNKNOWN_MESSAGE:
        return Reply("missing", status=status, detail=detail)
    if status in (401, 404):
        return Reply("gone", status=status, detail=detail)
    if status >= 500:
        return Reply("transient", status=status, detail=detail)
    return Reply("rejected", status=status, detail=detail)


def _retry_after(response: requests.Response) -> float:
    """Seconds to wait after a 429: the JSON ``retry_after`` (float), else the ``Retry-After`` header, else 1."""
    body = _json(response)
    for value in (body.get("retry_after") if isinstance(body, dict) else None, response.headers.get("Retry-After")):
        try:
            if value is not None:
                return max(0.0, float(value))
        except (TypeError, ValueError):
            continue
    return 1.0


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
